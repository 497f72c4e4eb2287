"""The search engine: a thin facade over ingestion, the index store and the search pipeline.

    retrieval/ingest/    files → documents → passages (reading, cleaning, chunking, tokens)
    retrieval/index/     the index store: a backend interface (backend.py), the local segments backend
                         (local.py, segment.py, bm25.py, dense.py) and how each backend is written (writer.py)
    retrieval/search/    the pipeline over one snapshot: analyse → retrieve → fuse → prefer → answer

The engine opens or builds the index, applies corpus changes one at a time (retrieval.jobs queues them
in the background), swaps immutable snapshots in, and hands questions to the pipeline. The index lives in
the local segments (backend "local", the default) or in Milvus (backend "milvus": milvus-lite for a `.db`
path, a server for http://host:19530; retrieval.index.milvus and milvus_writer).
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from retrieval.index import store
from retrieval.ingest.chunking import ChunkingConfig
from retrieval.corpus.files import SETTINGS_FILES, corpus_files, fingerprint, load_document, sha256_bytes
from retrieval.encode.encoders import DEFAULT_ENCODER, Encoder, EncoderPool, load_encoder
from retrieval.errors import BackendUnavailable, IngestError, IndexMismatch, IndexNotFound, InvalidQuery, RetrievalError  # noqa: F401
from retrieval.types import FigureRecord
from retrieval.index import vector_cache
from retrieval.index.manifest import CHUNKER_VERSION, domain_terms_hash, load_state
from retrieval.index.vector_cache import ENCODE_BATCH  # noqa: F401
from retrieval.index.progress import (EncodingPaused, IndexingCancelled, Pause, Phase, Progress, ShouldStop, Timing,
                                      never_stop, no_phase, no_progress, no_timing)
from retrieval.jobs import IndexingQueue
from retrieval.ingest.passages import FIGURES_VERSION, encoded_text, indexed_text  # noqa: F401  (kept importable from here)
from retrieval.ingest.readers import NOT_FOUND_ZH, READER_VERSION
from retrieval.ingest.metadata import METADATA_VERSION
from retrieval.corpus import deletion as corpus_deletion
from retrieval.corpus.audit import AuditLog
from retrieval.corpus.deletion import Deletion
from retrieval.corpus.overrides import load_overrides, remove_override, save_override
from retrieval.corpus.trash import Trash
from retrieval.search.retrievers import Retriever
from retrieval.index.state import IndexState, section_years  # noqa: F401
from retrieval.index.writer import WRITERS, IndexWriter, index_writer
from retrieval.search.pipeline import (CANDIDATES_PER_LEG, LEG_WEIGHTS, ORG_BONUS, PERIOD_BONUS,  # noqa: F401
                                       SENTENCE_WEIGHT, YEAR_BONUS, SearchPipeline)
from retrieval.text.tokenizer import TOKENIZER_NAME
from retrieval.types import LEGS, AskResult, Chunk, Document, DocumentMeta, Hit, QueryAnalysis  # noqa: F401
from retrieval.ingest.versions import VersionIndex
from retrieval.validation import MAX_K, MAX_QUESTION_CHARS, MAX_YEAR, MIN_YEAR, validate_request  # noqa: F401

log = logging.getLogger(__name__)
BACKENDS = tuple(WRITERS)



def backend_settings(backend: str | None, milvus_uri: str | None, index_dir: Path,
                     collection: str | None = None) -> tuple[str, str | None, str]:
    """(backend, Milvus URI, collection prefix) from the arguments, else RETRIEVAL_BACKEND / MILVUS_URI /
    MILVUS_COLLECTION, else local. A Milvus backend without a URI is milvus-lite in `<index>.milvus.db`."""
    from retrieval.index.milvus import DEFAULT_COLLECTION

    name = backend or os.environ.get("RETRIEVAL_BACKEND") or "local"
    if name not in BACKENDS:
        raise RetrievalError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r} "
                             "(--backend or RETRIEVAL_BACKEND)")
    if name == "local":
        return name, None, ""
    uri = milvus_uri or os.environ.get("MILVUS_URI") or f"{Path(index_dir)}.milvus.db"
    return name, uri, collection or os.environ.get("MILVUS_COLLECTION") or DEFAULT_COLLECTION


class SearchEngine:
    """Hybrid retrieval over one corpus directory and its index directory.

    Open it with `SearchEngine.open(corpus_dir, index_dir)`: the index is loaded, or built when it is
    missing or its settings changed; documents added, changed or removed since become one segment each.
    """

    def __init__(self, corpus_dir: Path, index_dir: Path, encoder: Encoder, state: IndexState,
                 chunking: ChunkingConfig, leg_weights: dict[str, float] | None = None,
                 writer_lock: store.IndexWriterLock | None = None, notes: tuple[str, ...] = (), writer=None):
        self.corpus_dir = Path(corpus_dir)
        # What writes the index, whatever the backend (retrieval.index.writer.IndexWriter).
        self._writer: IndexWriter = writer or index_writer("local")
        self.leg_weights = {**LEG_WEIGHTS, **(leg_weights or {})}
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.chunking = chunking
        self._state = state
        # Corpus changes one at a time, check to swap, and one writer of index_dir across processes.
        self._write_lock = writer_lock or store.IndexWriterLock(self.index_dir)
        self._encode_query = lru_cache(maxsize=1024)(self._encode_query_uncached)
        self.notes = tuple(notes)                # how opening repaired the index, if it had to
        self.indexing = IndexingQueue(self._apply_job, self._corpus_path, lambda doc_id: doc_id in self.documents)
        self._watcher = None
        self._versions = None                    # (snapshot, VersionIndex) of the last snapshot asked

    # ---------------------------------------------------------------- opening and building
    @classmethod
    def open(cls, corpus_dir: str | Path = "corpus", index_dir: str | Path = "index",
             encoder: Encoder | str | None = None, rebuild: str = "auto", progress: Progress = no_progress,
             chunking: ChunkingConfig = ChunkingConfig(),
             leg_weights: dict[str, float] | None = None, encoder_pool: int = 1, backend: str | None = None,
             milvus_uri: str | None = None, collection: str | None = None, timing: Timing = no_timing,
             catch_up: str = "now") -> "SearchEngine":
        """Load the index, or build it. rebuild: "auto" (when missing or stale), "always", or "never".

        catch_up: corpus files added, changed or removed while no engine was open (or whose indexing a kill
        interrupted before they were keyword-searchable) are indexed "now", before open returns, or in the
        "background" (the app: it answers at once from the index as it was, and the changes follow as a job).

        backend: "local" (default) or "milvus" (also RETRIEVAL_BACKEND); milvus_uri: a `.db` path (milvus-lite)
        or http://host:19530 (also MILVUS_URI; default `<index_dir>.milvus.db`); collection: the collections'
        name prefix (also MILVUS_COLLECTION; default "plans"). An unreachable server raises BackendUnavailable.

        leg_weights: RRF weight of each leg, {"bm25": 1.0, "dense": 1.0} by default.
        encoder_pool: with an encoder named by a string, how many instances of it answer questions in
        parallel (an EncoderPool); 1 shares one instance (on 2 cores a pool measured no faster).
        timing: given to a full build, which times its stages in it (see IndexWriter.full_build).
        """
        if rebuild not in ("auto", "always", "never"):
            raise ValueError(f"rebuild must be 'auto', 'always' or 'never', got {rebuild!r}")
        if catch_up not in ("now", "background"):
            raise ValueError(f"catch_up must be 'now' or 'background', got {catch_up!r}")
        if isinstance(encoder_pool, bool) or not isinstance(encoder_pool, int) or encoder_pool < 1:
            raise ValueError(f"encoder_pool must be a whole number of instances >= 1, got {encoder_pool!r}")
        corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
        backend, milvus_uri, collection = backend_settings(backend, milvus_uri, index_dir, collection)
        writer = index_writer(backend, milvus_uri, collection)

        def load() -> Encoder:
            if isinstance(encoder, Encoder):
                return encoder
            spec = encoder or DEFAULT_ENCODER
            return load_encoder(spec) if encoder_pool == 1 else EncoderPool(lambda: load_encoder(spec), encoder_pool)

        if writer.name == "local":
            return cls._open_local(writer, corpus_dir, index_dir, load, rebuild, progress, chunking, leg_weights,
                                   timing, catch_up)
        return cls._open_milvus(writer, corpus_dir, index_dir, load, rebuild, progress, chunking, leg_weights, timing)

    @classmethod
    def _open_local(cls, writer: IndexWriter, corpus_dir: Path, index_dir: Path, load: Callable[[], Encoder],
                    rebuild: str, progress: Progress, chunking: ChunkingConfig,
                    leg_weights: dict[str, float] | None, timing: Timing = no_timing,
                    catch_up: str = "now") -> "SearchEngine":
        """open() on the local segments: the manifest decides between loading, syncing changed files and a build;
        a damaged index is rebuilt, an interrupted swap recovered."""
        encoder = load()
        lock = store.IndexWriterLock(index_dir)
        notes: list[str] = []

        def note(message: str) -> None:
            notes.append(message)
            log.warning(message)
            progress(0.0, message)

        if not index_dir.exists():
            with lock:
                restored = store.recover_interrupted_swap(index_dir)
            if restored:
                note(restored)
        manifest = None
        if rebuild != "always":
            try:
                manifest = store.read_manifest(index_dir)
            except IndexMismatch as error:       # an unreadable manifest: the index is damaged
                if rebuild == "never":
                    raise
                note(f"{error}; rebuilding it")
        if manifest is not None:
            cls._check_encoder(manifest, encoder, index_dir)
        reasons = ["no index yet"] if manifest is None else cls._stale_reasons(manifest, corpus_dir, chunking)
        changed = [] if manifest is None else cls._changed_files(manifest, corpus_dir)
        if rebuild == "never" and (reasons or changed):
            error = IndexNotFound if manifest is None else IndexMismatch
            if changed:
                reasons.append(f"corpus changed: {', '.join(changed[:5])}{' …' if len(changed) > 5 else ''}")
            raise error(f"index in {index_dir} cannot be used: {'; '.join(reasons)}. Run `python -m retrieval build`.")
        state = None
        if rebuild != "always" and not reasons:
            try:
                state = cls._load_state(index_dir)
            except IndexMismatch:
                # Read again with the writer lock held: a writer swapping the directory mid-read looks like damage.
                try:
                    with lock:
                        state = cls._load_state(index_dir)
                except IndexMismatch as error:
                    if rebuild == "never":
                        raise
                    note(str(error))             # a damaged index (an edited or truncated file) is rebuilt
        synced = state is not None
        if state is None:
            with lock:
                state = writer.full_build(corpus_dir, index_dir, encoder, chunking, progress, timing=timing)
        engine = cls(corpus_dir, index_dir, encoder, state, chunking, leg_weights, writer_lock=lock, notes=tuple(notes),
                     writer=writer)
        if synced and changed and catch_up == "background":
            engine.indexing.sync()               # answer at once; the changes made meanwhile follow as a job
        elif synced and changed:
            engine._sync(progress)               # documents added, changed or removed while no engine was open
        if engine.dense_pending:
            engine.indexing.resume_encoding()    # an encoding a kill interrupted goes on in the background
        return engine

    @classmethod
    def _open_milvus(cls, writer: IndexWriter, corpus_dir: Path, index_dir: Path, load: Callable[[], Encoder],
                     rebuild: str, progress: Progress, chunking: ChunkingConfig,
                     leg_weights: dict[str, float] | None, timing: Timing = no_timing) -> "SearchEngine":
        """open() on Milvus: the collections' manifest decides between using them, syncing changed files and
        a full build, as the local manifest does."""
        from retrieval.index.milvus import MilvusBackend
        from retrieval.index.milvus_writer import load_state

        uri, collection = writer.uri, writer.prefix
        remote = MilvusBackend.open(uri, collection)    # fails at once when the server is unreachable
        encoder = load()
        manifest = remote.read_manifest() if remote is not None and rebuild != "always" else None
        where = f"Milvus {uri} ({collection}_*)"
        if manifest is not None:
            cls._check_encoder(manifest, encoder, where)
        reasons = ["no index yet"] if manifest is None else cls._stale_reasons(manifest, corpus_dir, chunking)
        if manifest is not None and manifest.get("backend", {}).get("analyzer") != writer.analyzer:
            reasons.append(f"BM25 analyzer {manifest.get('backend', {}).get('analyzer')} != {writer.analyzer}")
        changed = [] if manifest is None else cls._changed_files(manifest, corpus_dir)
        if rebuild == "never" and (reasons or changed):
            error = IndexNotFound if manifest is None else IndexMismatch
            raise error(f"index in {where} cannot be used: {'; '.join(reasons + changed[:5])}. "
                        "Run `python -m retrieval --backend milvus build`.")
        lock = store.IndexWriterLock(index_dir)
        if reasons:
            if remote is not None:
                remote.close()
            with lock:
                state = writer.full_build(corpus_dir, index_dir, encoder, chunking, progress, timing=timing)
        else:
            state = load_state(remote, manifest)
        engine = cls(corpus_dir, index_dir, encoder, state, chunking, leg_weights, writer_lock=lock, writer=writer)
        if changed:
            engine._sync(progress)
        return engine

    @staticmethod
    def _check_encoder(manifest: dict, encoder: Encoder, index_dir: Path) -> None:
        built = manifest.get("encoder", {})
        if built.get("model_id") != encoder.model_id or built.get("dim") != encoder.dim:
            raise IndexMismatch(
                f"index in {index_dir} was built with encoder {built.get('model_id')} (dim {built.get('dim')}), "
                f"but {encoder.model_id} (dim {encoder.dim}) was asked for. Open it with the same encoder, or "
                f"rebuild: `python -m retrieval build --force --encoder ...`")

    @staticmethod
    def _stale_reasons(manifest: dict, corpus_dir: Path, chunking: ChunkingConfig) -> list[str]:
        """Why the index must be built again from the whole corpus ([] when it is current or a sync will do)."""
        reasons = []
        if manifest.get("format_version") != store.INDEX_FORMAT:
            reasons.append(f"index format {manifest.get('format_version')} != {store.INDEX_FORMAT}")
        if manifest.get("chunking") != {**asdict(chunking), "version": CHUNKER_VERSION}:
            reasons.append("chunking settings changed")
        reader = manifest.get("ingest", {}).get("reader_version", 1)
        if reader != READER_VERSION:
            reasons.append(f"document reader {reader} != {READER_VERSION}")
        derived = manifest.get("ingest", {}).get("metadata_version", 1)
        if derived != METADATA_VERSION:
            reasons.append(f"document metadata {derived} != {METADATA_VERSION}")
        figures = manifest.get("figures", {}).get("version")
        if figures != FIGURES_VERSION:
            reasons.append(f"figure records {figures} != {FIGURES_VERSION}")
        if manifest.get("dense", {}).get("passage_vector") != vector_cache.PASSAGE_VECTORS:
            reasons.append(f"passage vectors {manifest.get('dense', {}).get('passage_vector')} != {vector_cache.PASSAGE_VECTORS}")
        if manifest.get("tokenizer", {}).get("name") != TOKENIZER_NAME:
            reasons.append(f"tokenizer {manifest.get('tokenizer', {}).get('name')} != {TOKENIZER_NAME}")
        if manifest.get("tokenizer", {}).get("domain_terms_hash") != domain_terms_hash():
            reasons.append("domain dictionary changed")
        # Only the settings files are hashed here; the documents once, by _changed_files (619 MB at 1M passages).
        built = manifest.get("corpus", {})
        current = {name: sha256_bytes((corpus_dir / name).read_bytes()) for name in SETTINGS_FILES
                   if (corpus_dir / name).is_file()}
        settings = [name for name in SETTINGS_FILES if current.get(name) != built.get(name)]
        if settings:
            reasons.append(f"corpus changed: {', '.join(settings)}")
        return reasons

    @staticmethod
    def _changed_files(manifest: dict, corpus_dir: Path) -> list[str]:
        """Document files added, changed or removed since the index was written, by name."""
        current, built = fingerprint(corpus_dir), manifest.get("corpus", {})
        return sorted(name for name in set(current) | set(built)
                      if name not in SETTINGS_FILES and current.get(name) != built.get(name))

    @staticmethod
    def _load_state(index_dir: Path) -> IndexState:
        try:
            return load_state(index_dir, store.verify_index(index_dir))
        except (IndexNotFound, IndexMismatch):
            raise
        except (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError) as error:
            raise IndexMismatch(f"index in {index_dir} is damaged ({type(error).__name__}: {error}): "
                                "rebuild with `python -m retrieval build --force`") from error

    def rebuild(self, progress: Progress = no_progress, *, phase: Phase = no_phase,
                should_stop: ShouldStop = never_stop) -> None:
        """Re-read the whole corpus directory, learn its dictionary again and swap in the new index
        (only changed passages are encoded)."""
        self._change(lambda state, publish: self._writer.full_build(
            self.corpus_dir, self.index_dir, self.encoder, self.chunking, progress, state, publish=publish,
            phase=phase, should_stop=should_stop), progress)

    def _change(self, apply: Callable[[IndexState, Callable[[IndexState], None]], IndexState],
                progress: Progress = no_progress) -> None:
        """The one path of every index change: under the writer lock, apply it to the current snapshot and swap
        the result in, then merge segments if the change left too many. A cancelled or failed change swaps the
        previous snapshot back, so the index stays as it was.
        """
        def waiting(holder: dict) -> None:
            progress(0.0, f"等待另一个写入者完成（pid {holder.get('pid', '?')}，{holder.get('host', '?')}，"
                          f"自 {holder.get('since', '?')}）")

        self._write_lock.acquire(waiting)
        try:
            self._catch_up()
            previous = self._state

            def publish(state: IndexState) -> None:
                self._state = state

            try:
                self._state = apply(previous, publish)
            except BaseException:
                self._state = previous
                raise
            self._state = self._writer.compact(self._state, self.index_dir)
        finally:
            self._write_lock.release()

    def _catch_up(self) -> None:
        """Load the index another writer (engine or process) saved since this snapshot, so its change is kept.

        Called with the writer lock held: nobody else writes until this engine's change is saved.
        """
        if self._state.remote is not None:
            return                               # Milvus: every writer changes the same collections
        try:
            on_disk = store.read_manifest(self.index_dir)
        except IndexMismatch:
            return                               # unreadable: this engine's change will write a whole new index
        if on_disk is not None and on_disk.get("files") != self._state.manifest.get("files"):
            self._state = self._load_state(self.index_dir)

    def _sync(self, progress: Progress = no_progress, background: bool = False) -> None:
        """Bring the index up to the corpus directory file by file: new or changed files become segments,
        removed ones are marked deleted; no other document is read again. `background` (a job of the
        indexing queue): big documents are made keyword-searchable and their vectors left to an "encode" job."""
        names = self._changed_files(self._state.manifest, self.corpus_dir)
        present = {path.name for path in corpus_files(self.corpus_dir)}
        for name in names:
            path = self.corpus_dir / name
            if name in present:
                try:
                    self._add(path, progress, no_phase, never_stop, background)
                except IngestError as error:
                    self._record_unreadable(path, error)
            else:
                self._change(lambda state, _: self._writer.remove_documents(state, self.corpus_dir, self.index_dir,
                                                                            [name], [name]))

    def _add(self, path: Path, progress: Progress, phase: Phase,
             should_stop: ShouldStop, background: bool = False) -> None:
        self._change(lambda state, publish: self._writer.add_document(
            state, self.corpus_dir, self.index_dir, path, self.encoder, self.chunking, progress, publish=publish,
            phase=phase, should_stop=should_stop, background=background), progress)

    def _apply_job(self, kind: str, target, progress: Progress, phase: Phase,
                   should_stop: ShouldStop, pause: Pause = never_stop) -> str:
        """Run one IndexingQueue job in the worker thread; returns the message of a finished job.

        `pause()` says other jobs are waiting: an encoding gives way to them (EncodingPaused) after a batch.
        """
        if kind in ("add", "replace"):
            try:
                meta = self.add_document(target, progress, phase=phase, should_stop=should_stop, background=True)
            except IngestError as error:
                self._record_unreadable(target, error)
                raise
            if target.name in self.dense_pending:
                self.indexing.resume_encoding()   # a big document: its vectors give way to other jobs
                return f"已可按关键词检索：{meta.title}（向量在后台编码）"
            return f"完成：{meta.title}"
        if kind == "sync":
            self._sync(progress, background=True)
            return "已补上停机期间的语料变化"
        if kind == "delete":
            self.remove_document(target, progress, phase=phase, should_stop=should_stop)
            return f"已删除：{target}"
        if kind == "rebuild":
            self.rebuild(progress, phase=phase, should_stop=should_stop)
            return "索引已重建"
        if kind == "encode":
            phase("encoding")
            self._change(lambda state, _: self._writer.finish_encoding(state, self.index_dir, self.encoder, progress,
                                                                       should_stop=should_stop, pause=pause),
                         progress)
            if self.dense_pending:
                raise EncodingPaused()           # other jobs first; the queue runs this one again after them
            return "向量编码完成"
        raise RetrievalError(f"unknown indexing job kind {kind!r}")

    def _record_unreadable(self, path: Path, error: IngestError) -> None:
        """Note an unreadable corpus file in the manifest, as a start does: these bytes are not tried again
        (by the watcher or the next start) until the file changes."""
        try:
            digest = sha256_bytes(path.read_bytes())
        except OSError:
            return                               # gone (a cancelled upload): nothing to note
        self._change(lambda state, _: self._writer.record_unreadable(state, self.index_dir, path.name, digest,
                                                                     error.reason))

    @property
    def dense_pending(self) -> tuple[str, ...]:
        """Documents searchable by BM25 only at the moment: their vectors are being encoded."""
        return self._state.dense_pending

    def start_watching(self, interval: float = 1.0) -> None:
        """Pick up files copied into, edited in or removed from the corpus directory outside the app."""
        from retrieval.corpus.watch import CorpusWatcher

        if self._watcher is None:
            self._watcher = CorpusWatcher(self, interval)
            self._watcher.start()

    def stop_watching(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def close(self) -> None:
        """Stop the corpus watcher and the indexing worker (a running job stops at its next batch); close the
        connection to Milvus, if any."""
        self.stop_watching()
        self.indexing.close()
        if self._state.remote is not None:
            self._state.remote.close()

    @property
    def backend_name(self) -> str:
        return "local" if self._state.remote is None else "milvus"

    # ---------------------------------------------------------------- corpus management
    def _corpus_path(self, path: str | Path) -> Path:
        path = Path(path)
        if path.resolve().parent != self.corpus_dir.resolve():
            raise RetrievalError(f"{path} is not inside the corpus directory {self.corpus_dir}")
        return path

    def add_document(self, path: str | Path, progress: Progress = no_progress, *,
                     phase: Phase = no_phase,
                     should_stop: ShouldStop = never_stop, background: bool = False) -> DocumentMeta:
        """Index a file already written into the corpus directory (new, or a new version of an indexed one).

        `background` (the indexing queue): encode only this document's vectors, and none for a big one (they are
        left to an "encode" job). Raises IngestError if it is unreadable, before the index is touched.
        """
        path = self._corpus_path(path)
        with self._write_lock:
            if not path.exists():
                raise IngestError(path.name, "does not exist (any more): nothing to index", NOT_FOUND_ZH)
            load_document(path, load_overrides(self.corpus_dir).get(path.name))   # fail before touching the index
            self._add(path, progress, phase, should_stop, background)
            return self.documents[path.name].meta

    replace_document = add_document

    def delete_document(self, doc_id: str, user: str = "", *, trash: Trash | None = None,
                        audit: AuditLog | None = None) -> Deletion:
        """Delete a document, whole (retrieval.corpus.deletion): its file and metadata entry to the trash, the audit
        line, and its removal from the index queued (remove_document runs it). Returns the trash entry and the job.

        Raises DeletionRefused (with message_zh) when it is not indexed, is the last document, or its file is gone.
        """
        return corpus_deletion.delete_document(self.corpus_dir, doc_id, user, indexed=self.documents,
                                               queue_removal=self.indexing.delete, trash=trash, audit=audit)

    def remove_document(self, doc_id: str, progress: Progress = no_progress, *,
                        phase: Phase = no_phase,
                        should_stop: ShouldStop = never_stop) -> None:
        """Take a document out of the index, then delete its corpus file and metadata entry.

        Its passages are marked deleted in the index first (no other document is touched), so a cancelled
        or failed removal leaves the index and the corpus as they were.
        """
        with self._write_lock:
            if doc_id not in self.documents:
                raise RetrievalError(f"no document {doc_id!r} in the index")
            if len(self.documents) == 1:
                raise RetrievalError("cannot delete the last document: the index needs at least one")
            # The metadata entry goes before the build, so the manifest records metadata.yaml as it will stay.
            override = load_overrides(self.corpus_dir).get(doc_id)
            if override is not None:
                remove_override(self.corpus_dir, doc_id)
            try:
                if should_stop():
                    raise IndexingCancelled()
                self._change(lambda state, _: self._writer.remove_documents(state, self.corpus_dir, self.index_dir,
                                                                            [doc_id]), progress)
            except BaseException:
                if override is not None:
                    save_override(self.corpus_dir, doc_id, **override)
                raise
            (self.corpus_dir / doc_id).unlink(missing_ok=True)

    def update_metadata(self, doc_id: str, aliases: list[str] | None = None, years: list[int] | None = None,
                        progress: Progress = no_progress) -> DocumentMeta:
        """Set a document's extra aliases and/or years in corpus/metadata.yaml, then re-index."""
        if years is not None and not all(isinstance(y, int) and not isinstance(y, bool) and MIN_YEAR <= y <= MAX_YEAR
                                        for y in years):
            raise RetrievalError(f"years must be whole years between {MIN_YEAR} and {MAX_YEAR}, got {years}")
        clean_aliases = None if aliases is None else [a.strip() for a in aliases if a and a.strip()]
        with self._write_lock:
            if doc_id not in self.documents:
                raise RetrievalError(f"no document {doc_id!r} in the index")
            save_override(self.corpus_dir, doc_id, aliases=clean_aliases, years=years)
            self.rebuild(progress)
            return self.documents[doc_id].meta

    # ---------------------------------------------------------------- reading
    @property
    def documents(self) -> dict[str, Document]:
        return self._state.documents

    @property
    def chunks(self) -> dict[str, Chunk]:
        return self._state.chunks

    @property
    def manifest(self) -> dict:
        return self._state.manifest

    def figures(self, doc_id: str) -> tuple[FigureRecord, ...]:
        """The figure records of a document's live passages (retrieval.answer.figures), in passage order."""
        return self._state.figures_by_document[doc_id]

    def chunk_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for chunk in self._state.chunks.values():
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
        return counts

    def _version_index(self, state) -> VersionIndex:
        """Which documents of a snapshot are versions of one another, kept with the snapshot it describes."""
        cached = self._versions
        if cached is None or cached[0] is not state:
            cached = self._versions = (state, VersionIndex(state.documents, self.added_at))
        return cached[1]

    def added_at(self, doc_id: str) -> float:
        """When a document's file was stored in the corpus (its modification time; 0 when it is gone)."""
        try:
            return (self.corpus_dir / doc_id).stat().st_mtime
        except OSError:
            return 0.0

    def analyze(self, question: str) -> QueryAnalysis:
        return SearchPipeline(self._state, self._encode_query).analyze(question)

    def fact_terms(self, question: str) -> dict[str, float]:
        """The question's content words and their idf, as the fact step weighs them (eval/facts.py trains on them)."""
        return SearchPipeline(self._state, self._encode_query).fact_terms(question)

    def clear_query_cache(self) -> None:
        """Forget cached query vectors (benchmarks time query encoding this way)."""
        self._encode_query.cache_clear()

    def _encode_query_uncached(self, question: str) -> np.ndarray:
        return self.encoder.encode_queries([question])[0]

    @staticmethod
    def _check_question(question: str, k: int, year: int | None = None, org: str | None = None) -> str:
        """The stripped question, or InvalidQuery (see retrieval.validation.validate_request)."""
        return validate_request(question, k, year, org)

    def retrievers(self) -> dict[str, Retriever]:
        """The "bm25", "dense" and "hybrid" retrievers over the current index."""
        return {r.name: r for r in SearchPipeline(self._state, self._encode_query, self.leg_weights).retrievers()}

    def search(self, question: str, k: int = 10, leg: str = "hybrid", org: str | None = None,
               year: int | None = None) -> list[Hit]:
        """Top k passages of one leg ("bm25", "dense" or "hybrid")."""
        if leg not in LEGS:
            raise InvalidQuery(f"leg must be one of {LEGS}, got {leg!r}")
        return list(self.ask(question, k=k, org=org, year=year, legs=(leg,), with_answer=False).legs[leg])

    def ask(self, question: str, k: int = 5, org: str | None = None, year: int | None = None,
            legs: tuple[str, ...] = LEGS, with_answer: bool = True) -> AskResult:
        """Answer a question: the extracted answer (None = 未找到) and the top k passages of each leg.

        `org` (a doc_id) and `year` are hard filters from the app; organisations and years named in the
        question itself are soft preferences.
        """
        question = self._check_question(question, k, year, org)
        state = self._state
        if org is not None and org not in state.documents:
            raise InvalidQuery(f"unknown document {org!r}; known: {sorted(state.documents)}")
        pipeline = SearchPipeline(state, self._encode_query, self.leg_weights, self._version_index(state))
        return pipeline.ask(question, k, org, year, legs, with_answer)

    def compare(self, question: str):
        """A comparison across organisations or years (retrieval.search.compare.Comparison), or None when the question
        asks none (then ask() answers it). Cells come from the index's figure records, looked up by document;
        an index without them falls back to one scoped search per document and year."""
        from retrieval.search import compare
        from retrieval.search.pipeline import org_matcher

        question = self._check_question(question, 5)
        state = self._state
        return compare.compare(question, state.documents, state.chunks, compare.source_for(state, self.ask),
                               matcher=org_matcher(state), known_places=compare.known_places())
