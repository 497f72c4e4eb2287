"""Dense search over segments: passage vectors first, then the sentences of the passages found.

A passage scores (1 - w) · its own cosine + w · its best sentence cosine: a 200-character passage about
several things is found by the one sentence that matches. The passage vectors give the candidates (the best
CANDIDATES_PER_RESULT · pool over every segment); only those passages' sentence vectors are then read and
scored exactly. No search runs over all sentences, which are about 6 per passage.

Vectors are stored as float16 (retrieval.index.segment); FAISS's fp16 scalar quantizer compares a float32
query with them as they are (float16_index). Small segments are scanned exactly by a flat index over a copy
of their passage vectors, kept while the segment lives. A segment of at least ANN_MIN_ROWS passages gets an
inverted file: k-means centroids and the rows of each list, stored as small .npy arrays beside the vectors,
which are stored once. A query scans the IVF_PROBES nearest lists and re-ranks their rows, gathered from the
memory-mapped vectors into a flat index, with exact inner products.
"""
from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from retrieval.index.segment import Segment
from retrieval.index.store import load_array

# Below this many vectors an exact scan is as fast (measured on 384-d vectors, one thread: 20k rows 1.5 ms flat,
# 1.4 ms IVF; 50k 2.9 vs 2.0 ms; 200k 11.4 vs 4.6 ms), and exact.
ANN_MIN_ROWS = int(os.environ.get("RETRIEVAL_ANN_MIN_ROWS", 20_000))
IVF_PROBES = 24
IVF_TRAIN_SAMPLE = 40_000
IVF_ITERATIONS = 12
ASSIGN_BLOCK = 65_536             # vectors widened to float32 at a time when assigning them to lists
# One thread per query: on this 2-core machine a single query ran about 3x faster on 1 FAISS thread than on 2.
FAISS_QUERY_THREADS = 1
# The sentence stage reads the sentences of this many passages per result asked for (8 · 50 = 400 passages,
# about 2,500 sentences). On dev and web-dev, 8 gives the runs of a search over every sentence; 2 did not.
CANDIDATES_PER_RESULT = 8
# A query over at least this many segments searches them on SEARCH_THREADS threads (the gathers and scans
# release the GIL): a lone question then uses both cores instead of one.
PARALLEL_MIN_SEGMENTS = 4
SEARCH_THREADS = min(2, os.cpu_count() or 1)


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
        return cls(load_array(directory / f"{name}_centroids.npy"),
                   load_array(directory / f"{name}_offsets.npy"),
                   load_array(directory / f"{name}_rows.npy"))


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


_flat_indexes: "weakref.WeakKeyDictionary[Segment, object]" = weakref.WeakKeyDictionary()
_flat_lock = threading.Lock()


def flat_index(segment: Segment):
    """The flat float16 index of a small segment's passage vectors (those below ANN_MIN_ROWS are scanned
    exactly), made on its first search and kept as long as the segment: a copy of its vectors, at most a few MB."""
    vectors = segment.passage_vectors
    if vectors.dtype != np.float16:
        return None                              # float32 vectors (a reference in tests) are scanned as they are
    with _flat_lock:
        if segment not in _flat_indexes:
            _flat_indexes[segment] = float16_index(vectors)
        return _flat_indexes[segment]


def nearest_rows(vectors: np.ndarray, query: np.ndarray, k: int, live: np.ndarray | None,
                 ivf: InvertedFile | None, flat=None) -> tuple[np.ndarray, np.ndarray]:
    """(inner products, rows) of the k best live rows of one segment's vectors, float16 (as stored) or float32,
    best first, as float32 and int64 arrays.

    With an inverted file, the rows of its nearest lists are re-ranked exactly; without one, every row is
    scanned, by `flat` (float16_index over all of `vectors`) when given.
    """
    import faiss

    none = np.zeros(0, np.float32), np.zeros(0, np.int64)
    if k <= 0 or len(vectors) == 0:
        return none
    half = vectors.dtype == np.float16
    query = np.ascontiguousarray(query, dtype=np.float32)[None, :]
    if ivf is not None:
        rows = ivf.candidates(query[0])
        if live is not None:
            rows = rows[live[rows]]
        if len(rows) == 0:
            return none
        rows.sort()                          # sequential reads of the memory-mapped vectors
        # The re-rank is exact; FAISS's own single-threaded scan (numpy's BLAS would start threads per call).
        wanted = min(k, len(rows))
        if half:
            scores, top = float16_index(vectors, rows).search(query, wanted)
        else:
            scores, top = faiss.knn(query, np.ascontiguousarray(vectors[rows]), wanted,
                                    metric=faiss.METRIC_INNER_PRODUCT)
        found = top[0] >= 0
        return scores[0][found], rows[top[0][found]].astype(np.int64)

    deleted = 0 if live is None else int(len(live) - live.sum())
    wanted = min(len(vectors), k + deleted)
    if half:
        scores, rows = (flat if flat is not None else float16_index(vectors)).search(query, wanted)
    else:
        scores, rows = faiss.knn(query, np.ascontiguousarray(vectors), wanted, metric=faiss.METRIC_INNER_PRODUCT)
    scores, rows = scores[0], rows[0]
    found = rows >= 0
    if live is not None:
        found &= live[np.maximum(rows, 0)]
    return scores[found][:k], rows[found][:k].astype(np.int64)


