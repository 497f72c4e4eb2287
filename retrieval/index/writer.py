"""How the engine changes an index, whatever the backend: the IndexWriter protocol, and each backend's writer by name.

Every call takes the current snapshot and returns the new one; the engine calls them under its writer lock.
(Beside backend.py rather than in it: the protocol names IndexState, and index/state.py reads backend.py.)
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, Sequence

from retrieval.encode.encoders import Encoder
from retrieval.errors import RetrievalError
from retrieval.index.progress import Pause, Phase, Progress, ShouldStop, Timing, never_stop, no_phase, no_progress, no_timing
from retrieval.index.state import IndexState
from retrieval.ingest.chunking import ChunkingConfig

Publish = Callable[[IndexState], None]       # swaps in a snapshot searchable by BM25 before its vectors are encoded


class IndexWriter(Protocol):
    """The writes of one backend (the local segments, Milvus); `name` is the backend's."""

    name: str

    def full_build(self, corpus_dir: Path, index_dir: Path, encoder: Encoder, chunking: ChunkingConfig,
                   progress: Progress = no_progress, previous: IndexState | None = None, *,
                   publish: Publish | None = None, phase: Phase = no_phase, should_stop: ShouldStop = never_stop,
                   exclude: frozenset[str] = frozenset(), timing: Timing = no_timing) -> IndexState:
        """The whole corpus (without `exclude`) read, its dictionary learned, written; unchanged vectors reused.
        `timing(stage)` wraps the "fingerprint" and "read_clean" stages (the bench times them)."""

    def add_document(self, state: IndexState, corpus_dir: Path, index_dir: Path, path: Path, encoder: Encoder,
                     chunking: ChunkingConfig, progress: Progress = no_progress, *, publish: Publish | None = None,
                     phase: Phase = no_phase, should_stop: ShouldStop = never_stop,
                     background: bool = False) -> IndexState:
        """One document, new or a new version (its earlier passages leave the index); IngestError if unreadable.
        `background` (a job of the indexing queue): the writer may leave vectors for finish_encoding to encode."""

    def remove_documents(self, state: IndexState, corpus_dir: Path, index_dir: Path, doc_ids: Sequence[str],
                         forget_files: Sequence[str] = ()) -> IndexState:
        """The documents' passages out of the index; `forget_files` leave the manifest's corpus record too."""

    def record_unreadable(self, state: IndexState, index_dir: Path, name: str, digest: str,
                          reason: str) -> IndexState:
        """A corpus file that cannot be read: its old passages (if any) leave the index, the reason is recorded."""

    def finish_encoding(self, state: IndexState, index_dir: Path, encoder: Encoder, progress: Progress = no_progress,
                        *, should_stop: ShouldStop = never_stop, pause: Pause = never_stop) -> IndexState:
        """Vectors a kill or restart left unencoded, encoded now (the snapshot itself when none are missing)."""

    def compact(self, state: IndexState, index_dir: Path) -> IndexState:
        """After a change: merge what the backend's policy says to merge (the snapshot itself when nothing)."""


def _local(uri: str | None, collection: str) -> IndexWriter:
    from retrieval.index.local_writer import LocalWriter

    return LocalWriter()


def _milvus(uri: str | None, collection: str) -> IndexWriter:
    from retrieval.index.milvus_writer import MilvusWriter

    return MilvusWriter(uri, collection)


# backend name → the writer of an index there, given the server URI and collection prefix (Milvus only)
WRITERS: dict[str, Callable[[str | None, str], IndexWriter]] = {"local": _local, "milvus": _milvus}


def index_writer(backend: str, uri: str | None = None, collection: str = "") -> IndexWriter:
    """The writer of the named backend."""
    try:
        make = WRITERS[backend]
    except KeyError:
        raise RetrievalError(f"no index writer for backend {backend!r}; known: {', '.join(WRITERS)}") from None
    return make(uri, collection)
