"""Writing the local index: a full build streamed segment by segment, and one-document changes as new segments.

Every path publishes a snapshot searchable by BM25 first (when vectors are missing), encodes in batches
(asking `should_stop` between them), then saves and returns the final snapshot. A change never re-reads,
re-cleans or re-tokenises another document: it writes one segment and marks the old passages deleted.
The learned dictionary is a corpus-wide statistic (recurring phrases): a full build learns it, a
one-document change tokenises with the index's dictionary, and `rebuild` learns it again.
The parts it orchestrates: manifest.py (manifest, snapshot), calibration.py, vector_cache.py (vectors by key,
batches, checkpoints), reading.py (worker processes) and merge.py (merge policy).
"""
from __future__ import annotations

import ctypes
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from retrieval.corpus.files import SETTINGS_FILES, fingerprint, load_document, sha256_bytes
from retrieval.corpus.overrides import load_overrides
from retrieval.encode.encoders import Encoder
from retrieval.errors import RetrievalError
from retrieval.index import store
from retrieval.index.calibration import index_calibration
from retrieval.index.dense import SENTENCE_WEIGHT
from retrieval.index.local import SEGMENTS_DIR, Ann, SegmentIndex, new_segment_id
from retrieval.index.manifest import base_manifest, changed_manifest, load_state
from retrieval.index.progress import (EncodingPaused, IndexingCancelled, Pause, Phase, Progress, ShouldStop, Timing,
                                      never_stop, no_phase, no_progress, no_timing)
from retrieval.index.reading import prepared_passages, read_documents
from retrieval.index.segment import VECTORS_FILE, Segment
from retrieval.index.state import IndexState
from retrieval.index.vector_cache import (CHECKPOINT_BATCHES, ENCODE_BATCH, ROW_BITS, encode_segments, keys_in_several,
                                          read_saved_vectors, release_keys, stored_vectors)
from retrieval.ingest.organisations import organisation_names
from retrieval.ingest.passages import PreparedPassage, prepare_passages
from retrieval.text.tokenizer import USER_DICTIONARY_FILE, JiebaTokenizer, _read_terms, learn_terms
from retrieval.types import Document
# Kept importable from here for one release (their homes: manifest, calibration, vector_cache, merge).
from retrieval.index.calibration import CALIBRATION_UNITS, calibrate_similarity, similarity_calibration  # noqa: F401,E402
from retrieval.index.manifest import CHUNKER_VERSION, domain_terms_hash  # noqa: F401,E402
from retrieval.index.merge import merge_plan, merge_segments  # noqa: F401,E402
from retrieval.index.vector_cache import PASSAGE_VECTORS  # noqa: F401,E402

# A background job whose document needs more texts encoded than this (about half a minute of encoding on 2
# cores) publishes it for keyword search and leaves the vectors to an "encode" job that gives way to other
# jobs batch by batch, so a big upload never holds small ones back.
BIG_JOB_INPUTS = CHECKPOINT_BATCHES * ENCODE_BATCH
SEGMENT_PASSAGES = 50_000         # a full build writes segments of about this many passages


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
        documents, skipped = read_documents(corpus_dir, exclude, len(prints))
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

        for number, (document, prepared) in enumerate(prepared_passages(list(documents.values()), chunking, tokenizer), 1):
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
    manifest = changed_manifest(state, bm25_first, prints, skipped, 0, 0.0)
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
    shared = keys_in_several(unencoded)
    # A vector that a later segment shares is read back from the saved file when that segment is encoded:
    # memory holds one segment's vectors and, per shared text, where it was saved (file, row).
    saved_files: list[Path] = []
    saved_at: dict[str, int] = {}
    weights = np.cumsum([0] + [len(s.keys) for s in unencoded]) / max(1, sum(len(s.keys) for s in unencoded))
    count = 0
    for number, segment in enumerate(unencoded):
        read_saved_vectors(segment.keys, cache, saved_at, saved_files)
        try:
            (encoded,), encoded_now = encode_segments([segment], cache, encoder, progress, should_stop, checkpoint,
                                                       0.2 + 0.75 * weights[number],
                                                       0.75 * (weights[number + 1] - weights[number]), pause)
        except EncodingPaused:
            return current
        count += encoded_now
        index = current.index.with_encoded(encoded, Ann.train(encoded))
        manifest = changed_manifest(current, index, state.manifest["corpus"], state.manifest.get("skipped", {}),
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
        release_keys(mapped)
        del encoded
        current = IndexState(manifest, index.with_encoded(mapped, index.ann.get(mapped.segment_id)),
                             state.tokenizer, state.terms)
        if number < len(unencoded) - 1 and pause():
            return current
    progress(1.0, f"索引完成：编码 {count} 条")
    return current


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
    manifest = changed_manifest(state, index, prints, skipped, 0, time.perf_counter() - started)
    manifest = index.save(index_dir, manifest, list(state.terms))
    return IndexState(manifest, index, state.tokenizer, state.terms)


def record_unreadable(state: IndexState, index_dir: Path, name: str, digest: str, reason: str) -> IndexState:
    """A corpus file that cannot be read: its old passages (if any) leave the index, the reason is recorded."""
    index = state.index.without([name])
    prints = {**state.manifest["corpus"], name: digest}
    skipped = {**state.manifest.get("skipped", {}), name: reason}
    manifest = index.save(index_dir, changed_manifest(state, index, prints, skipped, 0, 0.0), list(state.terms))
    return IndexState(manifest, index, state.tokenizer, state.terms)
