"""One contract for every index backend: add / delete / bm25 / dense / fetch / count / flush.

A second backend (a remote vector database) joins by adding its factory to BACKENDS; every test below
then runs against it too. BM25 scores are checked against rank_bm25 over the live passages' tokens.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval.chunking import ChunkingConfig
from retrieval.corpus import load_document
from retrieval.encoders import HashingEncoder
from retrieval.index.backend import IndexBackend, LocalSegmentBackend
from retrieval.ingest.passages import prepare_passages
from retrieval.tokenizer import JiebaTokenizer
from tests.seeds import CORPUS, SEED_001, SEED_002, SEED_004

ENCODER = HashingEncoder(256)
TOKENIZER = JiebaTokenizer(["拆违", "一网统管"])


def _local(directory: Path) -> IndexBackend:
    return LocalSegmentBackend(directory, TOKENIZER.terms)


def _reopen_local(directory: Path) -> IndexBackend:
    return LocalSegmentBackend.open(directory)


BACKENDS = {"local": (_local, _reopen_local)}


@pytest.fixture(scope="module")
def prepared():
    """Each document with its passages and their vectors (each passage's own, then its units')."""
    out = {}
    for name in (SEED_001, SEED_002, SEED_004):
        document = load_document(CORPUS / name)
        passages = prepare_passages(document, ChunkingConfig(), TOKENIZER)
        vectors = ENCODER.encode_documents([text for p in passages for text in p.vector_inputs])
        out[name] = (document, passages, vectors)
    return out


@pytest.fixture(params=sorted(BACKENDS))
def backend_pair(request, tmp_path):
    make, reopen = BACKENDS[request.param]
    return make(tmp_path / "index"), lambda: reopen(tmp_path / "index")


def _add(backend, prepared, name, with_vectors=True):
    document, passages, vectors = prepared[name]
    backend.add(document, passages, vectors if with_vectors else None)


def test_add_counts_and_fetches_every_passage(backend_pair, prepared):
    backend, _ = backend_pair
    assert isinstance(backend, IndexBackend)
    _add(backend, prepared, SEED_001)
    _add(backend, prepared, SEED_002)
    passages = prepared[SEED_001][1] + prepared[SEED_002][1]
    assert backend.count() == len({p.chunk.chunk_id for p in passages})
    wanted = [passages[5].chunk.chunk_id, passages[0].chunk.chunk_id, "no-such-chunk"]
    assert [c.chunk_id for c in backend.fetch(wanted)] == wanted[:2]
    assert backend.fetch(wanted[:1])[0].text == passages[5].chunk.text


def test_bm25_scores_equal_rank_bm25_over_the_live_passages(backend_pair, prepared):
    backend, _ = backend_pair
    for name in (SEED_001, SEED_002, SEED_004):
        _add(backend, prepared, name)
    backend.delete(SEED_002)
    live = prepared[SEED_001][1] + prepared[SEED_004][1]
    reference = BM25Okapi([p.tokens for p in live])
    for question in ("拆违任务多少平方米", "老旧小区电梯", "产业基金投资项目"):
        tokens = TOKENIZER(question)
        expected = reference.get_scores(tokens)
        got = dict(backend.bm25(tokens, 10))
        assert got, "the question has words in the corpus"
        best = np.argsort(-expected, kind="stable")[:10]
        assert set(got) == {live[i].chunk.chunk_id for i in best if expected[i] > 0}
        for i in best:
            if expected[i] > 0:
                assert got[live[i].chunk.chunk_id] == pytest.approx(expected[i], rel=1e-5)


def test_a_passage_is_its_own_nearest_dense_neighbour(backend_pair, prepared):
    backend, _ = backend_pair
    _add(backend, prepared, SEED_001)
    _add(backend, prepared, SEED_004)
    target = prepared[SEED_004][1][3]
    top_id, top_score = backend.dense(ENCODER.encode_queries([target.chunk.text])[0], 5)[0]
    assert top_id == target.chunk.chunk_id and top_score > 0.5


def test_a_deleted_document_is_never_returned(backend_pair, prepared):
    backend, _ = backend_pair
    _add(backend, prepared, SEED_001)
    _add(backend, prepared, SEED_004)
    gone = {p.chunk.chunk_id for p in prepared[SEED_001][1]}
    backend.delete(SEED_001)
    assert backend.count() == len({p.chunk.chunk_id for p in prepared[SEED_004][1]})
    question = prepared[SEED_001][1][2].chunk.text
    assert not gone & {c for c, _ in backend.bm25(TOKENIZER(question), 50)}
    assert not gone & {c for c, _ in backend.dense(ENCODER.encode_queries([question])[0], 50)}
    assert backend.fetch(sorted(gone)) == []
    with pytest.raises(KeyError, match=SEED_001):
        backend.delete(SEED_001)


def test_adding_a_document_again_replaces_its_passages(backend_pair, prepared):
    backend, _ = backend_pair
    _add(backend, prepared, SEED_001)
    _add(backend, prepared, SEED_002)
    before = backend.count()
    _add(backend, prepared, SEED_001)
    assert backend.count() == before
    question = TOKENIZER(prepared[SEED_001][1][1].chunk.text)
    hits = [c for c, _ in backend.bm25(question, 50)]
    assert len(hits) == len(set(hits)), "no passage is found twice"


def test_a_document_added_without_vectors_is_found_by_bm25_only(backend_pair, prepared):
    backend, _ = backend_pair
    _add(backend, prepared, SEED_001)
    _add(backend, prepared, SEED_004, with_vectors=False)
    passage = prepared[SEED_004][1][3]
    assert passage.chunk.chunk_id in {c for c, _ in backend.bm25(passage.tokens, 3)}
    dense = {c for c, _ in backend.dense(ENCODER.encode_queries([passage.chunk.text])[0], 50)}
    assert dense and not dense & {p.chunk.chunk_id for p in prepared[SEED_004][1]}


def test_flush_makes_changes_durable(backend_pair, prepared):
    backend, reopen = backend_pair
    for name in (SEED_001, SEED_002, SEED_004):
        _add(backend, prepared, name)
    backend.delete(SEED_002)
    backend.flush()
    again = reopen()
    assert again.count() == backend.count()
    tokens = TOKENIZER("拆违任务多少平方米")
    assert again.bm25(tokens, 10) == backend.bm25(tokens, 10)
    vector = ENCODER.encode_queries(["老旧小区加装电梯"])[0]
    assert again.dense(vector, 10) == backend.dense(vector, 10)
