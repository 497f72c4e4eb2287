"""Background indexing: jobs run one at a time while questions are answered, a new document is found by BM25
before its vectors exist, and a cancelled job leaves the index (in memory and on disk) as it was."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from retrieval.errors import RetrievalError
from tests.seeds import CORPUS, SEED_000, SEED_001, SEED_002
from tests.store_fakes import CountingEncoder, GatedEncoder, copy_seeds

NEW_DOC = SEED_002
NEW_DOC_QUESTION = "全域全力全员招商大格局"          # words only the new document has


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)


@pytest.fixture
def gated(tmp_path):
    """An engine over two seeds whose encoder holds every batch until the test opens its gate."""
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    encoder = GatedEncoder()
    encoder.gate.set()
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=encoder)
    encoder.gate.clear()
    encoder.waiting.clear()
    (corpus / NEW_DOC).write_bytes((CORPUS / NEW_DOC).read_bytes())
    yield engine, encoder, corpus, tmp_path / "index"
    encoder.gate.set()
    engine.close()


def docs_of(engine: SearchEngine, hits) -> set[str]:
    return {engine.chunks[h.chunk_id].doc_id for h in hits}


def indexed_on_disk(index) -> set[str]:
    return set(json.loads((index / "manifest.json").read_text(encoding="utf-8"))["corpus"])


def test_a_new_document_is_found_by_bm25_before_its_vectors_exist(gated):
    engine, encoder, corpus, index = gated
    job = engine.indexing.add(corpus / NEW_DOC, user="张三")
    assert encoder.waiting.wait(30)
    wait_for(lambda: engine.indexing.job(job.job_id).state == "encoding")
    assert engine.dense_pending == (NEW_DOC,)
    assert NEW_DOC in docs_of(engine, engine.search(NEW_DOC_QUESTION, k=3, leg="bm25"))
    assert NEW_DOC not in docs_of(engine, engine.search(NEW_DOC_QUESTION, k=50, leg="dense"))
    on_disk = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    assert NEW_DOC in on_disk["corpus"], "the BM25-first state is saved, so a kill does not lose the document"
    assert [s["encoded"] for s in on_disk["segments"]] == [True, False], "its segment waits for its vectors"

    encoder.gate.set()
    finished = engine.indexing.wait(job.job_id, timeout=60)
    assert (finished.state, finished.kind, finished.doc, finished.user) == ("done", "add", NEW_DOC, "张三")
    assert finished.progress == 1.0 and finished.started <= finished.finished
    assert engine.dense_pending == ()
    assert NEW_DOC in docs_of(engine, engine.search(NEW_DOC_QUESTION, k=5, leg="dense"))
    assert NEW_DOC in indexed_on_disk(index)
    assert all(s["encoded"] for s in json.loads((index / "manifest.json").read_text(encoding="utf-8"))["segments"])


def test_cancelling_a_running_job_leaves_the_index_as_it_was(gated):
    engine, encoder, corpus, index = gated
    before = dict(engine.documents)
    on_disk = (index / "manifest.json").read_bytes()
    job = engine.indexing.add(corpus / NEW_DOC)
    assert encoder.waiting.wait(30)
    assert NEW_DOC in engine.documents                       # searchable by BM25 meanwhile
    assert engine.indexing.cancel(job.job_id)
    encoder.gate.set()
    finished = engine.indexing.wait(job.job_id, timeout=60)
    assert finished.state == "cancelled"
    assert engine.documents == before and engine.dense_pending == ()
    assert (index / "manifest.json").read_bytes() == on_disk
    assert not engine.indexing.cancel(job.job_id), "a finished job cannot be cancelled"


def test_a_queued_job_is_cancelled_before_it_starts(gated):
    engine, encoder, corpus, _ = gated
    running = engine.indexing.add(corpus / NEW_DOC)
    assert encoder.waiting.wait(30)
    queued = engine.indexing.rebuild(user="admin")
    assert engine.indexing.job(queued.job_id).state == "queued"
    assert engine.indexing.cancel(queued.job_id)
    encoder.gate.set()
    assert engine.indexing.wait(running.job_id, timeout=60).state == "done"
    assert engine.indexing.wait(queued.job_id, timeout=60).state == "cancelled"
    assert [j.job_id for j in engine.indexing.status()] == [running.job_id, queued.job_id]


def test_the_same_change_queued_twice_runs_once(gated):
    engine, encoder, corpus, _ = gated
    engine.indexing.rebuild()
    assert encoder.waiting.wait(30)
    first = engine.indexing.delete(SEED_000)
    again = engine.indexing.delete(SEED_000)
    assert first.job_id == again.job_id
    encoder.gate.set()
    engine.indexing.wait_idle(60)
    assert SEED_000 not in engine.documents and not (corpus / SEED_000).exists()


def test_an_unreadable_upload_fails_its_job_and_nothing_else(tmp_path):
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    (corpus / "空白.txt").write_text("   \n", encoding="utf-8")
    job = engine.indexing.wait(engine.indexing.add(corpus / "空白.txt").job_id, timeout=60)
    assert (job.state, job.message) == ("failed", "失败：无法读取文件 空白.txt：文件里没有文字")
    assert sorted(engine.documents) == sorted([SEED_001, SEED_000])
    good = engine.indexing.wait(engine.indexing.delete(SEED_000).job_id, timeout=60)
    assert good.state == "done", "the worker keeps running after a failed job"
    engine.close()


def test_a_document_outside_the_corpus_is_refused_when_queued(tmp_path):
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001,))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    with pytest.raises(RetrievalError, match="not inside the corpus directory"):
        engine.indexing.add(tmp_path / "elsewhere.txt")
    with pytest.raises(RetrievalError, match="no document"):
        engine.indexing.delete("不存在.txt")


def test_a_cancelled_removal_keeps_the_file_and_its_metadata(tmp_path):
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    engine.update_metadata(SEED_000, aliases=["测试别名"])
    metadata = (corpus / "metadata.yaml").read_bytes()

    def stop_at_first_check():
        return True

    from retrieval.jobs import IndexingCancelled
    with pytest.raises(IndexingCancelled):
        engine.remove_document(SEED_000, should_stop=stop_at_first_check)
    assert (corpus / SEED_000).exists() and "测试别名" in engine.documents[SEED_000].meta.aliases
    assert "测试别名" in (corpus / "metadata.yaml").read_text(encoding="utf-8")
    assert len((corpus / "metadata.yaml").read_bytes()) == len(metadata)
    engine.remove_document(SEED_000)
    reopened = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256), rebuild="never")
    assert SEED_000 not in reopened.documents, "the manifest matches the corpus after the removal"


def test_the_queue_needs_no_engine_only_the_callables_it_is_given(tmp_path):
    from retrieval.jobs import IndexingQueue

    applied = []

    def apply(kind, target, progress, phase, should_stop, pause):
        applied.append((kind, target))
        return f"applied {kind}"

    queue = IndexingQueue(apply, resolve_path=lambda path: Path(path).resolve(), has_document=lambda doc: doc == "a.txt")
    try:
        job = queue.add(tmp_path / "b.txt", user="tester")
        done = queue.wait(job.job_id, timeout=30)
        assert (done.state, done.message, done.user) == ("done", "applied add", "tester")
        assert applied == [("add", (tmp_path / "b.txt").resolve())]
        with pytest.raises(RetrievalError, match="no document"):
            queue.delete("c.txt")
        assert queue.wait(queue.delete("a.txt").job_id, timeout=30).message == "applied delete"
    finally:
        queue.close()


# --- what a finished job says -------------------------------------------------------------------------------

class HeldEngine:
    """What IndexingQueue is given by an engine (apply, resolve_path): each job waits for `release`, then raises
    `error` (if any)."""

    def __init__(self, corpus, error=None):
        self.corpus = corpus
        self.error = error
        self.running = threading.Event()
        self.release = threading.Event()

    def _corpus_path(self, path):
        return Path(path)

    def _apply_job(self, kind, target, progress, phase, should_stop, pause=None):
        self.running.set()
        assert self.release.wait(30)
        if self.error is not None:
            raise self.error
        return "完成"


def test_a_job_cancelled_while_running_is_cancelled_even_if_it_stops_on_the_missing_file(tmp_path):
    """Cancelling an upload moves its file to the trash, so the job may stop on reading it, not at a batch
    boundary: it is still 已取消, not a failure about a server path."""
    from retrieval.errors import IngestError
    from retrieval.jobs import IndexingQueue

    engine = HeldEngine(tmp_path, IngestError(tmp_path / "corpus" / "新文件.txt", "cannot open the file"))
    queue = IndexingQueue(engine._apply_job, engine._corpus_path, lambda doc_id: False)
    job = queue.add(tmp_path / "corpus" / "新文件.txt")
    assert engine.running.wait(30)
    assert queue.cancel(job.job_id)
    engine.release.set()
    finished = queue.wait(job.job_id, timeout=30)
    assert (finished.state, finished.message) == ("cancelled", "已取消，索引保持原样")
    queue.close()


@pytest.mark.parametrize("error, expected", [
    ("ingest", "失败：无法读取文件 坏的.docx：不是有效的 Word（.docx）文件，可能已损坏"),
    ("locked", "失败：处理 坏的.docx 时索引正被另一个程序写入，等了太久。请稍后再试。"),
    ("other", "失败：处理 坏的.docx 时出错，索引保持原样。请稍后再试；反复出现请告诉管理员。"),
    ("bug", "失败（内部错误）：处理 坏的.docx 时出错，索引保持原样。请把这个问题告诉管理员（详情在服务器日志里）。"),
], ids=["unreadable", "locked", "other", "bug"])
def test_a_failed_job_says_why_in_chinese_and_names_the_file_never_a_server_path(tmp_path, error, expected):
    from retrieval.errors import IndexLocked, IngestError
    from retrieval.jobs import IndexingQueue

    where = tmp_path / "corpus" / "坏的.docx"
    errors = {"ingest": IngestError(where, "not a valid .docx", "不是有效的 Word（.docx）文件，可能已损坏"),
              "locked": IndexLocked(f"index {tmp_path}/index is being written by another process"),
              "other": RetrievalError(f"{where} is odd"),
              "bug": KeyError(str(where))}
    engine = HeldEngine(tmp_path, errors[error])
    engine.release.set()
    queue = IndexingQueue(engine._apply_job, engine._corpus_path, lambda doc_id: False)
    finished = queue.wait(queue.add(where).job_id, timeout=30)
    assert (finished.state, finished.message) == ("failed", expected)
    assert str(tmp_path) not in finished.message
    queue.close()


def blank_scan() -> bytes:
    """A one-page PDF with no text layer and nothing on the page: a blank sheet through a scanner."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_blank_scan_fails_once_with_a_chinese_message_and_is_not_tried_again(tmp_path, monkeypatch):
    import os

    from retrieval.ingest import ocr
    from retrieval.corpus.watch import SETTLE_SECONDS

    monkeypatch.setattr(ocr, "ocr_pages", lambda data, pages: {page: "" for page in pages})   # OCR finds no text
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    scan = corpus / "扫描件.pdf"
    scan.write_bytes(blank_scan())
    settled = time.time() - 10 * SETTLE_SECONDS
    os.utime(scan, (settled, settled))
    job = engine.indexing.wait(engine.indexing.add(scan).job_id, timeout=60)
    assert job.state == "failed"
    assert job.message == "失败：无法读取文件 扫描件.pdf：这是扫描件，但文字识别在每一页上都没有找到文字（空白页？）。请上传有文字的版本"
    from retrieval.corpus.watch import CorpusWatcher

    watcher = CorpusWatcher(engine)
    assert watcher.check() == [] and watcher.check() == [], "the watcher does not try the same bytes again"
    assert [j.job_id for j in engine.indexing.status()] == [job.job_id]
    engine.close()
    reopened = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256), rebuild="never")
    assert "扫描件.pdf" not in reopened.documents, "a restart does not try it again either (rebuild=never opens)"
    reopened.close()


