"""The corpus watcher: files copied into, edited in or removed from corpus/ outside the app become indexing jobs.

A thread compares the corpus with the index every `interval` seconds (file size and modification time
first, the sha256 only of files that changed); a watchdog observer, when installed, wakes it as soon as
something happens. A file is queued once it has kept the same size and time for one look, so a copy in
progress is not indexed half-written. The index itself is the reference: a file whose content the index
already holds (an upload the app queued itself) is left alone, and a change is acted on once (a cancelled
job is not queued again until the file changes again).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.corpus.files import corpus_files, sha256_bytes
from retrieval.errors import RetrievalError
from retrieval.ingest.metadata import METADATA_FILE
from retrieval.text.tokenizer import USER_DICTIONARY_FILE

if TYPE_CHECKING:
    from retrieval.engine import SearchEngine

log = logging.getLogger(__name__)
WATCHER_USER = "watcher"
SETTINGS_FILES = (METADATA_FILE, USER_DICTIONARY_FILE)   # a change re-reads the whole corpus

Signature = tuple[int, int]              # (size, mtime_ns)


# A file must be this old (by modification time) before the watcher queues it: a write still going on, or an
# upload the app is about to queue itself, is left alone.
SETTLE_SECONDS = 2.0


class CorpusWatcher:
    """Queues add / replace / delete / rebuild jobs on `engine.indexing` for changes made outside the app."""

    def __init__(self, engine: "SearchEngine", interval: float = 1.0):
        self.engine = engine
        self.interval = interval
        self._settled: dict[str, Signature] = {}     # what was last acted on (or found already indexed)
        self._previous: dict[str, Signature] = {}    # what the last look saw
        self._removed: set[str] = set()              # indexed files gone from disk, removal already queued
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="corpus-watcher", daemon=True)
        self._thread.start()
        self._observer = self._start_observer()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
        if self._thread is not None:
            self._thread.join(10)

    def _start_observer(self):
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return None                  # polling alone still sees every change, a little later

        wake = self._wake

        class Wake(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                wake.set()

        observer = Observer()
        observer.schedule(Wake(), str(self.engine.corpus_dir), recursive=False)
        observer.daemon = True
        observer.start()
        return observer

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # noqa: BLE001 - a bad look (a file vanishing mid-scan) must not end the watcher
                log.exception("corpus watcher: checking %s failed", self.engine.corpus_dir)
            self._wake.wait(self.interval)
            self._wake.clear()

    def _signatures(self) -> dict[str, Signature]:
        corpus_dir = self.engine.corpus_dir
        paths = corpus_files(corpus_dir) + [corpus_dir / name for name in SETTINGS_FILES]
        signatures = {}
        for path in paths:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            signatures[path.name] = (stat.st_size, stat.st_mtime_ns)
        return signatures

    def check(self) -> list[str]:
        """One look: queue jobs for settled changes; returns the ids of the jobs queued."""
        current = self._signatures()
        previous, self._previous = self._previous, current
        busy = self.engine.indexing.pending_docs()
        if "" in busy:
            return []                    # a rebuild is queued or running: it reads everything anyway
        indexed = self.engine.manifest.get("corpus", {})
        documents = self.engine.documents
        queued = []
        now_ns = time.time_ns()
        for name, signature in current.items():
            if self._settled.get(name) == signature or previous.get(name) != signature:
                continue                 # acted on already, or still being written
            if now_ns - signature[1] < SETTLE_SECONDS * 1e9:
                continue                 # too fresh: the app queues its own uploads right after writing them
            if name in busy or (name in SETTINGS_FILES and busy):
                continue                 # a job of the app is on it (a removal edits metadata.yaml); look again after
            digest = sha256_bytes((self.engine.corpus_dir / name).read_bytes())
            self._settled[name] = signature
            if indexed.get(name) == digest:
                continue
            queued.append(self._queue(name, name in documents))
        for name in set(self._settled) - set(current):
            del self._settled[name]
        self._removed &= set(indexed) - set(current)        # a file that came back may be removed again
        for name in sorted(set(indexed) - set(current) - self._removed):
            if name in documents and name not in busy:
                self._removed.add(name)                      # once: a refused removal is not retried
                queued.append(self._queue_delete(name))
        return [job_id for job_id in queued if job_id]

    def _queue(self, name: str, indexed: bool) -> str:
        queue = self.engine.indexing
        try:
            if name in SETTINGS_FILES:
                return queue.rebuild(WATCHER_USER).job_id
            path = self.engine.corpus_dir / name
            job = queue.replace(path, WATCHER_USER) if indexed else queue.add(path, WATCHER_USER)
            return job.job_id
        except RetrievalError as error:
            log.warning("corpus watcher: cannot queue %s: %s", name, error)
            return ""

    def _queue_delete(self, name: str) -> str:
        try:
            return self.engine.indexing.delete(name, WATCHER_USER).job_id
        except RetrievalError as error:
            log.warning("corpus watcher: cannot queue the removal of %s: %s", name, error)
            return ""
