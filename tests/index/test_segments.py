"""The index as segments plus deletions: a one-document change equals a full rebuild, touches no other
document, and a merge loses nothing; BM25 over segments equals one global BM25."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from retrieval.index.bm25_reference import BM25Index
from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from retrieval.index import builder, merge, reading, vector_cache
from retrieval.index.bm25 import SegmentedBM25
from retrieval.index.segment import Segment
from retrieval.ingest.passages import PreparedPassage
from retrieval.types import Chunk
from tests.seeds import CORPUS, SEED_000, SEED_001, SEED_002

QUESTIONS = ("吴淞今年拆违任务多少平方米", "老旧小区加装电梯", "垃圾分类", "永兴街道规划建设什么", "万里街道社区治理")
# Seed names sort 万里 (SEED_002) < 吴淞 (SEED_001) < 永兴 (SEED_000): an added 永兴 takes the last rows, as in a
# rebuild, so equal scores keep the same order in both.


def copy_seeds(target, names):
    target.mkdir(parents=True)
    for name in names:
        shutil.copyfile(CORPUS / name, target / name)
    return target


def ranked(engine: SearchEngine) -> dict:
    return {(question, leg): [(h.chunk_id, h.score) for h in engine.search(question, k=10, leg=leg)]
            for question in QUESTIONS for leg in ("bm25", "dense", "hybrid")}


def assert_same_rankings(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key in expected:
        assert [c for c, _ in got[key]] == [c for c, _ in expected[key]], key
        assert [s for _, s in got[key]] == pytest.approx([s for _, s in expected[key]], abs=1e-6), key


def full_build_with_terms(tmp_path, names, terms, monkeypatch) -> SearchEngine:
    """A from-scratch build of these seeds, tokenised with the given dictionary (a rebuild would learn its own)."""
    monkeypatch.setattr(builder, "learn_terms", lambda texts, extra=(): list(terms))
    corpus = copy_seeds(tmp_path / f"reference-{len(names)}" / "corpus", names)
    engine = SearchEngine.open(corpus, corpus.parent / "index", encoder=HashingEncoder(256))
    monkeypatch.undo()
    return engine


@pytest.fixture
def grown(tmp_path):
    """An engine built over two seeds, then given a third by add_document."""
    corpus = copy_seeds(tmp_path / "corpus", (SEED_002, SEED_001))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    shutil.copyfile(CORPUS / SEED_000, corpus / SEED_000)
    engine.add_document(corpus / SEED_000)
    return engine


def test_adding_a_document_gives_the_results_of_a_full_rebuild(grown, tmp_path, monkeypatch):
    assert len(grown._state.index.segments) == 2, "the added document is a segment of its own"
    reference = full_build_with_terms(tmp_path, (SEED_002, SEED_001, SEED_000), grown._state.terms, monkeypatch)
    assert grown.chunks == reference.chunks
    assert_same_rankings(ranked(grown), ranked(reference))


def test_deleting_a_document_gives_the_results_of_a_full_rebuild(grown, tmp_path, monkeypatch):
    grown.remove_document(SEED_002)
    assert SEED_002 not in grown.documents and not (grown.corpus_dir / SEED_002).exists()
    reference = full_build_with_terms(tmp_path, (SEED_001, SEED_000), grown._state.terms, monkeypatch)
    assert grown.chunks == reference.chunks
    assert_same_rankings(ranked(grown), ranked(reference))
    reopened = SearchEngine.open(grown.corpus_dir, grown.index_dir, encoder=HashingEncoder(256), rebuild="never")
    assert_same_rankings(ranked(reopened), ranked(reference))


def test_a_change_reads_and_tokenises_only_its_own_document(grown, monkeypatch):
    read, tokenised = [], []
    real_load, real_prepare = builder.load_document, builder.prepare_passages
    monkeypatch.setattr(builder, "load_document", lambda path, override=None: read.append(path.name) or real_load(path, override))
    monkeypatch.setattr(builder, "prepare_passages",
                        lambda document, *args: tokenised.append(document.doc_id) or real_prepare(document, *args))
    monkeypatch.setattr(reading, "load_corpus", lambda *args: pytest.fail("a one-document change read the corpus"))
    (grown.corpus_dir / SEED_001).write_text((CORPUS / SEED_001).read_text(encoding="utf-8") + "\n新增一句：建成口袋公园2个。\n",
                                             encoding="utf-8")
    grown.replace_document(grown.corpus_dir / SEED_001)
    grown.remove_document(SEED_000)
    assert read == [SEED_001] and tokenised == [SEED_001]
    assert any("口袋公园" in c.text for c in grown.chunks.values())


def test_a_merge_loses_nothing(grown, monkeypatch):
    monkeypatch.setattr(merge, "MAX_DELETED_SHARE", 1.0)      # keep the deleted rows until the merge below
    grown.remove_document(SEED_002)
    shutil.copyfile(CORPUS / SEED_002, grown.corpus_dir / SEED_002)
    grown.add_document(grown.corpus_dir / SEED_002)
    state = grown._state
    assert len(state.index.segments) == 3 and state.index.deleted
    before_chunks, before = dict(grown.chunks), ranked(grown)
    grown._state = merge.merge_segments(state, grown.index_dir, [s.segment_id for s in state.index.segments])
    assert len(grown._state.index.segments) == 1 and not grown._state.index.deleted
    assert grown.chunks == before_chunks
    assert_same_rankings(ranked(grown), before)
    reopened = SearchEngine.open(grown.corpus_dir, grown.index_dir, encoder=HashingEncoder(256), rebuild="never")
    assert_same_rankings(ranked(reopened), before)
    assert len(list(grown.index_dir.glob("segments/*"))) == 1, "merged segments leave the directory"


def test_many_small_changes_are_merged_in_the_background_of_a_change(grown, monkeypatch):
    monkeypatch.setattr(merge, "MAX_SEGMENTS", 2)
    path = grown.corpus_dir / SEED_000
    for edit in range(2):
        path.write_text(path.read_text(encoding="utf-8") + f"\n第{edit}次补充：新建健身步道{edit + 2}公里。\n", encoding="utf-8")
        grown.replace_document(path)
    assert len(grown._state.index.segments) <= 2
    assert sum("健身步道" in c.text for c in grown.chunks.values()) == 1, "only the last version is live"


def _passages(token_lists):
    return [PreparedPassage(Chunk(f"c{i}", "d", (), (0, 1), "x"), list(tokens), [], f"k{i}", [])
            for i, tokens in enumerate(token_lists)]


def test_bm25_over_segments_with_deletions_equals_one_bm25_over_the_live_passages():
    rng = np.random.default_rng(3)
    vocabulary = [f"t{i}" for i in range(40)]
    corpus = [list(rng.choice(vocabulary, size=rng.integers(3, 15))) for _ in range(60)]
    parts, live_tokens = [], []
    for start, end in ((0, 25), (25, 45), (45, 60)):
        segment = Segment.build(f"s{start}", [], _passages(corpus[start:end]))
        live = rng.random(end - start) > 0.25
        parts.append((segment, live))
        live_tokens += [corpus[start + i] for i in np.flatnonzero(live)]
    segmented, reference = SegmentedBM25(parts), BM25Index.build(live_tokens)
    live_rows = np.flatnonzero(np.concatenate([live for _, live in parts]))
    for query in (["t1", "t2"], ["t5", "t5", "t9"], ["t39"], ["nothing"]):
        np.testing.assert_allclose(segmented.scores(query)[live_rows], reference.scores(query), rtol=1e-6)
        assert not segmented.scores(query)[np.setdiff1d(np.arange(segmented.size), live_rows)].any()
    assert segmented.term_idf("t3") == pytest.approx(reference.term_idf("t3"), rel=1e-6)


# --- a kill during background encoding ----------------------------------------------------------------------

KILLED_WHILE_ENCODING = """
import os, sys
from pathlib import Path
from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from retrieval.index import vector_cache
vector_cache.ENCODE_BATCH, vector_cache.CHECKPOINT_BATCHES = 8, 1      # small batches, each one saved
class DiesOnTheFourthBatch(HashingEncoder):
    batches = 0
    def encode_documents(self, texts):
        DiesOnTheFourthBatch.batches += 1
        if DiesOnTheFourthBatch.batches == 4:
            os._exit(9)                        # killed: no except, no finally runs
        return super().encode_documents(texts)
