"""Top-k of BM25 scores: the lower-row tie rule holds at the k-th place too, and SegmentedBM25.top_k returns
exactly the rows, float32 scores and order of the full-score reference, best_positive(scores(query), k)."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval.bm25 import best_positive


def stable_reference(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Every positive row sorted by (score descending, row ascending), cut at k: the rule, by brute force."""
    positive = np.flatnonzero(scores > 0)
    ranked = sorted(positive.tolist(), key=lambda row: (-scores[row], row))[:k]
    return [(row, float(scores[row])) for row in ranked]


@pytest.mark.parametrize("seed", range(20))
def test_rows_tied_at_the_kth_place_are_kept_lowest_first(seed):
    rng = np.random.default_rng(seed)
    scores = rng.choice(np.array([0, 0.5, 1.25, 2, 3], dtype=np.float32), size=300)
    for k in (1, 3, 10, 57, 299, 300, 1000):
        assert best_positive(scores, k) == stable_reference(scores, k), k


def test_best_positive_keeps_only_positive_scores_and_nothing_for_k_zero():
    scores = np.array([0, 2, -1, 2, 0.5, 0], dtype=np.float32)
    assert best_positive(scores, 10) == [(1, 2.0), (3, 2.0), (4, 0.5)]
    assert best_positive(scores, 1) == [(1, 2.0)]
    assert best_positive(scores, 0) == []
    assert best_positive(np.zeros(4, np.float32), 3) == []
