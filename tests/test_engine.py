"""SearchEngine with the deterministic hashing encoder on a private copy of the corpus: build, load,
staleness, encoder checks, unreadable files, the pickle-free index directory, and corpus management."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from retrieval.errors import IndexMismatch, IndexNotFound, InvalidQuery, RetrievalError
from retrieval.text.tokenizer import dictionary_hash

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
WUSONG = "吴淞街道2021年工作要点.txt"
YONGXING = "永兴街道2021年工作规划.txt"
WUSONG_QUESTION = "吴淞今年拆违任务多少平方米"
QUESTIONS = [WUSONG_QUESTION, "经开区2020年规上工业总产值多少亿元", "永兴今年排出多少项工作项目",
             "西岸那个街道下半年要改造几个老旧小区电梯", "吴淞街道2021年财政预算一共多少钱？"]


class RecordingEncoder:
    """HashingEncoder under the same model id, remembering every passage text it was asked to encode."""

    def __init__(self, dim: int = 256):
        self._inner = HashingEncoder(dim)
        self.model_id, self.dim = self._inner.model_id, self._inner.dim
        self.documents: list[str] = []

    def encode_queries(self, texts):
        return self._inner.encode_queries(texts)

    def encode_documents(self, texts):
        self.documents.extend(texts)
        return self._inner.encode_documents(texts)


def copy_corpus(target: Path, names: tuple[str, ...] | None = None) -> Path:
    """A writable copy of the corpus (or of some of its documents, with metadata.yaml)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in CORPUS.iterdir():
        if path.is_file() and (names is None or path.name in names or path.name == "metadata.yaml"):
            shutil.copyfile(path, target / path.name)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(corpus dir, index dir, engine that built the index) shared by the read-only tests."""
    root = tmp_path_factory.mktemp("engine")
    corpus = copy_corpus(root / "corpus")
    engine = SearchEngine.open(corpus, root / "index", encoder=HashingEncoder(256))
    return corpus, root / "index", engine


# --- build and load -------------------------------------------------------------------------------

def bm25_top(engine: SearchEngine, question: str):
    """The best BM25 passage: exact and independent of the (fake) dense vectors."""
    return engine.chunks[engine.search(question, k=1, leg="bm25")[0].chunk_id]


def test_build_indexes_every_seed(built):
    corpus, _, engine = built
    assert sorted(engine.documents) == sorted(p.name for p in corpus.glob("*.txt"))
    assert engine.manifest["counts"]["documents"] == 5
    assert engine.manifest["counts"]["chunks"] == len(engine.chunks)
    assert {c.doc_id for c in engine.chunks.values()} == set(engine.documents)
    for chunk in engine.chunks.values():
        start, end = chunk.char_span
        assert engine.documents[chunk.doc_id].text[start:end] == chunk.text


def test_wusong_question_is_answered_with_the_fake_encoder(built):
    """Answers must not depend on the dense model's cosine scale, or no fast test can check them."""
    _, _, engine = built
    result = engine.ask(WUSONG_QUESTION, k=10)
    assert any("完成3万平方米年度拆违任务" in engine.chunks[h.chunk_id].text for h in result.hits)
    assert result.answer is not None
    assert "3万平方米" in result.answer.text
    assert engine.chunks[result.answer.chunk_id].doc_id == WUSONG
    start, end = result.answer.char_span
    assert engine.documents[WUSONG].text[start:end] == result.answer.text


def test_the_result_names_the_runner_up_and_how_far_behind_it_is(built):
    """The runner-up is the best candidate that would be another answer (another passage or another fact),
    with its choice score, so a caller can tell a clear answer from a near tie."""
    _, _, engine = built
    result = engine.ask(WUSONG_QUESTION, k=10)
    best, runner_up = result.best_guess, result.runner_up
    assert best == result.answer and best.fact == "3万平方米"
    assert runner_up is not None and (runner_up.chunk_id, runner_up.fact) != (best.chunk_id, best.fact)
    assert best.score > runner_up.score
    assert runner_up.chunk_id in {hit.chunk_id for hit in result.hits}