corpus, index = Path(sys.argv[1]), Path(sys.argv[2])
SearchEngine.open(corpus, index, encoder=DiesOnTheFourthBatch(256))     # indexes the file copied in meanwhile
"""


def test_a_kill_during_encoding_resumes_without_losing_the_work_done(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from tests.store_fakes import CountingEncoder

    corpus = copy_seeds(tmp_path / "corpus", (SEED_002, SEED_001))
    index = tmp_path / "index"
    SearchEngine.open(corpus, index, encoder=HashingEncoder(256))
    shutil.copyfile(CORPUS / SEED_000, corpus / SEED_000)
    root = Path(__file__).resolve().parents[2]
    killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_ENCODING, str(corpus), str(index)], cwd=root)
    assert killed.returncode == 9
    assert len(list(index.glob("segments/*/checkpoint-*.npy"))) == 3, "three batches were saved before the kill"

    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    assert SEED_000 in engine.documents, "the document is searchable by BM25 at once"
    engine.indexing.wait_idle(60)
    assert engine.dense_pending == ()
    (segment,) = [s for s in engine._state.index.segments if SEED_000 in s.documents]
    assert len(encoder.documents) == len(set(segment.keys)) - 3 * 8, "only the rest is encoded"
    fresh = HashingEncoder(256).encode_documents([c.text for c in segment.chunks])
    # Stored as float16: checkpointed and newly encoded vectors alike are the encoder's, rounded once.
    np.testing.assert_array_equal(np.asarray(segment.passage_vectors), fresh.astype(np.float16))
    assert not list(index.glob("segments/*/checkpoint-*")), "checkpoints give way to the segment's vectors"
    hits = engine.search("永兴街道规划建设什么", k=10, leg="dense")
    assert SEED_000 in {engine.chunks[h.chunk_id].doc_id for h in hits}
    engine.close()


def test_a_build_spread_over_worker_processes_equals_one_in_this_process(tmp_path, monkeypatch):
    from tests.seeds import ALL_SEEDS

    corpus = copy_seeds(tmp_path / "corpus", ALL_SEEDS)
    monkeypatch.setattr(reading, "PARALLEL_MIN_DOCUMENTS", 10**9)
    serial = SearchEngine.open(corpus, tmp_path / "serial", encoder=HashingEncoder(256))
    monkeypatch.setattr(reading, "PARALLEL_MIN_DOCUMENTS", 2)
    monkeypatch.setattr(reading, "BUILD_WORKERS", 2)
    parallel = SearchEngine.open(corpus, tmp_path / "parallel", encoder=HashingEncoder(256))
    assert parallel.documents == serial.documents and parallel.chunks == serial.chunks
    (one,), (other,) = serial._state.index.segments, parallel._state.index.segments
    assert one.vocabulary == other.vocabulary and (one.postings != other.postings).nnz == 0
    assert_same_rankings(ranked(parallel), ranked(serial))


def test_unit_mean_passage_vectors_are_their_sentences_mean_and_are_not_encoded(tmp_path, monkeypatch):
    from tests.store_fakes import CountingEncoder

    monkeypatch.setattr(vector_cache, "PASSAGE_VECTORS", "unit_mean")
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001,))
    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=encoder)
    (segment,) = engine._state.index.segments
    encoded = set(encoder.documents)
    checked = 0
    for row, chunk in enumerate(segment.chunks):
        units = [segment.size + i for i, (r, _, _) in enumerate(segment.unit_spans) if r == row]
        if not units:
            continue
        unit_texts = {chunk.text[s:e] for r, s, e in segment.unit_spans if r == row}
        if chunk.text not in unit_texts:
            assert chunk.text not in encoded, "a passage with sentences is not encoded itself"
        mean = np.mean(np.asarray([segment.vectors[i] for i in units], dtype=np.float32), axis=0)
        # The normalised mean of the stored unit vectors, itself stored as float16 (rounded once).
        np.testing.assert_array_equal(segment.passage_vectors[row], (mean / np.linalg.norm(mean)).astype(np.float16))
        checked += 1
    assert checked > 10
    assert engine.manifest["dense"]["passage_vector"] == "unit_mean"
    monkeypatch.setattr(vector_cache, "PASSAGE_VECTORS", "encoded")
    with pytest.raises(Exception, match="passage vectors"):
        SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256), rebuild="never")


def test_one_segment_scores_are_bit_identical_to_bm25index():
    """The dev results stay the same only if a one-segment index scores exactly as before the redesign."""
    rng = np.random.default_rng(5)
    vocabulary = [f"t{i}" for i in range(30)]
    corpus = [list(rng.choice(vocabulary, size=rng.integers(2, 20))) for _ in range(80)]
    segment = Segment.build("s", [], _passages(corpus))
    segmented, reference = SegmentedBM25([(segment, np.ones(len(corpus), bool))]), BM25Index.build(corpus)
    for query in (["t1", "t2", "t2"], ["t7"], ["t3", "t11", "t29", "t0"]):
        np.testing.assert_array_equal(segmented.scores(query), reference.scores(query))


def test_a_build_writes_each_segment_as_it_closes_and_equals_a_one_segment_build(tmp_path, monkeypatch):
    """Segments closed during a build are written at once and read back from disk (the build holds one segment
    of passage objects, not the corpus); the index saved from them ranks as a one-segment build does, and the
    build directory is gone afterwards."""
    from tests.seeds import ALL_SEEDS

    corpus = copy_seeds(tmp_path / "corpus", ALL_SEEDS)
    one = SearchEngine.open(corpus, tmp_path / "one", encoder=HashingEncoder(256))
    held = []
    real_read = Segment.read

    def read(directory, segment_id, with_vectors):
        segment = real_read(directory, segment_id, with_vectors)
        held.append((directory, segment))
        return segment

    monkeypatch.setattr(builder, "SEGMENT_PASSAGES", 40)
    monkeypatch.setattr(Segment, "read", staticmethod(read))
    several = SearchEngine.open(corpus, tmp_path / "several", encoder=HashingEncoder(256))
    monkeypatch.undo()
    staged = [(d, s) for d, s in held if d.parent.name.startswith(".several.build-")]
    assert len(staged) == len(several._state.index.segments) >= 3, "each closed segment was read back from disk"
    assert all(type(s.chunks).__name__ == "StoredPassages" for _, s in staged)
    assert several.chunks == one.chunks and several.documents == one.documents
    assert not list(tmp_path.glob(".several.build-*")), "the build directory is removed"
    assert_same_rankings(ranked(several), ranked(one))


def test_a_text_in_several_segments_is_encoded_once_and_stored_alike_in_each(tmp_path, monkeypatch):
    """Two documents that share most sentences, in different segments: every distinct input is encoded once,
    and a shared one gets the same stored vector in both segments."""
    from tests.store_fakes import CountingEncoder

    corpus = copy_seeds(tmp_path / "corpus", (SEED_001,))
    text = (CORPUS / SEED_001).read_text(encoding="utf-8")
    (corpus / "吴淞街道2021年工作要点（修订）.txt").write_text(text.replace("3万平方米", "4万平方米"), encoding="utf-8")
    monkeypatch.setattr(builder, "SEGMENT_PASSAGES", 1)          # one document a segment
    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=encoder)
    segments = engine._state.index.segments
    assert len(segments) == 2
    assert len(encoder.documents) == len(set(encoder.documents)), "no input is encoded twice"
    first, second = ({key: row for row, key in enumerate(s.keys)} for s in segments)
    shared = set(first) & set(second)
    assert len(shared) > len(first) // 2
    for key in shared:
        assert (segments[0].vectors[first[key]] == segments[1].vectors[second[key]]).all()


def test_encoding_reads_shared_vectors_back_and_keeps_no_passage_objects(tmp_path, monkeypatch):
    """Three segments sharing most sentences: the third gets the first one's saved vectors (read back from its
    file), nothing is encoded twice, and encoding leaves no passage object or key list of a segment in memory."""
    from retrieval.ingest.chunking import ChunkingConfig
    from tests.store_fakes import CountingEncoder

    corpus = copy_seeds(tmp_path / "corpus", (SEED_001,))
    text = (CORPUS / SEED_001).read_text(encoding="utf-8")
    for number in (4, 5):
        (corpus / f"吴淞街道2021年工作要点（修订{number}）.txt").write_text(
            text.replace("3万平方米", f"{number}万平方米"), encoding="utf-8")
    monkeypatch.setattr(builder, "SEGMENT_PASSAGES", 1)          # one document a segment
    encoder = CountingEncoder()
    state = builder.full_build(corpus, tmp_path / "index", encoder, ChunkingConfig())
    segments = state.index.segments
    assert len(segments) == 3
    assert len(encoder.documents) == len(set(encoder.documents)), "no input is encoded twice"
    for segment in segments:
        assert not any(segment.chunks._built), f"encoding kept passage objects of {segment.segment_id}"
        assert "_keys" not in segment.keys.__dict__, f"encoding kept the key list of {segment.segment_id}"
    rows = [{key: row for row, key in enumerate(s.keys)} for s in segments]
    in_all = set(rows[0]) & set(rows[1]) & set(rows[2])
    assert len(in_all) > len(rows[0]) // 2
    for key in in_all:
        assert (segments[0].vectors[rows[0][key]] == segments[2].vectors[rows[2][key]]).all()
    only_third = set(rows[2]) - set(rows[0]) - set(rows[1])
    assert only_third, "the third document has sentences of its own"
