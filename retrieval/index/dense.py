"""Dense search over segments: passage and sentence vectors, exact below a size threshold, IVF above it.

A passage scores (1 - w) · its own cosine + w · its best sentence cosine: a 200-character passage about
several things is found by the one sentence that matches. Candidates are the best 2·k passages and the
best 8·k sentences; a passage found only by its passage vector gets the lowest sentence cosine returned.

Vectors are stored as float16 (retrieval.index.segment); FAISS's fp16 scalar quantizer compares a float32
query with them as they are (float16_index). Small segments are scanned exactly by a flat index over a copy
of their vectors, kept while the segment lives. A segment of at least ANN_MIN_ROWS vectors gets an inverted
file: k-means centroids and the rows of each list, stored as small .npy arrays beside the vectors, which are
stored once. A query scans the IVF_PROBES nearest lists and re-ranks their rows, gathered from the
memory-mapped vectors into a flat index, with exact inner products.
"""
from __future__ import annotations

import heapq
import os
import threading
import weakref
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from retrieval.index.segment import Segment

# Below this many vectors an exact scan is as fast (measured on 384-d vectors, one thread: 20k rows 1.5 ms flat,
# 1.4 ms IVF; 50k 2.9 vs 2.0 ms; 200k 11.4 vs 4.6 ms), and exact.
ANN_MIN_ROWS = int(os.environ.get("RETRIEVAL_ANN_MIN_ROWS", 20_000))
IVF_PROBES = 24
IVF_TRAIN_SAMPLE = 40_000
IVF_ITERATIONS = 12
ASSIGN_BLOCK = 65_536             # vectors widened to float32 at a time when assigning them to lists
# One thread per query: on this 2-core machine a single query ran about 3x faster on 1 FAISS thread than on 2.
FAISS_QUERY_THREADS = 1


def ivf_lists(count: int) -> int:
    """Number of inverted lists for `count` vectors: about the square root, the usual IVF sizing."""
    return max(16, int(np.sqrt(count)))


