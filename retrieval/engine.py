"""The search engine: builds or loads the index, runs the BM25 and dense legs, fuses them, answers."""
from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from retrieval import store
from retrieval.answer import answer_units, extract_answer
from retrieval.bm25 import BM25Index
from retrieval.chunking import ChunkingConfig, chunk_document
from retrieval.corpus import fingerprint, load_corpus, load_document
from retrieval.encoders import DEFAULT_ENCODER, Encoder, EncoderPool, load_encoder
from retrieval.errors import IndexDamaged, IndexMismatch, IndexNotFound, InvalidQuery, RetrievalError
from retrieval.indexing import IndexingCancelled, IndexingQueue
from retrieval.fusion import RRF_K
from retrieval.retrievers import BM25Retriever, DenseRetriever, HybridRetriever, Retriever
from retrieval.metadata import load_overrides, remove_override, save_override
from retrieval.orgs import OrganisationMatcher, organisation_names
from retrieval.query import analyze_query, strip_organisations
from retrieval.tokenizer import USER_DICTIONARY_FILE, JiebaTokenizer, _read_terms, learn_terms
from retrieval.types import LEGS, AskResult, Chunk, Document, DocumentMeta, Hit, QueryAnalysis
from retrieval.validation import MAX_K, MAX_QUESTION_CHARS, MAX_YEAR, MIN_YEAR, validate_request  # noqa: F401

CHUNKER_VERSION = 2   # 2: numbered items are body text; title parts recorded as heading_spans
CANDIDATES_PER_LEG = 50
ENCODE_BATCH = 32                 # passages encoded between two cancellation checks / progress reports
# Query-aware preferences, in units of the RRF score (rank 1 of one leg is 1/61 ≈ 0.016):
# a named organisation puts its plan first; a named year or half-year prefers the matching plan or section.
ORG_BONUS = 0.05
YEAR_BONUS = 0.02
PERIOD_BONUS = 0.02
LEG_WEIGHTS = {"bm25": 1.0, "dense": 1.0}
# The dense leg scores a passage by its own vector and by its best sentence ("answer unit"), half each:
# a 200-character passage about several things is found by the one sentence that matches.
SENTENCE_WEIGHT = 0.5

Progress = Callable[[float, str], None]
log = logging.getLogger(__name__)


def _no_progress(fraction: float, message: str) -> None:
    pass


def _no_phase(name: str) -> None:
    pass


def _never_stop() -> bool:
    return False


def indexed_text(document: Document, chunk: Chunk) -> str:
    """What BM25 sees: the document title and section path give a passage its context words."""
    return f"{document.meta.title}\n{' '.join(chunk.section_path)}\n{chunk.text}"


def encoded_text(chunk: Chunk) -> str:
    """What the encoder sees: the passage alone (on dev, headings in the input blurred the vectors)."""
    return chunk.text


def section_years(chunk: Chunk, document: Document) -> tuple[int, ...]:
    """Years a passage is about: those in its section headings (004 has a 2020 part and a 2021 part), else the plan's."""
    years = {int(y) for heading in chunk.section_path for y in re.findall(r"(20\d{2})\s*年", heading)}
    return tuple(sorted(years)) or document.meta.years


