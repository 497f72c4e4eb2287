"""Fusion of ranked lists from several retrievers: a pure function with named modes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

# Reciprocal rank fusion constant: score = Σ weight / (RRF_K + rank). 60 is the value of the original
# paper (Cormack et al. 2009); haystack uses 61. A larger k flattens the gap between ranks 1 and 10.
RRF_K = 60


@dataclass(frozen=True)
class FusedItem:
    item_id: str
    score: float
    leg_ranks: tuple[tuple[str, int], ...]


def reciprocal_rank_fusion(rankings: Mapping[str, Sequence[str]], k: int = RRF_K,
                           weights: Mapping[str, float] | None = None) -> list[FusedItem]:
    """Fuse ranked id lists by reciprocal rank; ids missing from a leg get nothing from it.

    Ties are broken by the best single-leg rank, then by id, so the order is deterministic.
    """
    if k < 0:
        raise ValueError(f"RRF k must be >= 0, got {k}")
    scores: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    for leg, ids in rankings.items():
        weight = 1.0 if weights is None else float(weights.get(leg, 1.0))
        for rank, item_id in enumerate(ids, start=1):
            scores[item_id] = scores.get(item_id, 0.0) + weight / (k + rank)
            ranks.setdefault(item_id, {})[leg] = rank
    order = sorted(scores, key=lambda i: (-scores[i], min(ranks[i].values()), i))
    return [FusedItem(i, scores[i], tuple(sorted(ranks[i].items()))) for i in order]


def min_max_fusion(scored: Mapping[str, Mapping[str, float]], weights: Mapping[str, float] | None = None) -> list[FusedItem]:
    """Weighted sum of per-leg scores after min-max normalisation to [0, 1] (never raw BM25 + cosine)."""
    total: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    for leg, leg_scores in scored.items():
        if not leg_scores:
            continue
        low, high = min(leg_scores.values()), max(leg_scores.values())
        weight = 1.0 if weights is None else float(weights.get(leg, 1.0))
        ordered = sorted(leg_scores, key=lambda i: -leg_scores[i])
        for rank, item_id in enumerate(ordered, start=1):
            # Equal scores (or a single hit) are all the leg's best: 1, not 0.
            normalised = (leg_scores[item_id] - low) / (high - low) if high > low else 1.0
            total[item_id] = total.get(item_id, 0.0) + weight * normalised
            ranks.setdefault(item_id, {})[leg] = rank
    order = sorted(total, key=lambda i: (-total[i], min(ranks[i].values()), i))
    return [FusedItem(i, total[i], tuple(sorted(ranks[i].items()))) for i in order]


FUSION_MODES = ("rrf", "minmax")
