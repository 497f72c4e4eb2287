"""Index format 7: float16 vectors search like float32 ones, passages stored as columns read back exactly, and
an index of the format before is rebuilt with its verified vectors reused, a damaged one with none."""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from retrieval.index import store
from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine, encoded_text
from retrieval.errors import IndexDamaged, IndexMismatch
from retrieval.index import dense
from retrieval.index.dense import DensePart, InvertedFile, SegmentedDense, nearest
from retrieval.index.segment import Segment, StoredPassages
from retrieval.types import Chunk
from tests.seeds import ALL_SEEDS, CORPUS, SEED_000, SEED_001
from tests.store_fakes import CountingEncoder

QUESTIONS = ("吴淞今年拆违任务多少平方米", "老旧小区加装电梯", "垃圾分类", "永兴街道规划建设什么", "万里街道社区治理",
             "开发区招商引资", "下半年工作计划", "文明城区创建")


def copy_seeds(target, names=ALL_SEEDS):
    target.mkdir(parents=True)
    for name in names:
        shutil.copyfile(CORPUS / name, target / name)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(corpus, index dir) over every seed, built with the hashing encoder: one float16 segment."""
    root = tmp_path_factory.mktemp("format7")
    corpus = copy_seeds(root / "corpus")
    SearchEngine.open(corpus, root / "index", encoder=HashingEncoder(256))
    return corpus, root / "index"


def float32_twin(segment: Segment) -> Segment:
    """The same segment holding the encoder's float32 vectors, unrounded (the reference of the float16 one)."""
    encoder = HashingEncoder(256)
    texts = [encoded_text(c) for c in segment.chunks] + [segment.chunks[row].text[start:end]
                                                          for row, start, end in segment.unit_spans]
    return dataclasses.replace(segment, vectors=encoder.encode_documents(texts).astype(np.float32))


def test_vectors_are_stored_as_float16_and_searched_in_float32(built):
    corpus, index = built
    (path,) = index.glob("segments/*/vectors.npy")
    assert np.load(path, mmap_mode="r").dtype == np.float16
    engine = SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")
    (segment,) = engine._state.index.segments
    assert segment.vectors.dtype == np.float16 and isinstance(segment.vectors, np.memmap)
    # FAISS's fp16 index holds the stored bytes unchanged and scores them as float32 inner products.
    flat = dense.float16_index(segment.passage_vectors)
    query = HashingEncoder(256).encode_queries(["老旧小区加装电梯"])[0]
    scores, rows = flat.search(query[None, :], 5)
    expected = np.asarray(segment.passage_vectors, dtype=np.float32) @ query
    np.testing.assert_allclose(scores[0], expected[rows[0]], rtol=1e-5, atol=1e-6)
    assert list(rows[0]) == list(np.argsort(-expected, kind="stable")[:5])


@pytest.mark.parametrize("with_ivf", [False, True], ids=["exact", "ivf"])
def test_float16_dense_search_ranks_as_float32_does(built, with_ivf):
    """The dense leg over the stored float16 vectors returns the float32 leg's passages in its order."""
    corpus, index = built
    engine = SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")
    (segment,) = engine._state.index.segments
    reference = float32_twin(segment)
    ivf = InvertedFile.train(reference.passage_vectors) if with_ivf else None
    stored = SegmentedDense([DensePart(segment, None, 0, ivf)], 0.5)
    exact = SegmentedDense([DensePart(reference, None, 0, ivf)], 0.5)
    encoder = HashingEncoder(256)
    same = compared = 0
    for question in QUESTIONS:
        query = encoder.encode_queries([question])[0]
        got, expected = stored.search(query, 10)[:10], exact.search(query, 10)
        reference = dict(expected)
        for (row, score), (expected_row, expected_score) in zip(got, expected):
            # The same passage at each rank, or one the float32 leg scores level with it (a near tie, < 1e-3,
            # that the rounding can turn round).
            assert row == expected_row or abs(reference.get(row, -1.0) - expected_score) < 1e-3, (question, row)
            assert score == pytest.approx(expected_score, abs=2e-3), question
            same += row == expected_row
            compared += 1
    assert compared >= 60 and same >= 0.95 * compared