@dataclass(frozen=True, eq=False)
class IndexState:
    """One immutable snapshot of the index; searches read it while an update builds the next one."""

    manifest: dict
    documents: dict[str, Document]
    chunks: dict[str, Chunk]
    chunk_ids: list[str]
    tokenizer: JiebaTokenizer
    bm25: BM25Index
    dense: object            # faiss.Index over passage vectors
    embeddings: np.ndarray
    embedding_keys: list[str]
    unit_dense: object       # faiss.Index over answer-unit (sentence) vectors
    unit_embeddings: np.ndarray
    unit_spans: np.ndarray   # rows of (passage row, start, end) in passage text
    unit_keys: list[str]
    # Documents with passages that have no vectors yet: the dense leg does not see them (they sit after
    # the last row of the FAISS indexes), BM25 does. Empty once encoding has finished.
    dense_pending: tuple[str, ...] = ()

    def unit_row(self, chunk_row: int, start: int) -> int | None:
        return self._unit_rows.get((chunk_row, start))

    @cached_property
    def _unit_rows(self) -> dict[tuple[int, int], int]:
        return {(int(c), int(s)): i for i, (c, s, _) in enumerate(self.unit_spans)}

    @cached_property
    def chunk_rows(self) -> dict[str, int]:
        return {chunk_id: i for i, chunk_id in enumerate(self.chunk_ids)}

    @cached_property
    def chunk_years(self) -> dict[str, tuple[int, ...]]:
        return {c.chunk_id: section_years(c, self.documents[c.doc_id]) for c in self.chunks.values()}

    @cached_property
    def organisation_names(self) -> dict[str, DocumentMeta]:
        return {doc_id: doc.meta for doc_id, doc in self.documents.items()}

    @cached_property
    def org_matcher(self) -> OrganisationMatcher:
        """Every document's organisation names in one automaton, built once per snapshot."""
        return OrganisationMatcher(self.organisation_names)

    @cached_property
    def document_years(self) -> dict[str, frozenset[int]]:
        """Years each document covers: its own and those its sections are about (a 总结 part and a 计划 part)."""
        years: dict[str, set[int]] = {doc_id: set(doc.meta.years) for doc_id, doc in self.documents.items()}
        for chunk_id, chunk in self.chunks.items():
            years[chunk.doc_id].update(self.chunk_years[chunk_id])
        return {doc_id: frozenset(found) for doc_id, found in years.items()}

    @classmethod
    def from_loaded(cls, loaded: store.LoadedIndex, tokenizer: JiebaTokenizer) -> "IndexState":
        return cls(loaded.manifest, loaded.documents, {c.chunk_id: c for c in loaded.chunks},
                   [c.chunk_id for c in loaded.chunks], tokenizer, loaded.bm25, loaded.dense, loaded.embeddings,
                   loaded.embedding_keys, loaded.unit_dense, loaded.unit_embeddings, loaded.unit_spans,
                   loaded.unit_keys)


