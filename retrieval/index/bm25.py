"""Okapi BM25 over segments with one global set of statistics: the scores of one BM25 over every live passage.

Document frequencies and the average length are summed over the live passages of all segments, so a
passage scores exactly as in retrieval.index.bm25_reference.BM25Index (and rank_bm25's BM25Okapi) built over the same live
passages: adding a document moves every idf, but no segment is rewritten for it.
"""
from __future__ import annotations

from collections import Counter
from functools import cached_property
from typing import Sequence

import numpy as np

from retrieval.index.bm25_reference import best_of, best_positive

from retrieval.index.segment import Segment

K1, B, EPSILON = 1.5, 0.75, 0.25
# top_k's lower bound of the k-th score comes from the rows of at most RARE_TERMS query terms, each on at most
# this share of the rows (a selection over more costs about what it saves).
RARE_TERMS, RARE_ROWS_SHARE = 2, 0.25


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

    @cached_property
    def _deleted_rows(self) -> np.ndarray:
        return np.flatnonzero(~self.live)

    def top_k(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(row, score) of the k best live passages with a positive score, best first (ties: lower row first).

        Exactly best_positive(self.scores(query_tokens), k): the scores are added up as scores() adds them,
        then, instead of a selection over every positive row, the k-th score of the rows of a rare query term
        (a lower bound of the k-th score overall) keeps only the few rows that can be in the top k.
        """
        counts = Counter(t for t in query_tokens if t in self.vocabulary)
        if not counts or k <= 0:
            return []
        scores = np.zeros(self.size, dtype=np.float32)
        views = [scores[start:end] for start, end in zip(self.offsets[:-1], self.offsets[1:])]
        weights = self._weights
        rows_of: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for term, multiplicity in counts.items():     # the additions of scores(), in its order: same float32 sums
            factor = np.float32(multiplicity)
            for (segment, _), view, segment_weights in zip(self.parts, views, weights):
                row = segment.term_rows.get(term)
                if row is None:
                    continue
                start, end = segment.postings.indptr[row], segment.postings.indptr[row + 1]
                rows = segment.postings.indices[start:end]
                term_weights = segment_weights[start:end]
                # A term's rows are distinct, so add.at adds what `view[rows] += ...` adds, about 3x faster
                # (no int64 copy of the rows, no gathered temporary); x * 1 is x, so a single token skips it.
                np.add.at(view, rows, term_weights if multiplicity == 1 else term_weights * factor)
                rows_of.setdefault(term, []).append((view, rows))
        if self._deleted_rows.size:
            scores[self._deleted_rows] = 0.0
        floor = self._kth_lower_bound(rows_of, k)
        if floor <= 0:
            return best_positive(scores, k)
        candidates = np.flatnonzero(scores >= floor)    # at least k rows, and every row of the top k
        return best_of(candidates, scores[candidates], k)

    def _kth_lower_bound(self, rows_of: dict[str, list[tuple[np.ndarray, np.ndarray]]], k: int) -> float:
        """The k-th highest score over the rows of each of the query's rarest terms (the best of them; 0 for
        none): k distinct rows score at least that, so the k-th highest score overall is no lower."""
        lengths = {term: sum(len(rows) for _, rows in pieces) for term, pieces in rows_of.items()}
        rare = sorted((n, term) for term, n in lengths.items() if k <= n <= RARE_ROWS_SHARE * self.size)
        floor = 0.0
        for n, term in rare[:RARE_TERMS]:
            values = np.concatenate([view.take(rows) for view, rows in rows_of[term]])
            floor = max(floor, float(np.partition(values, n - k)[n - k]))
        return floor

    def term_idf(self, term: str) -> float:
        """idf of a term over the live passages; 0 for a term none has."""
        row = self.vocabulary.get(term)
        return 0.0 if row is None else float(self._idf32[row])