def test_nearest_on_float16_rows_finds_the_float32_neighbours():
    """Random unit vectors: the exact scan and the IVF re-rank over float16 rows find float32's top 10."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(4000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    half = vectors.astype(np.float16)
    ivf = InvertedFile.train(half)
    agreement = []
    for query in vectors[rng.choice(4000, 50, replace=False)] + 0.3 * rng.normal(size=(50, 64)).astype(np.float32):
        query = (query / np.linalg.norm(query)).astype(np.float32)
        for index in (None, ivf):
            reference = [row for _, row in nearest(vectors, query, 10, None, index)]
            got = [row for _, row in nearest(half, query, 10, None, index)]
            assert got[:1] == reference[:1]
            agreement.append(len(set(reference) & set(got)) / 10)
        # A float16 score is the float32 score within the rounding of the stored components.
        for score, row in nearest(half, query, 10, None, None):
            assert score == pytest.approx(float(vectors[row] @ query), abs=2e-3)
    assert np.mean(agreement) >= 0.98


def test_a_segment_read_back_holds_the_passages_documents_and_keys_it_was_written_with(built, tmp_path):
    from retrieval.ingest.chunking import ChunkingConfig
    from retrieval.corpus.files import load_corpus
    from retrieval.ingest.passages import prepare_passages

    corpus, index = built
    written = SearchEngine.open(corpus, tmp_path / "fresh", encoder=HashingEncoder(256))
    reopened = SearchEngine.open(corpus, tmp_path / "fresh", encoder=HashingEncoder(256), rebuild="never")
    # The segment as the build makes it in memory, before it is written.
    documents = list(load_corpus(corpus).documents.values())
    in_memory = Segment.build("in-memory", documents, [p for d in documents for p in
                                                      prepare_passages(d, ChunkingConfig(), reopened._state.tokenizer)])
    assert isinstance(in_memory.chunks, list)
    (stored,) = reopened._state.index.segments
    assert isinstance(stored.chunks, StoredPassages)
    assert list(stored.chunks) == in_memory.chunks
    assert [stored.chunks[row] for row in (0, len(in_memory.chunks) - 1, -1)] == \
        [in_memory.chunks[0], in_memory.chunks[-1], in_memory.chunks[-1]]
    assert any(chunk.heading_spans for chunk in stored.chunks) and any(chunk.section_path for chunk in stored.chunks)
    assert stored.documents == in_memory.documents
    assert list(stored.keys) == list(in_memory.keys) and len(stored.keys) == stored.size + stored.unit_count
    assert stored.chunk_ids == in_memory.chunk_ids and stored.passage_doc_ids == in_memory.passage_doc_ids
    assert reopened.chunks == written.chunks and reopened.documents == written.documents
    answer = reopened.ask("吴淞今年拆违任务多少平方米").answer
    assert answer is not None and "3万平方米" in answer.fact
    assert reopened.chunks[answer.chunk_id].doc_id == SEED_001


def test_a_passage_that_is_not_its_documents_text_is_refused_when_written(built, tmp_path):
    corpus, index = built
    engine = SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")
    (segment,) = engine._state.index.segments
    chunks = list(segment.chunks)
    first = chunks[0]
    chunks[0] = Chunk(first.chunk_id, first.doc_id, first.section_path, first.char_span, first.text + "改",
                      first.heading_spans)
    with pytest.raises(ValueError, match="is not the text of its document"):
        dataclasses.replace(segment, chunks=chunks).write(tmp_path / "segment")


def test_damaged_float16_vectors_are_caught_before_any_answer(built, tmp_path):
    corpus, index = built
    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    (path,) = copy.glob("segments/*/vectors.npy")
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x40                                   # one float16 component of the last unit vector
    path.write_bytes(bytes(data))
    with pytest.raises(IndexDamaged, match="vectors.npy changed"):
        SearchEngine.open(corpus, copy, encoder=HashingEncoder(256), rebuild="never")


def as_format_6(index) -> None:
    """Make a built index look as format 6 wrote its vectors: float32 vectors.npy, format_version 6."""
    (path,) = index.glob("segments/*/vectors.npy")
    np.save(path, np.load(path).astype(np.float32), allow_pickle=False)
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 6
    manifest["files"][path.relative_to(index).as_posix()] = store.file_checksum(path)
    (index / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def test_an_index_of_format_6_needs_a_rebuild_which_reuses_its_verified_vectors(tmp_path):
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    index = tmp_path / "index"
    SearchEngine.open(corpus, index, encoder=HashingEncoder(256))
    as_format_6(index)
    with pytest.raises(IndexMismatch, match="index format 6 != 8.*python -m retrieval build"):
        SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")

    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    assert encoder.documents == [], "every vector of the verified format 6 index is reused"
    assert engine.manifest["format_version"] == store.INDEX_FORMAT == 8
    (path,) = index.glob("segments/*/vectors.npy")
    assert np.load(path, mmap_mode="r").dtype == np.float16
    answer = SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never").ask(
        "吴淞今年拆违任务多少平方米").answer
    assert answer is not None and "3万平方米" in answer.fact


def test_a_damaged_index_of_format_6_gives_no_vector_to_the_rebuild(tmp_path):
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001,))
    index = tmp_path / "index"
    SearchEngine.open(corpus, index, encoder=HashingEncoder(256))
    as_format_6(index)
    (path,) = index.glob("segments/*/vectors.npy")
    data = bytearray(path.read_bytes())
    data[-64:-56] = bytes(b ^ 0xFF for b in data[-64:-56])
    path.write_bytes(bytes(data))
    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    (segment,) = engine._state.index.segments
    assert len(set(encoder.documents)) == len(set(segment.keys)), "every vector is encoded again"


def test_small_segments_keep_one_flat_index_for_the_exact_scan(built):
    corpus, index = built
    engine = SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")
    (segment,) = engine._state.index.segments
    assert not dense.needs_ivf(segment.size)
    first = engine.search("老旧小区加装电梯", k=5, leg="dense")
    made = dense.flat_index(segment)
    assert made.ntotal == segment.size
    engine.search("垃圾分类", k=5, leg="dense")
    assert dense.flat_index(segment) is made, "made once, kept with the segment"
    assert first and engine.search("老旧小区加装电梯", k=5, leg="dense") == first


def _exhaustive_scores(segment: Segment, query: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(passage cosines, (1 - w) · passage cosine + w · best sentence cosine) of every passage, by a scan of all
    of the segment's sentence vectors."""
    passage = np.asarray(segment.passage_vectors, np.float32) @ query
    units = np.asarray(segment.unit_vectors, np.float32) @ query
    best = np.asarray([units[list(segment.unit_rows_of(row))].max() for row in range(segment.size)])
    return passage, (1 - weight) * passage + weight * best