# --- a big document never holds small ones back; a restart serves at once -------------------------------------

SMALL_DOC = "小文件.txt"
SMALL_TEXT = "某某街道今年新建口袋公园3个，口袋公园面积合计0.5公顷。"
SMALL_MARK = "口袋公园"


class BatchByBatchEncoder(GatedEncoder):
    """Encodes a batch of the big document only when the test grants it (`grant()`); a batch whose every
    text is the small document's (SMALL_MARK) passes at once."""

    def __init__(self):
        super().__init__()
        self.permits = threading.Semaphore(0)
        self.held = threading.Event()           # a batch is waiting for a permit

    def grant(self, batches: int = 1) -> None:
        for _ in range(batches):
            self.permits.release()

    def encode_documents(self, texts):
        if not self.gate.is_set() and not all(SMALL_MARK in text for text in texts):
            self.held.set()
            if not self.permits.acquire(timeout=30):
                raise TimeoutError("the test never granted this batch")
            self.held.clear()
        return CountingEncoder.encode_documents(self, texts)


def test_a_small_upload_is_indexed_while_a_big_one_is_still_encoding(tmp_path, monkeypatch):
    from retrieval.index import builder, vector_cache

    monkeypatch.setattr(vector_cache, "ENCODE_BATCH", 8)            # several batches for a seed document
    monkeypatch.setattr(builder, "BIG_JOB_INPUTS", 20)         # a seed document counts as big
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001,))
    encoder = BatchByBatchEncoder()
    encoder.gate.set()
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=encoder)
    encoder.gate.clear()
    encoder.documents.clear()
    (corpus / NEW_DOC).write_bytes((CORPUS / NEW_DOC).read_bytes())
    (corpus / SMALL_DOC).write_text(SMALL_TEXT, encoding="utf-8")

    big = engine.indexing.wait(engine.indexing.add(corpus / NEW_DOC).job_id, timeout=60)
    assert big.state == "done" and "已可按关键词检索" in big.message     # keyword-searchable, vectors to come
    assert NEW_DOC in engine.documents and engine.dense_pending == (NEW_DOC,)
    assert encoder.held.wait(30)                                       # its encoding holds the first batch
    (encoding,) = [job for job in engine.indexing.status() if job.kind == "encode"]
    small = engine.indexing.add(corpus / SMALL_DOC)
    encoder.grant(1)                                                   # one more batch of the big document
    small = engine.indexing.wait(small.job_id, timeout=60)
    assert small.state == "done"
    assert not engine.indexing.job(encoding.job_id).is_finished, "the big document is still being encoded"
    assert engine.dense_pending == (NEW_DOC,)
    assert SMALL_DOC in docs_of(engine, engine.search(SMALL_TEXT, k=3, leg="dense")), "the small one has its vectors"

    encoder.gate.set()
    encoder.grant(1000)
    assert engine.indexing.wait(encoding.job_id, timeout=60).state == "done"
    assert engine.dense_pending == ()
    assert NEW_DOC in docs_of(engine, engine.search(NEW_DOC_QUESTION, k=5, leg="dense"))
    assert len(encoder.documents) == len(set(encoder.documents)), "a pause loses no work: nothing encoded twice"
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert all(segment["encoded"] for segment in manifest["segments"])
    engine.close()
    reopened = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256), rebuild="never")
    assert {NEW_DOC, SMALL_DOC} <= set(reopened.documents) and reopened.dense_pending == ()
    reopened.close()


def test_a_restart_serves_at_once_and_indexes_what_was_left_in_the_background(tmp_path):
    """A file the index does not hold yet (copied in while the app was down, or a kill before its keyword-searchable
    save) is indexed by a job after open returns, not before: the encoder is held shut through open."""
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256)).close()
    (corpus / NEW_DOC).write_bytes((CORPUS / NEW_DOC).read_bytes())
    encoder = GatedEncoder()                                           # gate shut: no passage can be encoded
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=encoder, catch_up="background")
    assert NEW_DOC not in engine.documents
    assert engine.ask("吴淞今年拆违任务多少平方米").answer is not None, "it answers from the index it has"
    (sync,) = [job for job in engine.indexing.status() if job.kind == "sync"]
    encoder.gate.set()
    engine.indexing.wait_idle(timeout=60)
    assert engine.indexing.job(sync.job_id).state == "done"
    assert NEW_DOC in engine.documents and engine.dense_pending == ()
    assert NEW_DOC in indexed_on_disk(tmp_path / "index")
    engine.close()
    with pytest.raises(ValueError, match="catch_up"):
        SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256), catch_up="later")