def test_second_open_loads_and_gives_identical_results(built):
    corpus, index, engine = built
    recorder = RecordingEncoder(256)
    loaded = SearchEngine.open(corpus, index, encoder=recorder, rebuild="auto")
    assert recorder.documents == [], "an up-to-date index must be loaded, not rebuilt"
    assert loaded.manifest == engine.manifest
    assert loaded.chunks == engine.chunks
    for question in QUESTIONS:
        first, second = engine.ask(question), loaded.ask(question)
        assert second.hits == first.hits
        assert [h.score for h in second.hits] == [h.score for h in first.hits]
        assert second.legs == first.legs
        assert second.answer == first.answer
        assert second.analysis == first.analysis


def test_rebuild_never_on_an_empty_dir_raises_index_not_found(tmp_path):
    corpus = copy_corpus(tmp_path / "corpus", (YONGXING,))
    (tmp_path / "index").mkdir()
    with pytest.raises(IndexNotFound, match="build"):
        SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256), rebuild="never")
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_rebuild_mode_is_checked(built):
    corpus, index, _ = built
    with pytest.raises(ValueError, match="rebuild"):
        SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="sometimes")


# --- the index directory --------------------------------------------------------------------------

def test_index_directory_holds_no_pickle(built):
    _, index, _ = built
    files = [p for p in index.rglob("*") if p.is_file()]
    assert any(p.suffix == ".npy" for p in files)
    for path in files:
        assert path.suffix not in (".pkl", ".pickle")
        assert not path.read_bytes()[:1] == b"\x80", f"{path.name} looks like a pickle"
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            assert array.dtype != object


def test_manifest_records_what_built_the_index(built):
    corpus, index, engine = built
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    assert isinstance(manifest["format_version"], int)
    assert manifest["encoder"] == {"model_id": "hashing-bigrams/256", "dim": 256}
    terms = [t for t in (index / "userdict.txt").read_text(encoding="utf-8").split("\n") if t]
    assert manifest["tokenizer"]["dictionary_hash"] == dictionary_hash(terms)
    for path in corpus.iterdir():
        assert manifest["corpus"][path.name] == hashlib.sha256(path.read_bytes()).hexdigest()
    versions = manifest["library_versions"]
    assert versions["numpy"] == np.__version__
    assert {"python", "faiss-cpu", "jieba"} <= set(versions)
    assert manifest["skipped"] == {}


def test_passage_files_keep_chinese_readable(built):
    _, index, _ = built
    texts = "".join(path.read_text(encoding="utf-8") for path in index.glob("segments/*/document_texts.txt"))
    assert "完成3万平方米年度拆违任务" in texts
    for name in ("documents.json", "sections.json", "vocabulary.json"):
        text = "".join(path.read_text(encoding="utf-8") for path in index.glob(f"segments/*/{name}"))
        assert text and "\\u" not in text, name
    sections = "".join(path.read_text(encoding="utf-8") for path in index.glob("segments/*/sections.json"))
    assert "二、" in sections


# --- staleness and incremental encoding ----------------------------------------------------------

def test_changed_file_makes_the_index_stale_and_only_changed_text_is_encoded(tmp_path):
    corpus = copy_corpus(tmp_path / "corpus", (WUSONG, YONGXING))
    first = RecordingEncoder(256)
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=first)
    assert engine.manifest["counts"]["encoded"] == len(set(first.documents)) > 0
    old_hash = engine.manifest["corpus"][WUSONG]

    path = corpus / WUSONG
    text = path.read_text(encoding="utf-8")
    assert text.count("完成3万平方米年度拆违任务") == 1
    # Same length, no punctuation: no chunk boundary moves. 麒麟 is a word no seed has.
    path.write_text(text.replace("完成3万平方米年度拆违任务", "完成7万平方米麒麟拆违任务"), encoding="utf-8")

    with pytest.raises(IndexMismatch, match=WUSONG):
        SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256), rebuild="never")

    second = RecordingEncoder(256)
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=second)
    manifest = engine.manifest
    assert manifest["corpus"][WUSONG] == hashlib.sha256(path.read_bytes()).hexdigest() != old_hash
    # Only text holding the edit is encoded again (a same-length edit moves no chunk boundary).
    assert second.documents, "the edited passage must be encoded"
    assert all("麒麟" in t for t in second.documents), [t[:40] for t in second.documents]
    assert manifest["counts"]["encoded"] == len(set(second.documents))
    assert manifest["counts"]["encoded"] < len(set(first.documents)) / 10
    edited = [c for c in engine.chunks.values() if "完成7万平方米麒麟拆违任务" in c.text]
    assert len(edited) == 1 and edited[0].text in second.documents

    assert bm25_top(engine, "麒麟拆违任务") == edited[0]
    assert not any("3万平方米年度拆违" in c.text for c in engine.chunks.values())


