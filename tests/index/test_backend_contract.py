"""One contract for every index backend: add / delete / bm25 / dense / fetch / count / flush and the reads
the pipeline needs (documents, chunks, term_idf, unit_vectors), run on the local segments and on milvus-lite;
and the writers production uses (retrieval.index.writer: build, add, replace, remove, record an unreadable file,
finish, compact), driven through the same factory as the engine on both backends and read through that contract.

A backend joins by adding its factory to BACKENDS; every test below then runs against it too. The local
BM25 scores are checked against rank_bm25 over the live passages' tokens; Milvus scores with its own
analyser and idf, so for it the test checks the ranking against the same reference instead.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval.ingest.chunking import ChunkingConfig
from retrieval.corpus.files import load_document
from retrieval.encode.encoders import HashingEncoder
from retrieval.index.backend import IndexBackend, LocalSegmentBackend
from retrieval.index.writer import index_writer
from retrieval.ingest.passages import prepare_passages
from retrieval.text.tokenizer import JiebaTokenizer
from tests.seeds import CORPUS, SEED_001, SEED_002, SEED_004

ENCODER = HashingEncoder(256)
TOKENIZER = JiebaTokenizer(["拆违", "一网统管"])


def _local(directory: Path) -> IndexBackend:
    return LocalSegmentBackend(directory, TOKENIZER.terms)


def _reopen_local(directory: Path) -> IndexBackend:
    return LocalSegmentBackend.open(directory)


def _milvus(directory: Path) -> IndexBackend:
    from retrieval.index.milvus import MilvusBackend

    return MilvusBackend.create(str(directory) + ".milvus.db", "contract", ENCODER.dim, TOKENIZER.terms)


def _reopen_milvus(directory: Path) -> IndexBackend:
    from retrieval.index.milvus import MilvusBackend

    return MilvusBackend.open(str(directory) + ".milvus.db", "contract")


def _milvus_own_scores(directory: Path) -> IndexBackend:
    backend = _milvus(directory)
    backend.rescore = False                  # Milvus's own BM25 scores (Lucene idf, its jieba analysis)
    return backend


def _reopen_milvus_own_scores(directory: Path) -> IndexBackend:
    backend = _reopen_milvus(directory)
    backend.rescore = False
    return backend


BACKENDS = {"local": (_local, _reopen_local), "milvus-lite": (_milvus, _reopen_milvus),
            "milvus-lite-own-bm25": (_milvus_own_scores, _reopen_milvus_own_scores)}


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
    opened = [make(tmp_path / "index")]

    def again():
        opened.append(reopen(tmp_path / "index"))
        return opened[-1]
    yield opened[0], again
    for backend in opened:                       # milvus-lite's in-process server stops with its database
        if hasattr(backend, "close"):
            backend.close()


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


def test_bm25_ranks_the_live_passages_as_rank_bm25(backend_pair, prepared):
    backend, _ = backend_pair
    for name in (SEED_001, SEED_002, SEED_004):
        _add(backend, prepared, name)
    backend.delete(SEED_002)
    live = prepared[SEED_001][1] + prepared[SEED_004][1]
    reference = BM25Okapi([p.tokens for p in live])
    for question in ("拆违任务多少平方米", "老旧小区电梯", "产业基金投资项目"):
        tokens = TOKENIZER(question)
        expected = reference.get_scores(tokens)
        best = [i for i in np.argsort(-expected, kind="stable")[:10] if expected[i] > 0]
        if isinstance(backend, LocalSegmentBackend) or getattr(backend, "rescore", False):
            got = backend.bm25(tokens, 10)
            assert {c for c, _ in got} == {live[i].chunk.chunk_id for i in best}
            scores = dict(got)
            for i in best:                   # rank_bm25's very scores (Milvus: its candidates re-scored)
                assert scores[live[i].chunk.chunk_id] == pytest.approx(expected[i], rel=1e-5)
        else:
            # Milvus analyses the text itself and uses Lucene's idf, log(1 + (N - df + 0.5) / (df + 0.5)):
            # every passage sharing a word with the question, and the reference's best three among its best
            # five (its tenth place may differ: another idf, another analysis).
            got = backend.bm25(tokens, len(live))
            matching = {live[i].chunk.chunk_id for i in range(len(live)) if expected[i] > 0}
            assert {c for c, _ in got} == matching
            top_five = [c for c, _ in got[:5]]
            assert all(live[i].chunk.chunk_id in top_five for i in best[:3])


def test_term_idf_is_rank_bm25s_idf_over_the_live_passages(backend_pair, prepared):
    backend, _ = backend_pair
    for name in (SEED_001, SEED_002, SEED_004):
        _add(backend, prepared, name)
    backend.delete(SEED_002)
    reference = BM25Okapi([p.tokens for p in prepared[SEED_001][1] + prepared[SEED_004][1]])
    for term in ("拆违", "电梯", "基金"):
        assert backend.term_idf(term) == pytest.approx(reference.idf[term], rel=1e-5)
    only_deleted = next(t for p in prepared[SEED_002][1] for t in p.tokens if t not in reference.idf)
    assert backend.term_idf(only_deleted) == 0.0


def test_documents_chunks_and_unit_vectors_are_those_added(backend_pair, prepared):
    backend, _ = backend_pair
    _add(backend, prepared, SEED_001)
    _add(backend, prepared, SEED_004, with_vectors=False)
    document, passages, vectors = prepared[SEED_001]
    assert backend.documents()[SEED_001].meta == document.meta
    assert backend.documents()[SEED_001].text == document.text
    assert set(backend.chunks()) == {p.chunk.chunk_id for p in passages + prepared[SEED_004][1]}
    passage = next(p for p in passages if len(p.units) >= 2)
    row = sum(1 + len(p.units) for p in passages[:passages.index(passage)])
    units = backend.unit_vectors([passage.chunk.chunk_id, prepared[SEED_004][1][0].chunk.chunk_id])
    assert set(units) == {(passage.chunk.chunk_id, start) for start, _ in passage.units}
    start = passage.units[1][0]
    # Within storage precision: the local segments store float16 (a relative 2^-11 per component), Milvus float32.
    assert np.allclose(units[(passage.chunk.chunk_id, start)], vectors[row + 2], rtol=2 ** -10, atol=1e-6)


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
    before, after = backend.dense(vector, 10), again.dense(vector, 10)
    assert [c for c, _ in after] == [c for c, _ in before]
    assert [s for _, s in after] == pytest.approx([s for _, s in before], abs=1e-6)   # float32 sums may differ in order


def test_figure_records_are_stored_with_their_passages_and_read_back_after_reopening(backend_pair, prepared):
    backend, reopen = backend_pair
    _add(backend, prepared, SEED_001)
    _add(backend, prepared, SEED_004)
    passages = prepared[SEED_001][1]
    with_figures = [p for p in passages if p.figures]
    assert with_figures, "the 吴淞 plan states figures (3万平方米 …)"
    ids = [p.chunk.chunk_id for p in passages]
    expected = {p.chunk.chunk_id: tuple(p.figures) for p in passages}
    assert backend.figures(ids + ["no-such-chunk"]) == expected
    backend.delete(SEED_004)
    backend.flush()
    again = reopen()
    assert again.figures(ids) == expected
    assert again.figures([prepared[SEED_004][1][0].chunk.chunk_id]) == {}, "a deleted passage has no records"
    record = with_figures[0].figures[0]
    chunk = again.fetch([record.chunk_id])[0]
    assert chunk.text[record.char_span[0]:record.char_span[1]] == record.value


# ---------------------------------------------------------------------------------------------------- the writers
# The writes production makes go through an IndexWriter (retrieval.index.writer), never through backend.add:
# each backend's writer, taken from the same factory the engine uses, is driven through one sequence of changes
# and its snapshots are read through the backend contract.
WRITER_BACKENDS = ("local", "milvus")
WRITER_ENCODER = HashingEncoder(256)
QUESTION = "拆违任务多少平方米"


def _corpus(tmp_path: Path, *names: str) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in names:
        shutil.copy(CORPUS / name, corpus / name)
    return corpus


@pytest.fixture(params=WRITER_BACKENDS)
def writer_setup(request, tmp_path):
    """(writer of the backend, corpus directory with two seeds, index directory); Milvus is milvus-lite here."""
    writer = index_writer(request.param, str(tmp_path / "index.milvus.db"), "writer_contract")
    assert writer.name == request.param
    states = []
    yield writer, _corpus(tmp_path, SEED_001, SEED_002), tmp_path / "index", states
    remotes = {id(s.remote): s.remote for s in states if s.remote is not None}
    for remote in remotes.values():
        remote.close()


def _passages_of(state, doc_id: str) -> set[str]:
    return {chunk_id for chunk_id, chunk in state.chunks.items() if chunk.doc_id == doc_id}


def test_a_full_build_holds_every_passage_of_every_readable_document(writer_setup):
    writer, corpus, index, states = writer_setup
    state = writer.full_build(corpus, index, WRITER_ENCODER, ChunkingConfig())
    states.append(state)
    expected = {name: prepare_passages(load_document(corpus / name), ChunkingConfig(), state.tokenizer)
                for name in (SEED_001, SEED_002)}
    assert set(state.documents) == {SEED_001, SEED_002}
    assert set(state.chunks) == {p.chunk.chunk_id for passages in expected.values() for p in passages}
    assert state.backend.count() == len(state.chunks)
    assert set(state.manifest["corpus"]) == {SEED_001, SEED_002}
    top = state.backend.bm25(state.tokenizer(QUESTION), 3)
    assert top and state.chunks[top[0][0]].doc_id == SEED_001          # 吴淞's plan holds the 拆违 figure
    target = expected[SEED_002][3].chunk
    nearest, _ = state.backend.dense(WRITER_ENCODER.encode_queries([target.text])[0], 1)[0]
    assert nearest == target.chunk_id


def test_adding_replacing_and_removing_a_document_change_only_its_passages(writer_setup):
    # Counts are taken before each change: on Milvus every snapshot reads the same (changed) collections.
    writer, corpus, index, states = writer_setup
    built = writer.full_build(corpus, index, WRITER_ENCODER, ChunkingConfig())
    states.append(built)
    seeds_count, first = built.backend.count(), _passages_of(built, SEED_001)
    shutil.copy(CORPUS / SEED_004, corpus / SEED_004)
    added = writer.add_document(built, corpus, index, corpus / SEED_004, WRITER_ENCODER, ChunkingConfig())
    states.append(added)
    assert set(added.documents) == {SEED_001, SEED_002, SEED_004}
    assert _passages_of(added, SEED_001) == first
    new = _passages_of(added, SEED_004)
    assert new and added.backend.count() == seeds_count + len(new)
    assert added.manifest["corpus"][SEED_004] == added.documents[SEED_004].meta.sha256

    (corpus / SEED_004).write_text("某开发区2021年工作思路\n一、重点工作\n全年新建标准厂房12万平方米。\n", encoding="utf-8")
    replaced = writer.add_document(added, corpus, index, corpus / SEED_004, WRITER_ENCODER, ChunkingConfig())
    states.append(replaced)
    newer = _passages_of(replaced, SEED_004)
    assert newer and not newer & new
    assert replaced.backend.count() == seeds_count + len(newer)
    assert any("12万平方米" in replaced.chunks[c].text for c in newer)

    removed = writer.remove_documents(replaced, corpus, index, [SEED_001])
    states.append(removed)
    assert set(removed.documents) == {SEED_002, SEED_004}
    assert removed.backend.count() == seeds_count - len(first) + len(newer)
    assert not first & {c for c, _ in removed.backend.bm25(removed.tokenizer(QUESTION), 50)}
    assert not first & {c for c, _ in removed.backend.dense(WRITER_ENCODER.encode_queries([QUESTION])[0], 50)}
    assert removed.backend.fetch(sorted(first)) == []


def test_an_unreadable_file_leaves_the_index_with_its_reason(writer_setup):
    writer, corpus, index, states = writer_setup
    built = writer.full_build(corpus, index, WRITER_ENCODER, ChunkingConfig())
    states.append(built)
    recorded = writer.record_unreadable(built, index, SEED_002, "0" * 64, "无法读取：测试")
    states.append(recorded)
    assert set(recorded.documents) == {SEED_001}
    assert recorded.manifest["skipped"][SEED_002] == "无法读取：测试"
    assert recorded.manifest["corpus"][SEED_002] == "0" * 64


def test_finishing_and_compacting_a_complete_index_change_no_answer(writer_setup):
    writer, corpus, index, states = writer_setup
    built = writer.full_build(corpus, index, WRITER_ENCODER, ChunkingConfig())
    states.append(built)
    finished = writer.finish_encoding(built, index, WRITER_ENCODER)
    compacted = writer.compact(finished, index)
    states += [finished, compacted]
    tokens = built.tokenizer(QUESTION)
    assert compacted.backend.bm25(tokens, 10) == built.backend.bm25(tokens, 10)
    assert compacted.dense_pending == ()


def test_both_writers_index_the_same_passages_after_the_same_changes(tmp_path):
    held = {}
    try:
        for backend in WRITER_BACKENDS:
            root = tmp_path / backend
            root.mkdir()
            corpus = _corpus(root, SEED_001, SEED_002)
            writer = index_writer(backend, str(root / "index.milvus.db"), "writer_parity")
            state = writer.full_build(corpus, root / "index", WRITER_ENCODER, ChunkingConfig())
            shutil.copy(CORPUS / SEED_004, corpus / SEED_004)
            state = writer.add_document(state, corpus, root / "index", corpus / SEED_004, WRITER_ENCODER,
                                        ChunkingConfig())
            held[backend] = writer.remove_documents(state, corpus, root / "index", [SEED_002])
        local, milvus = held["local"], held["milvus"]
        assert set(local.chunks) == set(milvus.chunks)
        assert {d: doc.meta for d, doc in local.documents.items()} == {d: doc.meta for d, doc in milvus.documents.items()}
        assert local.terms == milvus.terms
    finally:
        for state in held.values():
            if state.remote is not None:
                state.remote.close()
