"""Background indexing: one worker thread applies corpus changes as jobs while questions keep being answered.

The queue knows no engine: it is given `apply` (runs one job), `resolve_path` (checks a path is inside the corpus)
and `has_document`; the engine passes its own.

API (the app codes against this; everything else here is internal):

    engine = SearchEngine.open(corpus_dir, index_dir)       # as before
    engine.indexing                     # IndexingQueue, owned by the engine, worker thread started on first job
    job = engine.indexing.add(path, user="")      # a file already written inside corpus_dir → IndexingJob (queued)
    job = engine.indexing.replace(path, user="")  # a new version of an indexed file, already written over it
    job = engine.indexing.delete(doc_id, user="") # drop from the index, then remove corpus file + metadata override
    job = engine.indexing.rebuild(user="")        # re-read the whole corpus directory
    job = engine.indexing.resume_encoding(user="")  # finish vectors a kill interrupted (queued by open itself)
    job = engine.indexing.sync(user="")           # index what changed while no engine was open (queued by
                                                  # SearchEngine.open(..., catch_up="background"), as the app does)
    engine.indexing.status() -> list[IndexingJob]  # every job of this process (last 200), oldest first
    engine.indexing.job(job_id) -> IndexingJob | None
    engine.indexing.cancel(job_id) -> bool  # True if it was queued or running; a running job stops at the next
                                            # batch boundary and the index (memory and disk) stays as it was
    engine.indexing.wait(job_id, timeout=None) -> IndexingJob   # blocks until done/failed/cancelled
    engine.start_watching(interval=1.0) / engine.stop_watching()  # corpus/ changes made outside the app
                                            # become jobs (user "watcher") within a few seconds
    engine.dense_pending -> tuple[str, ...]  # doc ids searchable by BM25 only right now (vectors being encoded)
    AskResult.dense_pending: tuple[str, ...] # the same, for the snapshot a result was answered from

    IndexingJob (frozen): job_id: str, kind: "add" | "replace" | "delete" | "rebuild" | "encode" | "sync", doc: str
        (doc id, "" for rebuild, encode and sync), state: "queued" | "chunking" | "encoding" | "done" | "failed" |
        "cancelled", progress: float 0..1,
        message: str (Chinese, for users), user: str, started: float | None, finished: float | None (epoch seconds),
        submitted: float. A failed job's message says why in Chinese and names the file (never a server path);
        an unreadable file is noted in the manifest, so neither the watcher nor a restart tries it again.

    Synchronous calls keep working and share the same code path: engine.add_document(path),
    engine.replace_document(path), engine.remove_document(doc_id), engine.update_metadata(...), engine.rebuild().

Publishing is two-phase: once the corpus is read, chunked and its BM25 built, a state where new passages are
found by BM25 only is swapped in; then the missing vectors are encoded in batches and the full state is saved
(checksummed, atomically renamed) and swapped in. Writers of one index directory, in any process, take turns
through an OS file lock (retrieval.index.store.IndexWriterLock); a writer that waits too long raises IndexLocked naming
the holder (pid, host, since).

Validation (retrieval.validation): validate_request(question, k=5, year=None, org=None) -> the stripped question,
or InvalidQuery with a clear message; constants MAX_QUESTION_CHARS, MAX_K, MIN_YEAR, MAX_YEAR, MAX_ORG_CHARS.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from retrieval.errors import BackendUnavailable, IndexLocked, IndexMismatch, IngestError, RetrievalError
from retrieval.index.progress import EncodingPaused, IndexingCancelled  # noqa: F401  (kept importable from here)

log = logging.getLogger(__name__)
# apply(kind, target, progress=, phase=, should_stop=, pause=) -> the message of a finished job; raises
# IndexingCancelled when should_stop() said so, EncodingPaused when it gave way because pause() said other jobs
# wait (its work so far saved), a RetrievalError for a job that cannot be done.
ApplyJob = Callable[..., str]

KINDS = ("add", "replace", "delete", "rebuild", "encode", "sync")
STATES = ("queued", "chunking", "encoding", "done", "failed", "cancelled")
FINISHED = frozenset({"done", "failed", "cancelled"})
HISTORY = 200                            # finished jobs kept for status()
PHASE_MESSAGES = {"chunking": "读取与分段", "encoding": "向量编码（新内容已可按关键词检索）"}


CANCELLED = "已取消，索引保持原样"
PAUSED = "向量编码暂停，先处理其他任务（已可按关键词检索）"
INTERNAL_FAILURE = "失败（内部错误）：处理 {doc} 时出错，索引保持原样。请把这个问题告诉管理员（详情在服务器日志里）。"
# What a failed job tells users, by the error's class (the first that matches): Chinese, the document by its
# file name; the English detail, which may hold server paths, goes to the log only.
FAILURE_MESSAGES: tuple[tuple[type[RetrievalError], Callable[[RetrievalError, str], str]], ...] = (
    (IngestError, lambda error, doc: error.message_zh),
    (IndexLocked, lambda error, doc: f"处理 {doc} 时索引正被另一个程序写入，等了太久。请稍后再试。"),
    (BackendUnavailable, lambda error, doc: str(error)),          # already Chinese
    (IndexMismatch, lambda error, doc: f"处理 {doc} 时发现索引文件有问题。请让管理员重建索引（make run 会自动重建）。"),
    (RetrievalError, lambda error, doc: f"处理 {doc} 时出错，索引保持原样。请稍后再试；反复出现请告诉管理员。"),
)


def failure_message(doc: str, error: RetrievalError) -> str:
    """The message of a job that failed with `error`, for users: in Chinese, never a server path."""
    say = next(say for kind, say in FAILURE_MESSAGES if isinstance(error, kind))
    return f"失败：{say(error, doc or '语料库')}"


@dataclass(frozen=True)
class IndexingJob:
    """One corpus change and how far it got (a snapshot: status() returns fresh ones)."""

    job_id: str
    kind: str                    # add / replace / delete / rebuild
    doc: str                     # the document id, "" for a rebuild
    state: str                   # queued / chunking / encoding / done / failed / cancelled
    progress: float              # 0..1
    message: str                 # for users, in Chinese
    user: str
    started: float | None        # epoch seconds
    finished: float | None
    submitted: float = 0.0

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED


class IndexingQueue:
    """Corpus changes applied one at a time by one worker thread, in submission order, except that a big
    document's vectors never hold others back: its job makes it keyword-searchable and leaves the vectors to
    an "encode" job, which gives way to every job submitted meanwhile after its current batch (its work so far
    saved) and goes on after them.

    Each job re-reads the corpus directory and publishes new immutable index snapshots (see the module
    docstring), so questions are answered throughout. A job queued twice for the same document before it
    started is merged into one.
    """

    def __init__(self, apply: ApplyJob, resolve_path: Callable[[str | Path], Path],
                 has_document: Callable[[str], bool], history: int = HISTORY):
        self._apply = apply                      # runs one job in the worker thread, returns its done message
        self._resolve_path = resolve_path        # a path given to add / replace, checked to be inside the corpus
        self._has_document = has_document        # whether a doc id is in the index (delete refuses others)
        self._history = history
        self._jobs: dict[str, IndexingJob] = {}
        self._targets: dict[str, Path | str | None] = {}
        self._pending: deque[str] = deque()
        self._cancelled: set[str] = set()
        self._condition = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False

    # ---------------------------------------------------------------- submitting
    def add(self, path: str | Path, user: str = "") -> IndexingJob:
        """Index a file already written inside the corpus directory."""
        path = self._resolve_path(path)
        return self._submit("add", path.name, user, path)

    def replace(self, path: str | Path, user: str = "") -> IndexingJob:
        """Re-index a document whose file was overwritten with a new version."""
        path = self._resolve_path(path)
        return self._submit("replace", path.name, user, path)

    def delete(self, doc_id: str, user: str = "") -> IndexingJob:
        """Take a document out of the index, then remove its corpus file and metadata entry."""
        if not self._has_document(doc_id) and doc_id not in self.pending_docs():
            raise RetrievalError(f"no document {doc_id!r} in the index")
        return self._submit("delete", doc_id, user, doc_id)

    def rebuild(self, user: str = "") -> IndexingJob:
        """Re-read the whole corpus directory (only changed passages are encoded)."""
        return self._submit("rebuild", "", user, None)

    def sync(self, user: str = "") -> IndexingJob:
        """Index the corpus files added, changed or removed while no engine was open (queued by open itself)."""
        return self._submit("sync", "", user, None)

    def resume_encoding(self, user: str = "") -> IndexingJob:
        """Encode the passages a restart or a kill left without vectors (work already saved is kept)."""
        return self._submit("encode", "", user, None)

    def _submit(self, kind: str, doc: str, user: str, target) -> IndexingJob:
        with self._condition:
            if self._closed:
                raise RetrievalError("the indexing queue is closed (the engine was closed)")
            for job_id in self._pending:
                queued = self._jobs[job_id]
                if queued.kind == kind and queued.doc == doc:
                    return queued
            job = IndexingJob(uuid.uuid4().hex[:12], kind, doc, "queued", 0.0, "排队中", user, None, None,
                              time.time())
            self._jobs[job.job_id] = job
            self._targets[job.job_id] = target
            self._pending.append(job.job_id)
            self._forget_old()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="indexing", daemon=True)
                self._worker.start()
            self._condition.notify_all()
            return job

    # ---------------------------------------------------------------- reading
    def status(self) -> list[IndexingJob]:
        """Every job this process still remembers, oldest first."""
        with self._condition:
            return list(self._jobs.values())

    def job(self, job_id: str) -> IndexingJob | None:
        with self._condition:
            return self._jobs.get(job_id)

    def pending_docs(self) -> set[str]:
        """Documents of queued or running jobs ("" stands for a rebuild, which touches every document)."""
        with self._condition:
            return {job.doc for job in self._jobs.values() if not job.is_finished}

    def busy(self) -> bool:
        with self._condition:
            return any(not job.is_finished for job in self._jobs.values())

    def wait(self, job_id: str, timeout: float | None = None) -> IndexingJob:
        """Block until the job is done, failed or cancelled; TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while True:
                job = self._jobs.get(job_id)
                if job is None:
                    raise RetrievalError(f"no indexing job {job_id!r}")
                if job.is_finished:
                    return job
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"indexing job {job_id} is still {job.state} after {timeout} s")
                self._condition.wait(remaining)

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until no job is queued or running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while self.busy():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"indexing is still busy after {timeout} s")
                self._condition.wait(remaining)

    # ---------------------------------------------------------------- cancelling and closing
    def cancel(self, job_id: str) -> bool:
        """Stop a queued job, or a running one at its next batch boundary. False if it already finished."""
        with self._condition:
            job = self._jobs.get(job_id)
            if job is None or job.is_finished:
                return False
            if job_id in self._pending:
                self._pending.remove(job_id)
                self._finish(job_id, "cancelled", CANCELLED if job.started else "已取消（未开始，索引未改变）")
            else:
                self._cancelled.add(job_id)
                self._update(job_id, message="正在取消…")
            return True

    def close(self, timeout: float = 30.0) -> None:
        """Cancel what is queued, stop the running job at its next batch boundary, end the worker."""
        with self._condition:
            self._closed = True
            for job_id in list(self._pending):
                self.cancel(job_id)
            self._cancelled.update(job_id for job_id, job in self._jobs.items() if not job.is_finished)
            self._condition.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    # ---------------------------------------------------------------- the worker
    def _work(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._closed:
                    self._condition.wait()
                if not self._pending:
                    return
                job_id = self._pending.popleft()
                started = self._jobs[job_id].started or time.time()       # a paused encoding keeps its start
                self._update(job_id, state="chunking", message=PHASE_MESSAGES["chunking"], started=started)
            self._run(job_id)

    def _run(self, job_id: str) -> None:
        job = self._jobs[job_id]

        def progress(fraction: float, message: str) -> None:
            self._update(job_id, progress=round(max(0.0, min(1.0, fraction)), 3), message=message)

        def phase(name: str) -> None:
            self._update(job_id, state=name, message=PHASE_MESSAGES.get(name, name))

        def should_stop() -> bool:
            return job_id in self._cancelled

        def others_waiting() -> bool:
            with self._condition:
                return bool(self._pending)

        try:
            message = self._apply(job.kind, self._targets[job_id], progress=progress, phase=phase,
                                  should_stop=should_stop, pause=others_waiting)
        except EncodingPaused:
            with self._condition:                # its work so far is saved: it goes on after the jobs now waiting
                if should_stop():
                    self._finish(job_id, "cancelled", CANCELLED)
                else:
                    self._update(job_id, message=PAUSED)
                    self._pending.append(job_id)
                    self._condition.notify_all()
        except IndexingCancelled:
            self._finish(job_id, "cancelled", CANCELLED)
        except RetrievalError as error:
            if should_stop():
                # Undoing a cancelled upload moves its file away, so the job may stop on that, not at a boundary.
                self._finish(job_id, "cancelled", CANCELLED)
            else:
                log.warning("indexing job %s (%s %s) failed: %s", job_id, job.kind, job.doc, error)
                self._finish(job_id, "failed", failure_message(job.doc, error))
        except Exception:  # noqa: BLE001 - a bug in one job must not stop the worker for the others
            log.exception("indexing job %s (%s %s) failed", job_id, job.kind, job.doc)
            self._finish(job_id, "cancelled" if should_stop() else "failed",
                         CANCELLED if should_stop() else INTERNAL_FAILURE.format(doc=job.doc or "语料库"))
        else:
            self._finish(job_id, "done", message or "完成")

    def _update(self, job_id: str, **fields) -> None:
        with self._condition:
            job = self._jobs.get(job_id)
            if job is not None and not job.is_finished:
                self._jobs[job_id] = replace(job, **fields)
                self._condition.notify_all()

    def _finish(self, job_id: str, state: str, message: str) -> None:
        with self._condition:
            self._update(job_id, state=state, message=message, finished=time.time(),
                         progress=1.0 if state == "done" else self._jobs[job_id].progress)
            self._cancelled.discard(job_id)
            self._targets.pop(job_id, None)

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.is_finished]
        for job_id in finished[:max(0, len(finished) - self._history)]:
            del self._jobs[job_id]