# --- encoder checks -------------------------------------------------------------------------------

def test_opening_with_another_encoder_dimension_raises_index_mismatch(built):
    corpus, index, _ = built
    with pytest.raises(IndexMismatch) as error:
        SearchEngine.open(corpus, index, encoder=HashingEncoder(128))
    assert "hashing-bigrams/256" in str(error.value) and "128" in str(error.value)


def test_forced_rebuild_with_another_encoder_replaces_the_index(tmp_path):
    """The IndexMismatch message says to rebuild with --force (rebuild="always") and the new encoder."""
    corpus = copy_corpus(tmp_path / "corpus", (YONGXING,))
    SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(128), rebuild="always")
    assert engine.manifest["encoder"] == {"model_id": "hashing-bigrams/128", "dim": 128}


# --- unreadable files -----------------------------------------------------------------------------

def test_corrupt_and_empty_files_are_skipped_with_a_reason(tmp_path):
    corpus = copy_corpus(tmp_path / "corpus", (WUSONG, YONGXING))
    (corpus / "bad.docx").write_bytes(np.random.default_rng(0).bytes(4096))
    (corpus / "empty.txt").write_bytes(b"")
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    skipped = engine.manifest["skipped"]
    assert set(skipped) == {"bad.docx", "empty.txt"}
    assert all(isinstance(reason, str) and reason.strip() for reason in skipped.values())
    assert sorted(engine.documents) == sorted([WUSONG, YONGXING])
    assert {c.doc_id for c in engine.chunks.values()} == {WUSONG, YONGXING}
    assert "完成3万平方米年度拆违任务" in bm25_top(engine, WUSONG_QUESTION).text
    assert engine.ask(WUSONG_QUESTION).hits
    # The skipped files are part of the fingerprint: reopening does not rebuild, and still lists them.
    recorder = RecordingEncoder(256)
    again = SearchEngine.open(corpus, tmp_path / "index", encoder=recorder)
    assert recorder.documents == [] and set(again.manifest["skipped"]) == {"bad.docx", "empty.txt"}


# --- question checks ------------------------------------------------------------------------------

@pytest.mark.parametrize("question, k", [("", 5), ("   \n", 5), (WUSONG_QUESTION, 0), (WUSONG_QUESTION, -1),
                                         (WUSONG_QUESTION, 101), ("拆违" * 300, 5)])
def test_invalid_questions_raise_invalid_query(built, question, k):
    _, _, engine = built
    with pytest.raises(InvalidQuery):
        engine.ask(question, k=k)


def test_invalid_query_message_names_the_bad_value(built):
    _, _, engine = built
    with pytest.raises(InvalidQuery, match="got 0"):
        engine.ask(WUSONG_QUESTION, k=0)
    with pytest.raises(InvalidQuery, match="empty"):
        engine.ask("")


def test_k_limits_the_hits(built):
    _, _, engine = built
    result = engine.ask(WUSONG_QUESTION, k=3)
    assert [h.rank for h in result.hits] == [1, 2, 3]
    assert all(len(hits) <= 3 for hits in result.legs.values())



@pytest.mark.parametrize("question", [WUSONG_QUESTION, "社区食堂", "2021年 老旧小区 加装电梯 多少台"])
def test_the_bm25_leg_alone_ranks_as_it_does_beside_the_fusion(built, question):
    """A BM25-only search asks the backend for k passages, a hybrid one for its candidate pool: same top k."""
    _, _, engine = built
    for k in (1, 3, 8):
        alone = engine.search(question, k=k, leg="bm25")
        beside = engine.ask(question, k=k, legs=("bm25", "hybrid"), with_answer=False).legs["bm25"]
        assert [(h.chunk_id, h.score, h.rank) for h in alone] == [(h.chunk_id, h.score, h.rank) for h in beside]
        assert alone, question


# --- corpus management ----------------------------------------------------------------------------