@dataclass(frozen=True)
class InvertedFile:
    """k-means centroids and, per list, the rows of the vectors it holds (rows sorted by list)."""

    centroids: np.ndarray               # lists x dim, float32
    offsets: np.ndarray                 # lists + 1, int64
    rows: np.ndarray                    # int32, rows grouped by list

    @classmethod
    def train(cls, vectors: np.ndarray, seed: int = 0) -> "InvertedFile":
        import faiss

        lists = ivf_lists(len(vectors))
        rng = np.random.default_rng(seed)
        sample = np.ascontiguousarray(
            vectors[np.sort(rng.choice(len(vectors), min(IVF_TRAIN_SAMPLE, len(vectors)), replace=False))],
            dtype=np.float32)
        kmeans = faiss.Kmeans(vectors.shape[1], lists, niter=IVF_ITERATIONS, seed=seed, spherical=True,
                              max_points_per_centroid=max(1, IVF_TRAIN_SAMPLE // lists + 1))
        kmeans.train(sample)
        # Assigned block by block: a float32 copy of every vector would be twice the float16 segment.
        assigned = np.concatenate([
            kmeans.index.search(np.ascontiguousarray(vectors[first:first + ASSIGN_BLOCK], dtype=np.float32), 1)[1].ravel()
            for first in range(0, len(vectors), ASSIGN_BLOCK)])
        order = np.argsort(assigned, kind="stable").astype(np.int32)
        offsets = np.searchsorted(assigned[order], np.arange(lists + 1)).astype(np.int64)
        return cls(kmeans.centroids.astype(np.float32), offsets, order)

    def candidates(self, query: np.ndarray, probes: int | None = None) -> np.ndarray:
        """Rows of the `probes` (default IVF_PROBES) lists whose centroids are nearest the query."""
        probes = min(IVF_PROBES if probes is None else probes, len(self.centroids))
        nearest = np.argpartition(-(self.centroids @ query), probes - 1)[:probes]
        return np.concatenate([self.rows[self.offsets[i]:self.offsets[i + 1]] for i in nearest])

    def write(self, directory: Path, name: str) -> None:
        np.save(directory / f"{name}_centroids.npy", self.centroids, allow_pickle=False)
        np.save(directory / f"{name}_offsets.npy", self.offsets, allow_pickle=False)
        np.save(directory / f"{name}_rows.npy", self.rows, allow_pickle=False)

    @classmethod
    def read(cls, directory: Path, name: str) -> "InvertedFile | None":
        if not (directory / f"{name}_centroids.npy").exists():
            return None
        return cls(np.load(directory / f"{name}_centroids.npy", allow_pickle=False),
                   np.load(directory / f"{name}_offsets.npy", allow_pickle=False),
                   np.load(directory / f"{name}_rows.npy", allow_pickle=False))


def needs_ivf(rows: int) -> bool:
    return rows >= ANN_MIN_ROWS


def float16_index(vectors: np.ndarray, rows: np.ndarray | None = None):
    """A flat FAISS index (scalar quantizer fp16, inner product) over float16 vectors, or over `rows` of them.

    Their bytes are copied in as they are, and FAISS compares the float32 query with them directly (F16C
    instructions): on 27,000 rows of 256 dims, gathering and searching take 2.3 ms, where widening them to
    float32 with numpy first took 15 ms (float32 rows gathered for faiss.knn: 4.9 ms).
    """
    import faiss

    if vectors.dtype != np.float16:
        raise ValueError(f"float16_index takes float16 vectors, got {vectors.dtype}")
    count, dim = len(vectors) if rows is None else len(rows), vectors.shape[1]
    index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    nbytes = count * dim * np.dtype(np.float16).itemsize
    index.codes.resize(nbytes)
    if nbytes:
        codes = faiss.rev_swig_ptr(index.codes.data(), nbytes).view(np.float16).reshape(count, dim)
        if rows is None:
            codes[:] = vectors
        else:                                    # "clip" lets take write into `codes` without a buffer
            np.take(vectors, rows, axis=0, out=codes, mode="clip")
    index.ntotal = count
    return index


_flat_indexes: "weakref.WeakKeyDictionary[Segment, dict[str, object]]" = weakref.WeakKeyDictionary()
_flat_lock = threading.Lock()


def flat_index(segment: Segment, which: str):
    """The flat float16 index of a small segment's "passages" or "units" (those below ANN_MIN_ROWS are scanned
    exactly), made on its first search and kept as long as the segment: a copy of its vectors, at most a few MB."""
    vectors = segment.passage_vectors if which == "passages" else segment.unit_vectors
    if vectors.dtype != np.float16:
        return None                              # float32 vectors (a reference in tests) are scanned as they are
    with _flat_lock:
        made = _flat_indexes.setdefault(segment, {})
        if which not in made:
            made[which] = float16_index(vectors)
        return made[which]


def nearest(vectors: np.ndarray, query: np.ndarray, k: int, live: np.ndarray | None,
            ivf: InvertedFile | None, flat=None) -> list[tuple[float, int]]:
    """(inner product, row) of the k best live rows of one segment's vectors, float16 (as stored) or float32.

    With an inverted file, the rows of its nearest lists are re-ranked exactly; without one, every row is
    scanned, by `flat` (float16_index over all of `vectors`) when given.
    """
    import faiss

    if k <= 0 or len(vectors) == 0:
        return []
    half = vectors.dtype == np.float16
    query = np.ascontiguousarray(query, dtype=np.float32)[None, :]
    if ivf is not None:
        rows = ivf.candidates(query[0])
        if live is not None:
            rows = rows[live[rows]]
        if len(rows) == 0:
            return []
        rows.sort()                          # sequential reads of the memory-mapped vectors
        # The re-rank is exact; FAISS's own single-threaded scan (numpy's BLAS would start threads per call).
        wanted = min(k, len(rows))
        if half:
            scores, top = float16_index(vectors, rows).search(query, wanted)
        else:
            scores, top = faiss.knn(query, np.ascontiguousarray(vectors[rows]), wanted,
                                    metric=faiss.METRIC_INNER_PRODUCT)
        return [(float(score), int(rows[i])) for score, i in zip(scores[0], top[0]) if i >= 0]

    deleted = 0 if live is None else int(len(live) - live.sum())
    wanted = min(len(vectors), k + deleted)
    if half:
        scores, rows = (flat if flat is not None else float16_index(vectors)).search(query, wanted)
    else:
        scores, rows = faiss.knn(query, np.ascontiguousarray(vectors), wanted, metric=faiss.METRIC_INNER_PRODUCT)
    found = [(float(s), int(r)) for s, r in zip(scores[0], rows[0]) if r >= 0 and (live is None or live[r])]
    return found[:k]


@dataclass(frozen=True, eq=False)
class DensePart:
    """One encoded segment as the dense search sees it."""

    segment: Segment
    live: np.ndarray | None             # None: every passage is live
    offset: int                         # row of its first passage across segments
    passage_ivf: InvertedFile | None
    unit_ivf: InvertedFile | None

    @cached_property
    def unit_live(self) -> np.ndarray | None:
        return None if self.live is None else self.live[self.segment.unit_spans[:, 0]]


class SegmentedDense:
    """The dense leg over every encoded segment; rows are numbered across segments as in SegmentedBM25."""

    def __init__(self, parts: Sequence[DensePart], sentence_weight: float):
        self.parts = list(parts)
        self.sentence_weight = sentence_weight
        self.passages = sum(p.segment.size if p.live is None else int(p.live.sum()) for p in self.parts)
        self.units = sum(p.segment.unit_count if p.live is None else int(p.unit_live.sum()) for p in self.parts)

    def search(self, query: np.ndarray, pool: int) -> list[tuple[int, float]]:
        """(row, mixed score) of candidate passages, best first (ties: lower row first)."""
        import faiss

        faiss.omp_set_num_threads(FAISS_QUERY_THREADS)
        query = np.ascontiguousarray(query, dtype=np.float32)
        passage_k = min(2 * pool, self.passages)
        unit_k = min(8 * pool, self.units)
        passage_hits, unit_hits = [], []
        for part in self.parts:
            segment = part.segment
            passage_flat = flat_index(segment, "passages") if part.passage_ivf is None else None
            unit_flat = flat_index(segment, "units") if part.unit_ivf is None else None
            passage_hits += [(s, part.offset + r) for s, r in
                             nearest(segment.passage_vectors, query, passage_k, part.live, part.passage_ivf,
                                     passage_flat)]
            unit_hits += [(s, part.offset + int(segment.unit_spans[r, 0])) for s, r in
                          nearest(segment.unit_vectors, query, unit_k, part.unit_live, part.unit_ivf, unit_flat)]
        top_passages = heapq.nlargest(passage_k, passage_hits, key=lambda pair: (pair[0], -pair[1]))
        top_units = heapq.nlargest(unit_k, unit_hits, key=lambda pair: (pair[0], -pair[1]))
        best_sentence: dict[int, float] = {}
        for score, row in top_units:
            best_sentence[row] = max(best_sentence.get(row, -1.0), score)
        floor = top_units[-1][0] if top_units else 0.0
        rows = sorted({row for _, row in top_passages} | set(best_sentence))
        cosines = self._passage_cosines(rows, query)
        w = self.sentence_weight
        mixed = [(row, (1 - w) * float(cosine) + w * best_sentence.get(row, floor)) for row, cosine in zip(rows, cosines)]
        mixed.sort(key=lambda pair: (-pair[1], pair[0]))
        return mixed

    def _passage_cosines(self, rows: list[int], query: np.ndarray) -> np.ndarray:
        if not rows:
            return np.zeros(0, np.float32)
        gathered = []
        for part in self.parts:                  # rows are sorted, so each part's rows are one run
            local = [r - part.offset for r in rows if part.offset <= r < part.offset + part.segment.size]
            if local:
                gathered.append(np.asarray(part.segment.passage_vectors[local], dtype=np.float32))
        return np.concatenate(gathered) @ query
