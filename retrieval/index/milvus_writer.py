"""Writing the Milvus backend: a full build of the corpus, and one-document changes as inserts and deletes by doc id.

The same steps as retrieval.index.builder (read, clean, chunk, learn the dictionary, tokenise, encode), with
the same settings, so a Milvus index and a local one of a corpus hold the same passages and vectors. The
engine's manifest (encoder, dictionary, corpus fingerprints, calibration) is kept in the Milvus catalog.
A document is encoded before its rows are inserted: Milvus never holds a passage without its vectors.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from retrieval.ingest.chunking import ChunkingConfig
from retrieval.corpus.files import SETTINGS_FILES, fingerprint, load_corpus, load_document, sha256_bytes
from retrieval.encode.encoders import Encoder
from retrieval.errors import IndexMismatch, RetrievalError
from retrieval.index import manifest as index_manifest, vector_cache
from retrieval.index.calibration import similarity_calibration
from retrieval.index.milvus import BM25_B, BM25_K1, HNSW_EF_CONSTRUCTION, HNSW_M, MilvusBackend, is_lite
from retrieval.index.state import IndexState
from retrieval.index.progress import (IndexingCancelled, Pause, Phase, Progress, ShouldStop, Timing, never_stop, no_phase,
                                      no_progress, no_timing)
from retrieval.ingest.passages import PreparedPassage, prepare_passages
from retrieval.corpus.overrides import load_overrides
from retrieval.ingest.organisations import organisation_names
from retrieval.text.tokenizer import USER_DICTIONARY_FILE, JiebaTokenizer, _read_terms, learn_terms
from retrieval.types import Document


def load_state(backend: MilvusBackend, manifest: dict) -> IndexState:
    """The snapshot of existing collections whose manifest the engine has checked."""
    terms = manifest["dictionary"]
    tokenizer = JiebaTokenizer(terms)
    if tokenizer.dictionary_hash != manifest["tokenizer"]["dictionary_hash"]:
        raise IndexMismatch(f"the dictionary in Milvus collections {backend.prefix}_* does not match their manifest: "
                            "rebuild with `python -m retrieval --backend milvus build --force`")
    if backend.count() != manifest["counts"]["chunks"]:
        raise IndexMismatch(f"Milvus collections {backend.prefix}_* at {backend.uri} hold {backend.count()} passages, "
                            f"their manifest {manifest['counts']['chunks']}: rebuild with "
                            "`python -m retrieval --backend milvus build --force`")
    return IndexState(manifest, None, tokenizer, tuple(terms), remote=backend)


class MilvusWriter:
    """The engine's writes to one Milvus database (uri) and collection prefix (an IndexWriter, as LocalWriter is),
    each returning the new snapshot."""

    name = "milvus"

    def __init__(self, uri: str, prefix: str, analyzer: str | None = None):
        self.uri, self.prefix = uri, prefix
        self.analyzer = analyzer or os.environ.get("MILVUS_ANALYZER") or "jieba"

    def full_build(self, corpus_dir: Path, index_dir: Path, encoder: Encoder, chunking: ChunkingConfig,
                   progress: Progress = no_progress, previous: IndexState | None = None, *,
                   publish: Callable[[IndexState], None] | None = None,
                   phase: Phase = no_phase,
                   should_stop: ShouldStop = never_stop,
                   exclude: frozenset[str] = frozenset(), timing: Timing = no_timing) -> IndexState:
        """New collections from the whole corpus. Vectors of a local index in `index_dir` built with the same
        encoder are reused by input-text key; the rest are encoded."""
        if vector_cache.PASSAGE_VECTORS != "encoded":
            raise RetrievalError("the Milvus backend encodes every passage: unset RETRIEVAL_PASSAGE_VECTORS")
        started = time.perf_counter()
        phase("chunking")
        progress(0.0, "读取文档")
        with timing("fingerprint"):
            prints = {name: digest for name, digest in fingerprint(corpus_dir).items() if name not in exclude}
        with timing("read_clean"):
            loaded = load_corpus(corpus_dir)
            documents = {doc_id: d for doc_id, d in loaded.documents.items() if doc_id not in exclude}
            skipped = {name: reason for name, reason in loaded.errors.items() if name not in exclude}
        names = [n for d in documents.values() for n in organisation_names(d.meta)]
        terms = learn_terms((d.text for d in documents.values()),
                            extra=[*names, *_read_terms(corpus_dir / USER_DICTIONARY_FILE)])
        tokenizer = JiebaTokenizer(terms)
        prepared = [(document, passages) for document in documents.values()
                    if (passages := prepare_passages(document, chunking, tokenizer))]
        total = sum(len(passages) for _, passages in prepared)
        if not total:
            raise RetrievalError(f"no readable documents in {corpus_dir}" + (f" (unreadable: {skipped})" if skipped else ""))
        progress(0.2, f"{len(documents)} 篇文档，{total} 段")
        cache = vector_cache.stored_vectors(index_dir, encoder, None, progress)
        phase("encoding")
        vectors = _encode(prepared, cache, encoder, progress, should_stop)
        progress(0.9, "写入 Milvus")
        backend = MilvusBackend.create(self.uri, self.prefix, encoder.dim, terms, tokenizer.stopwords, self.analyzer)
        for document, passages in prepared:
            backend.add(document, passages, vectors[document.doc_id])
        unit_texts = [p.chunk.text[s:e] for _, passages in prepared for p in passages for s, e in p.units]
        unit_vectors = np.concatenate([np.asarray(vectors[d.doc_id], dtype=np.float32)[_unit_rows(passages)]
                                       for d, passages in prepared])
        calibration = similarity_calibration(encoder, unit_texts, unit_vectors)
        manifest = self._manifest(index_manifest.base_manifest(
            encoder, tokenizer, terms, chunking, prints, skipped, calibration, documents=len(documents),
            chunks=backend.count(), units=len(unit_texts), encoded=len(unit_texts) + total,
            seconds=time.perf_counter() - started), terms)
        backend.write_manifest(manifest)
        backend.flush()
        if previous is not None and previous.remote is not None and previous.remote is not backend:
            previous.remote.close()
        progress(1.0, f"索引完成：{backend.count()} 段写入 Milvus")
        return IndexState(manifest, None, tokenizer, tuple(terms), remote=backend)

    def add_document(self, state: IndexState, corpus_dir: Path, index_dir: Path, path: Path, encoder: Encoder,
                     chunking: ChunkingConfig, progress: Progress = no_progress, *,
                     publish: Callable[[IndexState], None] | None = None,
                     phase: Phase = no_phase,
                     should_stop: ShouldStop = never_stop,
                     background: bool = False) -> IndexState:   # background: Milvus rows hold their vectors already
        """One document (new, or a new version): encoded, then its rows inserted and its earlier ones deleted."""
        started = time.perf_counter()
        phase("chunking")
        document = load_document(path, load_overrides(corpus_dir).get(path.name))
        passages = prepare_passages(document, chunking, state.tokenizer)
        if not passages:
            raise RetrievalError(f"{path.name} has no passage to index after cleaning")
        progress(0.2, f"{len(passages)} 段")
        phase("encoding")
        vectors = _encode([(document, passages)], {}, encoder, progress, should_stop)[document.doc_id]
        backend = state.remote
        backend.add(document, passages, vectors)
        prints = {**state.manifest["corpus"], path.name: document.meta.sha256}
        skipped = {k: v for k, v in state.manifest.get("skipped", {}).items() if k != path.name}
        return self._changed(state, prints, skipped, time.perf_counter() - started)

    def remove_documents(self, state: IndexState, corpus_dir: Path, index_dir: Path, doc_ids: Sequence[str],
                         forget_files: Sequence[str] = ()) -> IndexState:
        """The documents' rows deleted by doc id; `forget_files` leave the manifest too."""
        started = time.perf_counter()
        for doc_id in doc_ids:
            if doc_id in state.documents:
                state.remote.delete(doc_id)
        gone = set(doc_ids) | set(forget_files)
        prints = {k: v for k, v in state.manifest["corpus"].items() if k not in gone and k not in SETTINGS_FILES}
        prints.update({name: sha256_bytes((corpus_dir / name).read_bytes()) for name in SETTINGS_FILES
                       if (corpus_dir / name).exists()})
        skipped = {k: v for k, v in state.manifest.get("skipped", {}).items() if k not in gone}
        return self._changed(state, prints, skipped, time.perf_counter() - started)

    def record_unreadable(self, state: IndexState, index_dir: Path, name: str, digest: str, reason: str) -> IndexState:
        if name in state.documents:
            state.remote.delete(name)
        return self._changed(state, {**state.manifest["corpus"], name: digest},
                             {**state.manifest.get("skipped", {}), name: reason}, 0.0)

    def finish_encoding(self, state: IndexState, index_dir: Path, encoder: Encoder, progress: Progress = no_progress,
                        *, should_stop: ShouldStop = never_stop, pause: Pause = never_stop) -> IndexState:
        """Nothing to finish: a document's rows are inserted only once all its vectors are encoded."""
        return state

    def compact(self, state: IndexState, index_dir: Path) -> IndexState:
        """Nothing to merge here: Milvus compacts its own segments."""
        return state

    def _changed(self, state: IndexState, prints: dict, skipped: dict, seconds: float) -> IndexState:
        backend = state.remote
        manifest = {**state.manifest, "corpus": prints, "skipped": skipped, "build_seconds": round(seconds, 2),
                    "counts": {**state.manifest["counts"], "documents": len(backend.documents()),
                               "chunks": backend.count()}}
        backend.write_manifest(manifest)
        backend.flush()
        return IndexState(manifest, None, state.tokenizer, state.terms, remote=backend)

    def _manifest(self, manifest: dict, terms: list[str]) -> dict:
        manifest["bm25"] = {"k1": BM25_K1, "b": BM25_B, "idf": "Lucene: log(1 + (N - df + 0.5) / (df + 0.5))",
                            "analyzer": {"jieba": "Milvus jieba, search mode, project dictionary and stopwords",
                                         "tokens": "the local tokenizer's tokens, split on whitespace"}[self.analyzer]}
        manifest["dense"]["search"] = f"Milvus HNSW (M {HNSW_M}, efConstruction {HNSW_EF_CONSTRUCTION}), inner product"
        manifest["backend"] = {"name": "milvus", "lite": is_lite(self.uri), "collections": self.prefix,
                               "analyzer": self.analyzer}
        manifest["dictionary"] = list(terms)
        return manifest