NEW_DOC = "青藤镇2021年工作要点.txt"
NEW_TEXT = ("青藤镇2021年工作要点\n"
            "一、完善基础设施建设\n"
            "全年新建智慧灯杆1234座，实现镇区主干道路全覆盖。同步推进雨污分流改造，提升排水能力。\n"
            "二、提升公共服务水平\n"
            "新建社区食堂3家，开展助老服务，方便老年人就餐。\n")
NEW_QUESTION = "青藤镇今年新建多少座智慧灯杆"


def test_add_then_remove_a_document(tmp_path):
    corpus = copy_corpus(tmp_path / "corpus", (WUSONG, YONGXING))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    assert engine.analyze(NEW_QUESTION).orgs == ()

    (corpus / NEW_DOC).write_text(NEW_TEXT, encoding="utf-8")
    meta = engine.add_document(corpus / NEW_DOC)
    assert meta.doc_id == NEW_DOC and meta.org == "青藤"
    assert engine.analyze(NEW_QUESTION).orgs == (NEW_DOC,)
    top = bm25_top(engine, NEW_QUESTION)
    assert top.doc_id == NEW_DOC and "智慧灯杆1234座" in top.text
    result = engine.ask(NEW_QUESTION)
    assert engine.chunks[result.hits[0].chunk_id] == top            # named organisation + best BM25
    assert result.answer is not None and result.answer.chunk_id == top.chunk_id
    assert result.answer.fact == "1234座", "the new document is answerable at once"
    # The change is on disk: a fresh open loads it without rebuilding.
    recorder = RecordingEncoder(256)
    reopened = SearchEngine.open(corpus, tmp_path / "index", encoder=recorder)
    assert recorder.documents == [] and NEW_DOC in reopened.documents

    engine.remove_document(NEW_DOC)
    assert not (corpus / NEW_DOC).exists()
    assert NEW_DOC not in engine.documents
    assert not any(c.doc_id == NEW_DOC for c in engine.chunks.values())
    assert NEW_DOC not in engine.manifest["corpus"]
    result = engine.ask(NEW_QUESTION)
    assert all(engine.chunks[h.chunk_id].doc_id != NEW_DOC for h in result.hits)
    assert result.answer is None or "1234座" not in result.answer.text   # gone: no answer, or another one


def test_update_metadata_alias_routes_questions_to_the_document(tmp_path):
    corpus = copy_corpus(tmp_path / "corpus", (WUSONG, YONGXING))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    question = "滨江片区今年拆违任务多少平方米"
    assert engine.analyze(question).orgs == ()
    before = engine.ask(question)
    assert any(engine.chunks[h.chunk_id].doc_id == WUSONG for h in before.hits)

    # Like the app: the aliases shown (automatic and from metadata.yaml) plus the new one.
    aliases = [*engine.documents[YONGXING].meta.aliases, "滨江片区"]
    meta = engine.update_metadata(YONGXING, aliases=aliases)
    assert "滨江片区" in meta.aliases and "崇川" in meta.aliases
    assert engine.analyze(question).orgs == (YONGXING,)
    after = engine.ask(question)
    assert [engine.chunks[h.chunk_id].doc_id for h in after.hits] == [YONGXING] * len(after.hits)
    assert "滨江片区" in (corpus / "metadata.yaml").read_text(encoding="utf-8")
    reopened = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    assert "滨江片区" in reopened.documents[YONGXING].meta.aliases

    # The list given replaces the extra aliases, so leaving one out removes it.
    assert engine.analyze("崇川今年的重点工作").orgs == (YONGXING,)
    engine.update_metadata(YONGXING, aliases=["滨江片区"])
    assert "崇川" not in engine.documents[YONGXING].meta.aliases
    assert engine.analyze("崇川今年的重点工作").orgs == ()
    assert engine.analyze(question).orgs == (YONGXING,)
    assert engine.documents[YONGXING].meta.org == "永兴"                 # derived fields stay


def test_metadata_update_of_an_unknown_document_fails_without_touching_the_corpus(built):
    corpus, _, engine = built
    before = {p.name: p.read_bytes() for p in corpus.iterdir()}
    with pytest.raises(RetrievalError, match="no document"):
        engine.update_metadata("nope.txt", aliases=["x"])
    with pytest.raises(RetrievalError, match="no document"):
        engine.remove_document("nope.txt")
    assert {p.name: p.read_bytes() for p in corpus.iterdir()} == before