def test_the_dense_leg_reads_the_sentences_of_the_nearest_passages_only(built):
    """The nearest CANDIDATES_PER_RESULT · pool passages by passage vector are the candidates; each is scored by
    its own cosine and its best sentence's, as a scan of every sentence scores it, and they come best first."""
    corpus, index = built
    engine = SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")
    (segment,) = engine._state.index.segments
    reference = float32_twin(segment)
    leg = SegmentedDense([DensePart(reference, None, 0, None)], 0.5)
    pool = 3
    wanted = dense.CANDIDATES_PER_RESULT * pool
    assert all(len(segment.unit_rows_of(row)) for row in range(segment.size)) and wanted < segment.size
    for question in QUESTIONS:
        query = HashingEncoder(256).encode_queries([question])[0]
        passage, mixed = _exhaustive_scores(reference, query, 0.5)
        candidates = np.argsort(-passage, kind="stable")[:wanted]
        expected = sorted(candidates.tolist(), key=lambda row: (-mixed[row], row))
        got = leg.search(query, pool)
        assert [row for row, _ in got] == expected, question
        assert [score for _, score in got] == pytest.approx([mixed[row] for row in expected], abs=1e-5)


def test_the_two_stage_dense_leg_finds_what_a_scan_of_every_sentence_finds(built):
    """Against the exhaustive score over every passage and every sentence, the two-stage leg's top 10 holds the
    same passages on the seed questions, with the sentences of 80 of the 134 passages read (pool 10; the
    pipeline asks for 50)."""
    corpus, index = built
    engine = SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")
    (segment,) = engine._state.index.segments
    leg = engine._state.index.dense
    agreement = []
    for question in QUESTIONS:
        query = HashingEncoder(256).encode_queries([question])[0]
        _, mixed = _exhaustive_scores(segment, query, 0.5)
        exhaustive = set(np.argsort(-mixed, kind="stable")[:10].tolist())
        agreement.append(len(exhaustive & {row for row, _ in leg.search(query, 10)[:10]}) / 10)
    assert dense.CANDIDATES_PER_RESULT * 10 < segment.size
    assert min(agreement) >= 0.9 and np.mean(agreement) >= 0.97


def test_segments_searched_on_several_threads_give_the_serial_results(tmp_path, monkeypatch):
    """Over at least PARALLEL_MIN_SEGMENTS segments the dense leg searches them on SEARCH_THREADS threads: the
    same rows and scores as one thread, on every seed question."""
    from retrieval.index import builder

    monkeypatch.setattr(builder, "SEGMENT_PASSAGES", 1)                # one document a segment
    engine = SearchEngine.open(copy_seeds(tmp_path / "corpus"), tmp_path / "index", encoder=HashingEncoder(256))
    leg = engine._state.index.dense
    assert len(leg.parts) >= dense.PARALLEL_MIN_SEGMENTS
    queries = HashingEncoder(256).encode_queries(list(QUESTIONS))
    monkeypatch.setattr(dense, "SEARCH_THREADS", 2)
    parallel = [leg.search(query, 10) for query in queries]
    monkeypatch.setattr(dense, "SEARCH_THREADS", 1)
    serial = [leg.search(query, 10) for query in queries]
    assert parallel == serial
    assert all(len(found) == dense.CANDIDATES_PER_RESULT * 10 for found in serial)
