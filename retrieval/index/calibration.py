"""How similar a query and a sentence are for this encoder on this corpus (mean and std of their cosines), so
answer confidence is in standard deviations whatever the encoder's scale."""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

from retrieval.encode.encoders import Encoder
from retrieval.index.local import SegmentIndex
from retrieval.index.vector_cache import transient_chunk

CALIBRATION_SAMPLE = 64
CALIBRATION_BLOCK_ROWS = 65_536      # unit vectors scored at a time by the calibration (16 MB of cosines)
# Above this many answer units the calibration scores an even sample of them, in runs of CALIBRATION_RUN
# consecutive units: a mean and std over 16.7M cosines move by less than 1e-3 of a std (at 1M passages, reading
# all 6.25M unit vectors put 4.8 GB of file pages in the build's memory). Below it every unit is scored.
CALIBRATION_UNITS = 262_144
CALIBRATION_RUN = 1_024


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
        return transient_chunk(segment, int(row)).text[start:end]

    def vector_blocks():
        for number, (segment, rows) in enumerate(parts):
            mine = rows[scored[(scored >= starts[number]) & (scored < starts[number + 1])] - starts[number]]
            for first in range(0, len(mine), CALIBRATION_BLOCK_ROWS):
                yield segment.unit_vectors[mine[first:first + CALIBRATION_BLOCK_ROWS]]

    return calibrate_similarity(encoder, total, text_of, vector_blocks)