def _unit_rows(passages: Sequence[PreparedPassage]) -> list[int]:
    """Rows of the unit vectors among a document's vector inputs (each passage's own, then its units')."""
    rows, row = [], 0
    for passage in passages:
        rows += range(row + 1, row + 1 + len(passage.units))
        row += 1 + len(passage.units)
    return rows


def _encode(prepared: Sequence[tuple[Document, Sequence[PreparedPassage]]], cache: dict, encoder: Encoder,
            progress: Progress, should_stop: ShouldStop) -> dict[str, np.ndarray]:
    """doc id → its vectors in vector-input order; cached ones reused by key, the others encoded in batches."""
    texts: dict[str, str] = {}
    for _, passages in prepared:
        for passage in passages:
            for key, text in zip([passage.key, *passage.unit_keys], passage.vector_inputs):
                if key not in cache:
                    texts.setdefault(key, text)
    missing = list(texts)
    for first in range(0, len(missing), vector_cache.ENCODE_BATCH):
        if should_stop():
            raise IndexingCancelled()
        keys = missing[first:first + vector_cache.ENCODE_BATCH]
        cache.update(zip(keys, encoder.encode_documents([texts[k] for k in keys])))
        progress(0.2 + 0.7 * min(1.0, (first + len(keys)) / len(missing)), f"向量编码 {first + len(keys)}/{len(missing)}")
    if should_stop():
        raise IndexingCancelled()
    return {document.doc_id: np.stack([np.asarray(cache[key], dtype=np.float32)
                                       for p in passages for key in [p.key, *p.unit_keys]])
            for document, passages in prepared}