def nearest(vectors: np.ndarray, query: np.ndarray, k: int, live: np.ndarray | None,
            ivf: InvertedFile | None, flat=None) -> list[tuple[float, int]]:
    """nearest_rows as (inner product, row) pairs."""
    scores, rows = nearest_rows(vectors, query, k, live, ivf, flat)
    return list(zip(scores.tolist(), rows.tolist()))


_pool = None
_pool_lock = threading.Lock()


def _search_pool():
    """The threads segments are searched on, each with one FAISS (OpenMP) thread, made on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            import faiss
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(SEARCH_THREADS, thread_name_prefix="dense-search",
                                       initializer=faiss.omp_set_num_threads, initargs=(FAISS_QUERY_THREADS,))
        return _pool


@dataclass(frozen=True, eq=False)
class DensePart:
    """One encoded segment as the dense search sees it."""

    segment: Segment
    live: np.ndarray | None             # None: every passage is live
    offset: int                         # row of its first passage across segments
    passage_ivf: InvertedFile | None


class SegmentedDense:
    """The dense leg over every encoded segment; rows are numbered across segments as in SegmentedBM25.

    Two stages: the passage vectors give the CANDIDATES_PER_RESULT · pool nearest passages over every segment
    (exact or IVF per segment), and only those passages' sentences are scored, exactly, from their stored
    vectors. No search runs over all sentences.
    """

    def __init__(self, parts: Sequence[DensePart], sentence_weight: float):
        self.parts = list(parts)
        self.sentence_weight = sentence_weight
        self.passages = sum(p.segment.size if p.live is None else int(p.live.sum()) for p in self.parts)

    def search(self, query: np.ndarray, pool: int) -> list[tuple[int, float]]:
        """(row, mixed score) of candidate passages, best first (ties: lower row first)."""
        import faiss

        faiss.omp_set_num_threads(FAISS_QUERY_THREADS)
        query = np.ascontiguousarray(query, dtype=np.float32)
        wanted = min(CANDIDATES_PER_RESULT * pool, self.passages)
        if wanted <= 0:
            return []

        def in_part(part: DensePart):
            return (part, *nearest_rows(part.segment.passage_vectors, query, wanted, part.live, part.passage_ivf,
                                        flat_index(part.segment) if part.passage_ivf is None else None))

        parallel = len(self.parts) >= PARALLEL_MIN_SEGMENTS and SEARCH_THREADS > 1
        if parallel:
            found = list(_search_pool().map(in_part, self.parts))
        else:
            found = [in_part(part) for part in self.parts]
        scores = np.concatenate([s for _, s, _ in found])
        rows = np.concatenate([part.offset + r for part, _, r in found])
        owner = np.concatenate([np.full(len(r), i) for i, (_, _, r) in enumerate(found)])
        keep = np.lexsort((rows, -scores))[:wanted]          # best first, ties: lower row first
        best = np.empty(len(keep), np.float32)
        owners = owner[keep]
        mine_of = [(part, np.flatnonzero(owners == i)) for i, (part, _, _) in enumerate(found)]
        mine_of = [(part, mine) for part, mine in mine_of if len(mine)]

        def sentences_of(part_and_mine):
            part, mine = part_and_mine
            return mine, self._best_sentences(part, rows[keep[mine]] - part.offset, query)

        scored = (_search_pool().map(sentences_of, mine_of) if parallel else map(sentences_of, mine_of))
        for mine, values in scored:
            best[mine] = values
        no_sentence = np.isnan(best)
        if no_sentence.any():                   # a passage without sentences: the lowest best sentence found
            best[no_sentence] = np.nanmin(best) if not no_sentence.all() else scores[keep][no_sentence]
        w = self.sentence_weight
        mixed = (1 - w) * scores[keep].astype(np.float64) + w * best.astype(np.float64)
        order = np.lexsort((rows[keep], -mixed))
        return list(zip(rows[keep][order].tolist(), mixed[order].tolist()))

    @staticmethod
    def _best_sentences(part: DensePart, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """The best sentence cosine of each of `rows` (one segment's passage rows), NaN for one without sentences."""
        bounds = part.segment.unit_bounds
        firsts, lasts = bounds[rows], bounds[rows + 1]
        counts = lasts - firsts
        best = np.full(len(rows), np.nan, np.float32)
        if not counts.sum():
            return best
        units = np.concatenate([np.arange(f, l) for f, l in zip(firsts, lasts)])
        order = np.argsort(units, kind="stable")          # sequential reads of the memory-mapped vectors
        cosines = np.empty(len(units), np.float32)
        cosines[order] = np.asarray(part.segment.unit_vectors[units[order]], dtype=np.float32) @ query
        has = counts > 0
        best[has] = np.maximum.reduceat(cosines, (np.cumsum(counts) - counts)[has])
        return best
