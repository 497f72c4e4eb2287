"""Okapi BM25 over segments with one global set of statistics: the scores of one BM25 over every live passage.

Document frequencies and the average length are summed over the live passages of all segments, so a
passage scores exactly as in retrieval.bm25.BM25Index (and rank_bm25's BM25Okapi) built over the same live
passages: adding a document moves every idf, but no segment is rewritten for it.
"""
from __future__ import annotations

from collections import Counter
from functools import cached_property
from typing import Sequence

import numpy as np

from retrieval.bm25 import best_positive

from retrieval.index.segment import Segment

K1, B, EPSILON = 1.5, 0.75, 0.25


class SegmentedBM25:
    """BM25 over (segment, live mask) pairs; passage rows are numbered across segments in order."""

    def __init__(self, parts: Sequence[tuple[Segment, np.ndarray]], k1: float = K1, b: float = B,
                 epsilon: float = EPSILON):
        self.parts = list(parts)
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.offsets = np.cumsum([0] + [segment.size for segment, _ in self.parts])
        self.live = np.concatenate([live for _, live in self.parts]) if self.parts else np.zeros(0, bool)
        vocabulary: dict[str, int] = {}
        document_frequency: list[np.ndarray] = []
        term_ids: list[np.ndarray] = []
        for segment, live in self.parts:
            ids = np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for t in segment.vocabulary),
                              dtype=np.int64, count=len(segment.vocabulary))
            postings = segment.postings
            if live.all():
                frequency = np.diff(postings.indptr)
            else:                                # count only live passages of each term
                alive = live[postings.indices].astype(np.int64)
                frequency = np.add.reduceat(np.append(alive, 0), postings.indptr[:-1]) if len(ids) else alive[:0]
                frequency[np.diff(postings.indptr) == 0] = 0
            term_ids.append(ids)
            document_frequency.append(frequency)
        self._term_ids = term_ids
        df = np.zeros(len(vocabulary), dtype=np.int64)
        for ids, frequency in zip(term_ids, document_frequency):
            np.add.at(df, ids, frequency)
        present = df > 0                         # a term only deleted passages had is not in the corpus any more
        self.vocabulary = {t: i for t, i in vocabulary.items() if present[i]}
        n = int(self.live.sum())
        idf = np.zeros(len(vocabulary))
        with np.errstate(divide="ignore", invalid="ignore"):
            idf[present] = np.log(n - df[present] + 0.5) - np.log(df[present] + 0.5)
        # rank_bm25 floors negative idf at epsilon x the mean idf over the vocabulary (here: the live one).
        floor = self.epsilon * (idf[present].mean() if present.any() else 0.0)
        idf[present & (idf < 0)] = floor
        self.idf = idf
        lengths = np.concatenate([segment.lengths for segment, _ in self.parts]).astype(np.float64) if self.parts else np.zeros(0)
        self.average_length = (lengths[self.live].mean() if n else 0.0) or 1.0
        self._norm = self.k1 * (1 - self.b + self.b * lengths / self.average_length)
        self.passages = n

    @property
    def size(self) -> int:
        """Rows (live and deleted) that scores() returns; deleted rows always score 0."""
        return int(self.offsets[-1])

    @cached_property
    def _idf32(self) -> np.ndarray:
        return self.idf.astype(np.float32)

    @cached_property
    def _weights(self) -> list[np.ndarray]:
        """BM25 weight of every posting under this snapshot's statistics, float32, aligned with each segment's
        postings: computed once per snapshot (one pass over the postings), so a query only gathers and adds."""
        weights = []
        for (segment, _), ids, offset in zip(self.parts, self._term_ids, self.offsets):
            postings = segment.postings
            idf = self.idf[np.repeat(ids, np.diff(postings.indptr))]
            tf = postings.data.astype(np.float64)
            norm = self._norm[postings.indices.astype(np.int64) + offset]
            # Same expression as BM25Index.build, so single-segment scores are bit-identical to it.
            weights.append((idf * tf * (self.k1 + 1) / (tf + norm)).astype(np.float32))
        return weights

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row; a repeated query token counts again, as in BM25Okapi."""
        scores = np.zeros(self.size, dtype=np.float32)
        counts = Counter(t for t in query_tokens if t in self.vocabulary)
        weights = self._weights if counts else []
        for term, multiplicity in counts.items():
            for (segment, _), offset, segment_weights in zip(self.parts, self.offsets, weights):
                row = segment.term_rows.get(term)
                if row is None:
                    continue
                start, end = segment.postings.indptr[row], segment.postings.indptr[row + 1]
                cols = segment.postings.indices[start:end] + offset
                scores[cols] += segment_weights[start:end] * np.float32(multiplicity)
        if not self.live.all():
            scores[~self.live] = 0.0
        return scores

    def top_k(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(row, score) of the k best live passages with a positive score, best first (ties: lower row first)."""
        return best_positive(self.scores(query_tokens), k)

    def term_idf(self, term: str) -> float:
        """idf of a term over the live passages; 0 for a term none has."""
        row = self.vocabulary.get(term)
        return 0.0 if row is None else float(self._idf32[row])

