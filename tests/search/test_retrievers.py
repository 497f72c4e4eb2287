"""One contract for every retriever (BM25, dense, hybrid): the shape of what `search(query, k)` returns,
filters, determinism; plus what sets each leg apart."""
from __future__ import annotations

import shutil

import pytest

from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from retrieval.search.retrievers import Retriever
from tests.seeds import CORPUS, SEED_001, SEED_004

QUESTIONS = ("吴淞今年拆违任务多少平方米", "爱心暑托班", "泛半导体产业基金投资了多少项目", "夜跑环道")


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> SearchEngine:
    root = tmp_path_factory.mktemp("retrievers")
    shutil.copytree(CORPUS, root / "corpus")
    return SearchEngine.open(root / "corpus", root / "index", encoder=HashingEncoder(256))


@pytest.fixture(params=["bm25", "dense", "hybrid"])
def retriever(request, engine) -> Retriever:     # every leg is driven through the protocol's search()
    return engine.retrievers()[request.param]


@pytest.mark.parametrize("question", QUESTIONS)
def test_results_are_ranked_unique_known_and_at_most_k(retriever, engine, question):
    hits = retriever.search(question, 5)
    assert 1 <= len(hits) <= 5
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert len({h.chunk_id for h in hits}) == len(hits)
    assert all(h.chunk_id in engine.chunks for h in hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert retriever.search(question, 5) == hits, "the same question gives the same hits"


def test_where_keeps_only_the_allowed_passages(retriever, engine):
    in_004 = lambda chunk_id: engine.chunks[chunk_id].doc_id == SEED_004   # noqa: E731
    hits = retriever.search("拆违任务多少平方米", 8, where=in_004)
    assert hits and all(engine.chunks[h.chunk_id].doc_id == SEED_004 for h in hits)
    unfiltered = retriever.search("拆违任务多少平方米", 8)
    assert any(engine.chunks[h.chunk_id].doc_id != SEED_004 for h in unfiltered), "the filter had work to do"


def test_bm25_finds_a_passage_by_its_own_words(engine):
    target = next(c for c in engine.chunks.values() if "吴淞面塑" in c.text and c.doc_id == SEED_001)
    top = engine.retrievers()["bm25"].search("吴淞面塑非遗传承普及", 1)[0]
    assert top.chunk_id == target.chunk_id
    assert top.leg_ranks == (("bm25", 1),)


def test_hybrid_ranks_record_both_legs(engine):
    retrievers = engine.retrievers()
    question = "爱心暑托班"
    bm25 = {h.chunk_id: h.rank for h in retrievers["bm25"].search(question, 50)}
    dense = {h.chunk_id: h.rank for h in retrievers["dense"].search(question, 50)}
    for hit in retrievers["hybrid"].search(question, 10):
        assert hit.leg_rank("bm25") == bm25.get(hit.chunk_id)
        assert hit.leg_rank("dense") == dense.get(hit.chunk_id)
        # RRF k = 60: the fused score is the sum of 1 / (60 + rank) over the legs that found it.
        expected = sum(1 / (60 + rank) for rank in (bm25.get(hit.chunk_id), dense.get(hit.chunk_id)) if rank)
        assert hit.score == pytest.approx(expected, abs=1e-6)


def test_hybrid_fusion_modes_are_named_and_checked(engine):
    from retrieval.search.retrievers import HybridRetriever

    legs = [engine.retrievers()["bm25"], engine.retrievers()["dense"]]
    with pytest.raises(ValueError, match="rrf"):
        HybridRetriever(legs, mode="sum")
    bm25_only = HybridRetriever(legs, weights={"bm25": 1.0, "dense": 0.0}, mode="minmax")
    expected = [h.chunk_id for h in legs[0].search("爱心暑托班", 5)]
    fused = [h.chunk_id for h in bm25_only.search("爱心暑托班", 5)]
    # BM25's own order comes first (a single BM25 hit normalises to 1, not 0); dense-only passages trail at 0.
    assert fused[:len(expected)] == expected