def test_leg_weights_steer_the_fusion(built):
    """With the dense leg weighted 0, the hybrid ranking is the BM25 ranking (a question naming no
    organisation or year, so no preference reorders it); with BM25 at 0 it is the dense ranking."""
    corpus, index, _ = built
    question = "垃圾分类示范街镇创建成果"
    for silent, leg in (("dense", "bm25"), ("bm25", "dense")):
        weighted = SearchEngine.open(corpus, index, encoder=HashingEncoder(256),
                                     leg_weights={silent: 0.0})
        result = weighted.ask(question, k=5)
        assert [h.chunk_id for h in result.hits] == [h.chunk_id for h in result.legs[leg]]


def test_a_damaged_index_file_is_rebuilt_not_a_crash(tmp_path):
    corpus = copy_corpus(tmp_path / "corpus", (WUSONG,))
    SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    (vectors,) = (tmp_path / "index").glob("segments/*/vectors.npy")
    vectors.write_bytes(vectors.read_bytes()[:100])               # a truncated write
    with pytest.raises(IndexMismatch, match="damaged"):
        SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256), rebuild="never")
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    assert engine.search("拆违任务", k=1, leg="dense")
    assert not list(tmp_path.glob(".index.*")), "no temporary or old index directories are left behind"


def test_a_result_stays_readable_after_its_document_is_deleted(tmp_path):
    """Another user may delete a document between a question and its display."""
    from retrieval.serialize import ask_record

    corpus = copy_corpus(tmp_path / "corpus")
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    result = engine.ask("吴淞今年拆违任务多少平方米", k=3)
    cited = {result.chunks[h.chunk_id].doc_id for h in result.hits}
    engine.remove_document(WUSONG)
    record = ask_record(engine, result)
    assert [r["doc"] for r in record["results"]["hybrid"]] == [result.chunks[h.chunk_id].doc_id for h in result.hits]
    assert WUSONG in cited and WUSONG not in engine.documents


def test_questions_keep_being_answered_while_the_index_is_rebuilt(tmp_path):
    """A re-index (upload, delete, edit) swaps the whole snapshot: questions asked meanwhile never fail."""
    import threading

    corpus = copy_corpus(tmp_path / "corpus")
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    failures: list[BaseException] = []
    answered = []
    done = threading.Event()

    def ask_repeatedly():
        while not done.is_set():
            try:
                result = engine.ask(WUSONG_QUESTION, k=3)
                answered.append(result.chunks[result.hits[0].chunk_id].doc_id)
            except BaseException as error:     # noqa: BLE001 - any failure is the finding
                failures.append(error)

    askers = [threading.Thread(target=ask_repeatedly) for _ in range(3)]
    for thread in askers:
        thread.start()
    try:
        (corpus / NEW_DOC).write_text(NEW_TEXT, encoding="utf-8")
        engine.add_document(corpus / NEW_DOC)
        engine.update_metadata(NEW_DOC, aliases=["青藤社区"])
        engine.remove_document(NEW_DOC)
    finally:
        done.set()
        for thread in askers:
            thread.join()
    assert not failures
    assert answered and set(answered) == {WUSONG}


def test_an_ask_encodes_its_question_once_while_bm25_searches(built):
    """The question's vector is started before the analysis and BM25 search and used by the dense leg and the
    answer step: one model call per new question, none for one asked again, and the same answer as before."""
    from retrieval.text.normalize import normalize_question

    corpus, index, reference = built

    class QueryRecordingEncoder(RecordingEncoder):
        def __init__(self):
            super().__init__()
            self.queries: list[list[str]] = []

        def encode_queries(self, texts):
            self.queries.append(list(texts))
            return super().encode_queries(texts)

    encoder = QueryRecordingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder, rebuild="never")
    question = "吴淞今年拆违任务多少平方米？"
    result = engine.ask(question)
    assert encoder.queries == [[normalize_question(question)]]
    expected = reference.ask(question)
    assert result.answer is not None and result.answer.fact == expected.answer.fact == "3万平方米"
    assert [h.chunk_id for h in result.hits] == [h.chunk_id for h in expected.hits]
    engine.ask(question)
    assert len(encoder.queries) == 1, "asked again: the cached vector"
    engine.ask("永兴今年排出多少项工作项目", legs=("bm25",), with_answer=False)
    assert len(encoder.queries) == 1, "BM25 alone, without an answer, needs no vector"