class SearchEngine:
    """Hybrid retrieval over one corpus directory and its index directory.

    Open it with `SearchEngine.open(corpus_dir, index_dir)`: the index is loaded, or (re)built when it
    is missing or the corpus changed; only passages whose text changed are encoded again.
    """

    def __init__(self, corpus_dir: Path, index_dir: Path, encoder: Encoder, state: IndexState,
                 chunking: ChunkingConfig, leg_weights: dict[str, float] | None = None,
                 writer_lock: store.IndexWriterLock | None = None, notes: tuple[str, ...] = ()):
        self.corpus_dir = Path(corpus_dir)
        self.leg_weights = {**LEG_WEIGHTS, **(leg_weights or {})}
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.chunking = chunking
        self._state = state
        # Corpus changes one at a time, check to swap, and one writer of index_dir across processes.
        self._write_lock = writer_lock or store.IndexWriterLock(self.index_dir)
        self._encode_query = lru_cache(maxsize=1024)(self._encode_query_uncached)
        self.notes = tuple(notes)                # how opening repaired the index, if it had to
        self.indexing = IndexingQueue(self)
        self._watcher = None

    # ---------------------------------------------------------------- opening and building
    @classmethod
    def open(cls, corpus_dir: str | Path = "corpus", index_dir: str | Path = "index",
             encoder: Encoder | str | None = None, rebuild: str = "auto", progress: Progress = _no_progress,
             chunking: ChunkingConfig = ChunkingConfig(),
             leg_weights: dict[str, float] | None = None, encoder_pool: int = 1) -> "SearchEngine":
        """Load the index, or build it. rebuild: "auto" (when missing or stale), "always", or "never".

        leg_weights: RRF weight of each leg, {"bm25": 1.0, "dense": 1.0} by default.
        encoder_pool: with an encoder named by a string, how many instances of it answer questions in
        parallel (an EncoderPool); 1 shares one instance (on 2 cores a pool measured no faster).
        """
        if rebuild not in ("auto", "always", "never"):
            raise ValueError(f"rebuild must be 'auto', 'always' or 'never', got {rebuild!r}")
        if isinstance(encoder_pool, bool) or not isinstance(encoder_pool, int) or encoder_pool < 1:
            raise ValueError(f"encoder_pool must be a whole number of instances >= 1, got {encoder_pool!r}")
        corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
        if not isinstance(encoder, Encoder):
            spec = encoder or DEFAULT_ENCODER
            encoder = (load_encoder(spec) if encoder_pool == 1
                       else EncoderPool(lambda: load_encoder(spec), encoder_pool))
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
        if rebuild == "never" and reasons:
            error = IndexNotFound if manifest is None else IndexMismatch
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
        if state is None:
            with lock:
                state = cls._build_state(corpus_dir, index_dir, encoder, chunking, progress)
        return cls(corpus_dir, index_dir, encoder, state, chunking, leg_weights, writer_lock=lock, notes=tuple(notes))

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
        reasons = []
        if manifest.get("format_version") != store.INDEX_FORMAT:
            reasons.append(f"index format {manifest.get('format_version')} != {store.INDEX_FORMAT}")
        if manifest.get("chunking") != {**asdict(chunking), "version": CHUNKER_VERSION}:
            reasons.append("chunking settings changed")
        current = fingerprint(corpus_dir)
        built = manifest.get("corpus", {})
        changed = sorted(name for name in set(current) | set(built) if current.get(name) != built.get(name))
        if changed:
            reasons.append(f"corpus changed: {', '.join(changed[:5])}{' …' if len(changed) > 5 else ''}")
        if manifest.get("tokenizer", {}).get("domain_terms_hash") != _domain_terms_hash():
            reasons.append("domain dictionary changed")
        return reasons

    @staticmethod
    def _load_state(index_dir: Path) -> IndexState:
        loaded = store.load_index(index_dir)
        tokenizer = JiebaTokenizer(loaded.terms)
        if tokenizer.dictionary_hash != loaded.manifest["tokenizer"]["dictionary_hash"]:
            raise IndexMismatch(f"dictionary in {index_dir} does not match its manifest: rebuild the index")
        return IndexState.from_loaded(loaded, tokenizer)

    @classmethod
    def _build_state(cls, corpus_dir: Path, index_dir: Path, encoder: Encoder, chunking: ChunkingConfig,
                     progress: Progress, previous: IndexState | None = None, *,
                     publish: Callable[[IndexState], None] | None = None, phase: Callable[[str], None] = _no_phase,
                     should_stop: Callable[[], bool] = _never_stop, exclude: frozenset[str] = frozenset()
                     ) -> IndexState:
        """Read, chunk and index the corpus (without the `exclude` documents), encode what is new, save.

        Call it with the writer lock held. When vectors are missing, `publish` first receives a state in
        which the new passages are searchable by BM25 only. `should_stop` is asked at every batch
        boundary; when it says yes, IndexingCancelled is raised and nothing is saved.
        """
        import faiss

        started = time.perf_counter()
        phase("chunking")
        progress(0.0, "读取文档")
        prints = {name: digest for name, digest in fingerprint(corpus_dir).items() if name not in exclude}
        loaded = load_corpus(corpus_dir)
        documents = {doc_id: d for doc_id, d in loaded.documents.items() if doc_id not in exclude}
        skipped = {name: reason for name, reason in loaded.errors.items() if name not in exclude}
        chunks: list[Chunk] = []
        for document in documents.values():
            chunks.extend(chunk_document(document.doc_id, document.text, chunking))
        if not chunks:
            raise RetrievalError(f"no readable documents in {corpus_dir}"
                                 + (f" (unreadable: {skipped})" if skipped else ""))
        progress(0.1, f"{len(documents)} 篇文档，{len(chunks)} 段")
        names = [n for d in documents.values() for n in organisation_names(d.meta)]
        terms = learn_terms((d.text for d in documents.values()),
                            extra=[*names, *_read_terms(corpus_dir / USER_DICTIONARY_FILE)])
        tokenizer = JiebaTokenizer(terms)
        tokens = {c.chunk_id: tokenizer(indexed_text(documents[c.doc_id], c)) for c in chunks}
        bm25 = BM25Index.build([tokens[c.chunk_id] for c in chunks])
        progress(0.2, "BM25 索引完成")
        if should_stop():
            raise IndexingCancelled()

        cache = cls._embedding_cache(index_dir, encoder, previous, progress)
        units = {c.chunk_id: answer_units(c.text) for c in chunks}
        inputs = [encoded_text(c) for c in chunks] + [c.text[s:e] for c in chunks for s, e in units[c.chunk_id]]
        keys = [store.text_key(t) for t in inputs]
        missing = list(dict.fromkeys(key for key in keys if key not in cache))
        text_of = dict(zip(keys, inputs))
        if missing and publish is not None:
            ready = [c for c in chunks if store.text_key(encoded_text(c)) in cache
                     and all(store.text_key(c.text[s:e]) in cache for s, e in units[c.chunk_id])]
            ready_ids = {c.chunk_id for c in ready}
            pending = [c for c in chunks if c.chunk_id not in ready_ids]
            calibration = (previous.manifest["dense"]["query_unit_similarity"] if previous is not None
                           else {"mean": 0.0, "std": 1.0, "sample": 0})
            if ready:                    # with nothing encoded yet (all new chunking), the old state serves on
                publish(cls._searchable_state(ready + pending, len(ready), documents, tokenizer, tokens, units,
                                              cache, encoder, calibration, prints, skipped, chunking, terms))
        phase("encoding")
        for done in range(0, len(missing), ENCODE_BATCH):
            if should_stop():
                raise IndexingCancelled()
            rows = missing[done:done + ENCODE_BATCH]
            for key, vector in zip(rows, encoder.encode_documents([text_of[k] for k in rows])):
                cache[key] = vector
            progress(0.2 + 0.75 * min(1.0, (done + len(rows)) / len(missing)),
                     f"向量编码 {done + len(rows)}/{len(missing)}")
        if should_stop():
            raise IndexingCancelled()
        unit_spans = np.array([(row, s, e) for row, c in enumerate(chunks) for s, e in units[c.chunk_id]],
                              dtype=np.int32).reshape(-1, 3)
        vectors = np.stack([cache[key] for key in keys]).astype(np.float32)
        embeddings, unit_embeddings = vectors[:len(chunks)], vectors[len(chunks):]
        chunk_keys, unit_keys = keys[:len(chunks)], keys[len(chunks):]
        dense = faiss.IndexFlatIP(encoder.dim)
        dense.add(embeddings)
        unit_dense = faiss.IndexFlatIP(encoder.dim)
        unit_dense.add(unit_embeddings)
        unit_inputs = inputs[len(chunks):]
        calibration = _similarity_calibration(encoder, unit_inputs, unit_embeddings)
        manifest = cls._manifest(encoder, tokenizer, terms, bm25, chunking, prints, skipped, calibration,
                                 documents=len(documents), chunks=len(chunks), units=len(unit_spans),
                                 encoded=len(missing), seconds=time.perf_counter() - started)
        loaded_index = store.LoadedIndex(manifest, documents, chunks, bm25, dense, embeddings, chunk_keys,
                                         unit_dense, unit_embeddings, unit_spans, unit_keys, terms)
        store.save_index(index_dir, loaded_index)
        progress(1.0, f"索引完成：编码 {len(missing)} 条，复用 {len(set(keys)) - len(missing)} 条")
        return IndexState.from_loaded(loaded_index, tokenizer)

    @staticmethod
    def _manifest(encoder: Encoder, tokenizer: JiebaTokenizer, terms: list[str], bm25: BM25Index,
                  chunking: ChunkingConfig, prints: dict, skipped: dict, calibration: dict, *, documents: int,
                  chunks: int, units: int, encoded: int, seconds: float) -> dict:
        return {
            "format_version": store.INDEX_FORMAT,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "library_versions": store.library_versions(),
            "encoder": {"model_id": encoder.model_id, "dim": encoder.dim},
            "tokenizer": {"name": "jieba.cut_for_search", "dictionary_hash": tokenizer.dictionary_hash,
                          "domain_terms_hash": _domain_terms_hash(), "terms": len(terms)},
            "bm25": {"k1": bm25.k1, "b": bm25.b, "epsilon": bm25.epsilon},
            "dense": {"faiss": "IndexFlatIP", "normalised": True, "input": "passage text",
                      "sentence_weight": SENTENCE_WEIGHT, "answer_units": units,
                      "query_unit_similarity": calibration},
            "chunking": {**asdict(chunking), "version": CHUNKER_VERSION},
            "corpus": prints,
            "skipped": skipped,
            "counts": {"documents": documents, "chunks": chunks, "units": units, "encoded": encoded},
            "build_seconds": round(seconds, 2),
        }

    @classmethod
    def _searchable_state(cls, ordered: list[Chunk], with_vectors: int, documents: dict[str, Document],
                          tokenizer: JiebaTokenizer, tokens: dict[str, list[str]], units: dict, cache: dict,
                          encoder: Encoder, calibration: dict, prints: dict, skipped: dict,
                          chunking: ChunkingConfig, terms: list[str]) -> IndexState:
        """An in-memory state over every passage for BM25, and over the first `with_vectors` for the dense leg.

        The dense retriever maps FAISS rows to chunk_ids[row], so passages without vectors are put last
        and left out of both FAISS indexes: the dense leg never returns them, BM25 finds them already.
        """
        import faiss

        bm25 = BM25Index.build([tokens[c.chunk_id] for c in ordered])
        with_dense = ordered[:with_vectors]
        unit_spans = np.array([(row, s, e) for row, c in enumerate(with_dense) for s, e in units[c.chunk_id]],
                              dtype=np.int32).reshape(-1, 3)
        chunk_keys = [store.text_key(encoded_text(c)) for c in with_dense]
        unit_keys = [store.text_key(with_dense[row].text[s:e]) for row, s, e in unit_spans]
        empty = np.zeros((0, encoder.dim), np.float32)
        embeddings = np.stack([cache[k] for k in chunk_keys]).astype(np.float32) if chunk_keys else empty
        unit_embeddings = np.stack([cache[k] for k in unit_keys]).astype(np.float32) if unit_keys else empty
        dense, unit_dense = faiss.IndexFlatIP(encoder.dim), faiss.IndexFlatIP(encoder.dim)
        dense.add(embeddings)
        unit_dense.add(unit_embeddings)
        manifest = cls._manifest(encoder, tokenizer, terms, bm25, chunking, prints, skipped, calibration,
                                 documents=len(documents), chunks=len(ordered), units=len(unit_spans),
                                 encoded=0, seconds=0.0)
        pending = tuple(dict.fromkeys(c.doc_id for c in ordered[with_vectors:]))
        return IndexState(manifest, documents, {c.chunk_id: c for c in ordered}, [c.chunk_id for c in ordered],
                          tokenizer, bm25, dense, embeddings, chunk_keys, unit_dense, unit_embeddings, unit_spans,
                          unit_keys, dense_pending=pending)

    @staticmethod
    def _embedding_cache(index_dir: Path, encoder: Encoder, previous: IndexState | None,
                         progress: Progress = _no_progress) -> dict[str, np.ndarray]:
        """Vectors of the current index by input-text hash, so unchanged passages are not encoded again.

        Vectors on disk are reused only from an index whose every file passes its checksum.
        """
        if previous is not None:
            return {**dict(zip(previous.embedding_keys, previous.embeddings)),
                    **dict(zip(previous.unit_keys, previous.unit_embeddings))}
        try:
            manifest = store.read_manifest(index_dir)
            if manifest and manifest.get("encoder") == {"model_id": encoder.model_id, "dim": encoder.dim}:
                return store.read_vector_cache(index_dir)
        except IndexDamaged as error:
            log.warning("%s", error)
            progress(0.2, "旧索引校验失败，全部重新编码，不复用其中任何向量")
        except (OSError, ValueError, KeyError, RetrievalError):
            pass                                 # an unreadable old index only means encoding everything
        return {}

    def rebuild(self, progress: Progress = _no_progress, *, phase: Callable[[str], None] = _no_phase,
                should_stop: Callable[[], bool] = _never_stop) -> None:
        """Re-read the corpus directory and swap in the new index (only changed passages are encoded)."""
        self._change_index(progress, phase, should_stop)

    def _change_index(self, progress: Progress, phase: Callable[[str], None], should_stop: Callable[[], bool],
                      exclude: frozenset[str] = frozenset()) -> None:
        """The one path of every corpus change: build from the corpus under the writer lock and swap in.

        A cancelled or failed change swaps the previous state back, so the index stays as it was.
        """
        def waiting(holder: dict) -> None:
            progress(0.0, f"等待另一个写入者完成（pid {holder.get('pid', '?')}，{holder.get('host', '?')}，"
                          f"自 {holder.get('since', '?')}）")

        self._write_lock.acquire(waiting)
        try:
            previous = self._state

            def publish(state: IndexState) -> None:
                self._state = state

            try:
                self._state = self._build_state(self.corpus_dir, self.index_dir, self.encoder, self.chunking,
                                                progress, previous, publish=publish, phase=phase,
                                                should_stop=should_stop, exclude=exclude)
            except BaseException:
                self._state = previous
                raise
        finally:
            self._write_lock.release()

    def _apply_job(self, kind: str, target, progress: Progress, phase: Callable[[str], None],
                   should_stop: Callable[[], bool]) -> str:
        """Run one IndexingQueue job in the worker thread; returns the message of a finished job."""
        if kind in ("add", "replace"):
            meta = self.add_document(target, progress, phase=phase, should_stop=should_stop)
            return f"完成：{meta.title}"
        if kind == "delete":
            self.remove_document(target, progress, phase=phase, should_stop=should_stop)
            return f"已删除：{target}"
        if kind == "rebuild":
            self.rebuild(progress, phase=phase, should_stop=should_stop)
            return "索引已重建"
        raise RetrievalError(f"unknown indexing job kind {kind!r}")

    @property
    def dense_pending(self) -> tuple[str, ...]:
        """Documents searchable by BM25 only at the moment: their vectors are being encoded."""
        return self._state.dense_pending

    def start_watching(self, interval: float = 1.0) -> None:
        """Pick up files copied into, edited in or removed from the corpus directory outside the app."""
        from retrieval.watch import CorpusWatcher

        if self._watcher is None:
            self._watcher = CorpusWatcher(self, interval)
            self._watcher.start()

    def stop_watching(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def close(self) -> None:
        """Stop the corpus watcher and the indexing worker (a running job stops at its next batch)."""
        self.stop_watching()
        self.indexing.close()

    # ---------------------------------------------------------------- corpus management
    def _corpus_path(self, path: str | Path) -> Path:
        path = Path(path)
        if path.resolve().parent != self.corpus_dir.resolve():
            raise RetrievalError(f"{path} is not inside the corpus directory {self.corpus_dir}")
        return path

    def add_document(self, path: str | Path, progress: Progress = _no_progress, *,
                     phase: Callable[[str], None] = _no_phase,
                     should_stop: Callable[[], bool] = _never_stop) -> DocumentMeta:
        """Index a file already written into the corpus directory (new, or a new version of an indexed one).

        Raises IngestError if it is unreadable, before the index is touched.
        """
        path = self._corpus_path(path)
        with self._write_lock:
            if not path.exists():
                raise RetrievalError(f"{path} does not exist (any more): nothing to index")
            load_document(path, load_overrides(self.corpus_dir).get(path.name))   # fail before touching the index
            self._change_index(progress, phase, should_stop)
            return self.documents[path.name].meta

    replace_document = add_document

    def remove_document(self, doc_id: str, progress: Progress = _no_progress, *,
                        phase: Callable[[str], None] = _no_phase,
                        should_stop: Callable[[], bool] = _never_stop) -> None:
        """Take a document out of the index, then delete its corpus file and metadata entry.

        The index is rebuilt without the document first, so a cancelled or failed removal leaves the
        index and the corpus as they were.
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
                self._change_index(progress, phase, should_stop, exclude=frozenset({doc_id}))
            except BaseException:
                if override is not None:
                    save_override(self.corpus_dir, doc_id, **override)
                raise
            (self.corpus_dir / doc_id).unlink(missing_ok=True)

    def update_metadata(self, doc_id: str, aliases: list[str] | None = None, years: list[int] | None = None,
                        progress: Progress = _no_progress) -> DocumentMeta:
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

    def chunk_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for chunk in self._state.chunks.values():
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
        return counts

    def analyze(self, question: str) -> QueryAnalysis:
        return analyze_query(question, matcher=self._state.org_matcher)

    def clear_query_cache(self) -> None:
        """Forget cached query vectors (benchmarks time query encoding this way)."""
        self._encode_query.cache_clear()

    def _encode_query_uncached(self, question: str) -> np.ndarray:
        return self.encoder.encode_queries([question])[0]

    @staticmethod
    def _check_question(question: str, k: int, year: int | None = None, org: str | None = None) -> str:
        """The stripped question, or InvalidQuery (see retrieval.validation.validate_request)."""
        return validate_request(question, k, year, org)

    def _unit_similarity(self, state: IndexState, question: str):
        vector = self._encode_query(question)

        def similarity(chunk_id: str, start: int, end: int) -> float:
            row = state.unit_row(state.chunk_rows[chunk_id], start)
            return 0.0 if row is None else float(state.unit_embeddings[row] @ vector)
        return similarity

    def retrievers(self) -> dict[str, Retriever]:
        """The "bm25", "dense" and "hybrid" retrievers over the current index."""
        return {r.name: r for r in self._retrievers_of(self._state)}

    def _retrievers_of(self, state: IndexState):
        """The BM25, dense and hybrid retrievers over one index snapshot."""
        bm25 = BM25Retriever(state.bm25, state.chunk_ids, state.tokenizer)
        dense = DenseRetriever(state.dense, state.embeddings, state.unit_dense, state.unit_spans, state.chunk_ids,
                               self._encode_query, SENTENCE_WEIGHT)
        return bm25, dense, HybridRetriever([bm25, dense], self.leg_weights, RRF_K, CANDIDATES_PER_LEG)

    def _preference(self, state: IndexState, analysis: QueryAnalysis, chunk_id: str) -> float:
        """Query-aware bonus on the fused score: the named organisation's plan, the named year or half-year."""
        chunk = state.chunks[chunk_id]
        document = state.documents[chunk.doc_id]
        bonus = 0.0
        if analysis.orgs and chunk.doc_id in analysis.orgs:
            bonus += ORG_BONUS
        if analysis.years and set(analysis.years) & set(state.chunk_years[chunk_id]):
            bonus += YEAR_BONUS
        if analysis.half and analysis.half == document.meta.period:
            bonus += PERIOD_BONUS
        return bonus

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
        analysis = analyze_query(question, matcher=state.org_matcher)
        question = analysis.text                 # simplified characters, ASCII digits
        tokens = state.tokenizer(question)
        n = max(CANDIDATES_PER_LEG, k)

        def allowed(chunk_id: str) -> bool:
            chunk = state.chunks[chunk_id]
            if org is not None and chunk.doc_id != org:
                return False
            return year is None or year in state.chunk_years[chunk_id]

        where = allowed if org is not None or year is not None else None
        bm25, dense, hybrid_retriever = self._retrievers_of(state)
        searched = {leg.name: leg.search(question, n, where) for leg in (bm25, dense)
                    if leg.name in legs or "hybrid" in legs}
        results: dict[str, tuple[Hit, ...]] = {
            name: tuple(self._with_matched_terms(state, hits[:k], tokens)) for name, hits in searched.items()
            if name in legs}
        scope, scope_label = self._answer_scope(state, analysis)
        hybrid: tuple[Hit, ...] = ()
        fused: list[Hit] = []
        if "hybrid" in legs:
            fused = hybrid_retriever.fuse(searched, n, lambda chunk_id: self._preference(state, analysis, chunk_id))
            if scope is not None:
                # The organisation asked about comes first; other organisations' passages follow, labelled as such.
                inside = [h for h in fused if state.chunks[h.chunk_id].doc_id in scope]
                fused = inside + [h for h in fused if state.chunks[h.chunk_id].doc_id not in scope]
                fused = [replace(h, rank=rank) for rank, h in enumerate(fused, 1)]
        answer = best_guess = None
        scope_note = ""
        if with_answer and fused:
            candidates = fused if scope is None else [h for h in fused if state.chunks[h.chunk_id].doc_id in scope]
            if candidates:
                content = state.tokenizer(strip_organisations(question, matcher=state.org_matcher))
                scale = state.manifest["dense"]["query_unit_similarity"]
                answer, best_guess = extract_answer(analysis, candidates, state.chunks, content,
                                                    state.bm25.term_idf, self._unit_similarity(state, question),
                                                    (scale["mean"], scale["std"]))
            if best_guess is not None:
                # Second stage: the passage holding the best-fitting sentence is cited first (the answer step
                # reads every sentence of the top passages, a finer judge than the passage-level fusion).
                first = [h for h in fused if h.chunk_id == best_guess.chunk_id]
                fused = [replace(h, rank=rank) for rank, h in
                         enumerate(first + [h for h in fused if h.chunk_id != best_guess.chunk_id], 1)]
            if answer is not None and analysis.asks_organisation:
                # "哪个街道要建夜跑环道？" is answered by whose plan the sentence is in.
                answer = replace(answer, fact=state.documents[state.chunks[answer.chunk_id].doc_id].meta.org)
            if answer is None and scope is not None:
                scope_note = f"文档中没有{scope_label}的这项数据"
        if "hybrid" in legs:
            hybrid = tuple(self._with_matched_terms(state, fused[:k], tokens))
            results["hybrid"] = hybrid
        return AskResult(question=question, analysis=analysis, answer=answer, hits=hybrid, legs=results,
                         chunks=state.chunks, documents=state.documents, scope_note=scope_note,
                         best_guess=best_guess, dense_pending=state.dense_pending)

    @staticmethod
    def _answer_scope(state: IndexState, analysis: QueryAnalysis) -> tuple[frozenset[str] | None, str]:
        """The documents an answer may come from, and how to name them in a 未找到 note.

        None when the question names no organisation (any document may answer). A named organisation limits
        the answer to its documents: an organisation no document belongs to ("火星街道") leaves none, so the
        answer is 未找到 rather than another organisation's figure. A named year the organisation's documents
        do not cover leaves none as well.
        """
        if not analysis.asked_org:
            return None, ""
        docs = frozenset(analysis.orgs)
        label = analysis.asked_org
        if docs and analysis.years:
            covering = frozenset(doc_id for doc_id in docs if set(analysis.years) & set(state.document_years[doc_id]))
            if not covering:
                label = f"{analysis.asked_org}{'、'.join(str(y) for y in analysis.years)}年"
            docs = covering
        return docs, label

    @staticmethod
    def _with_matched_terms(state: IndexState, hits, question_tokens: list[str]) -> list[Hit]:
        """Hits with the question's words that occur in the passage text itself, longest first (for highlighting)."""
        words = set(question_tokens)
        out = []
        for hit in hits:
            text = state.chunks[hit.chunk_id].text
            matched = sorted((w for w in words if w in text), key=lambda w: (-len(w), w))
            out.append(replace(hit, matched_terms=tuple(matched)))
        return out


CALIBRATION_SAMPLE = 64


def _similarity_calibration(encoder: Encoder, unit_texts: list[str], unit_vectors: np.ndarray) -> dict:
    """Mean and std of query-to-sentence cosines for this encoder on this corpus.

    Encoders differ in scale (e5 puts unrelated Chinese sentences near 0.86, MiniLM near 0.1), so answer
    confidence uses similarities in standard deviations. Pseudo-queries are the openings of a fixed
    sample of sentences, scored against every sentence.
    """
    if len(unit_texts) < 2:
        return {"mean": 0.0, "std": 1.0, "sample": len(unit_texts)}
    rng = np.random.default_rng(0)
    sample = rng.choice(len(unit_texts), size=min(CALIBRATION_SAMPLE, len(unit_texts)), replace=False)
    queries = encoder.encode_queries([unit_texts[i][:40] for i in sample])
    cosines = queries @ unit_vectors.T
    return {"mean": round(float(cosines.mean()), 6), "std": round(float(cosines.std()), 6), "sample": int(len(sample))}


def _domain_terms_hash() -> str:
    from retrieval.tokenizer import RESOURCES, dictionary_hash

    terms = _read_terms(RESOURCES / "domain_terms.txt") + sorted(_read_terms(RESOURCES / "stopwords.txt"))
    return dictionary_hash(terms)
