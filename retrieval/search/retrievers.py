"""The retrievers: one small interface, `search(query, k) -> list[Hit]`, for the BM25 leg, the dense leg
and their fusion. The engine composes them; a faster or remote leg only has to keep this interface."""
from __future__ import annotations

from typing import Callable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from retrieval.search.fusion import FUSION_MODES, RRF_K, min_max_fusion, reciprocal_rank_fusion
from retrieval.text.tokenizer import Tokenizer
from retrieval.types import Hit

Where = Callable[[str], bool]            # keeps a chunk id or not (the app's organisation / year filters)


@runtime_checkable
class Retriever(Protocol):
    name: str

    def search(self, query: str, k: int, where: Where | None = None) -> list[Hit]:
        """The k best passages for the query, best first, ranks from 1; `where` filters chunk ids."""


def _ranked_hits(name: str, scored: Sequence[tuple[str, float]], k: int, where: Where | None) -> list[Hit]:
    kept = [(chunk_id, score) for chunk_id, score in scored if where is None or where(chunk_id)][:k]
    return [Hit(chunk_id, round(score, 6), rank, ((name, rank),)) for rank, (chunk_id, score) in enumerate(kept, 1)]


class BM25Retriever:
    """BM25 over the tokenised title + section path + passage of every chunk, searched by an index backend
    (retrieval.index.backend.IndexBackend: the local segments or Milvus)."""

    name = "bm25"

    def __init__(self, backend, tokenize: Tokenizer):
        self.backend, self.tokenize = backend, tokenize

    def search(self, query: str, k: int, where: Where | None = None) -> list[Hit]:
        # A filter keeps any passage, so every passage is a candidate (the local backend returns only positive scores).
        pool = k if where is None else max(k, self.backend.count())
        return _ranked_hits(self.name, self.backend.bm25(self.tokenize(query), pool), k, where)


class DenseRetriever:
    """Passages by (1 - w) · passage cosine + w · best sentence cosine (see retrieval.index.dense), searched
    by an index backend. A 200-character passage about several things is found by the one sentence that matches.
    """

    name = "dense"

    def __init__(self, backend, encode_query: Callable[[str], np.ndarray]):
        self.backend, self.encode_query = backend, encode_query

    def search(self, query: str, k: int, where: Where | None = None) -> list[Hit]:
        pool = k if where is None else max(k, self.backend.count())
        return _ranked_hits(self.name, self.backend.dense(self.encode_query(query), pool), k, where)


class HybridRetriever:
    """Fusion of several legs ("rrf": reciprocal rank, the default; "minmax": weighted sum of min-max
    normalised scores), plus an optional per-passage preference added to the fused score (the engine's:
    the plan of an organisation named in the question comes first)."""

    name = "hybrid"

    def __init__(self, legs: Sequence[Retriever], weights: Mapping[str, float] | None = None, rrf_k: int = RRF_K,
                 candidates: int = 50, mode: str = "rrf"):
        if mode not in FUSION_MODES:
            raise ValueError(f"fusion mode must be one of {FUSION_MODES}, got {mode!r}")
        self.legs, self.weights, self.rrf_k, self.candidates, self.mode = list(legs), weights, rrf_k, candidates, mode

    def search(self, query: str, k: int, where: Where | None = None,
               preference: Callable[[str], float] | None = None) -> list[Hit]:
        pool = max(self.candidates, k)
        return self.fuse({leg.name: leg.search(query, pool, where) for leg in self.legs}, k, preference)

    def fuse(self, leg_hits: Mapping[str, Sequence[Hit]], k: int,
             preference: Callable[[str], float] | None = None) -> list[Hit]:
        """Fuse the legs' ranked hits (already searched, e.g. to show each leg too) into the top k."""
        if self.mode == "rrf":
            fused = reciprocal_rank_fusion({name: [h.chunk_id for h in hits] for name, hits in leg_hits.items()},
                                           k=self.rrf_k, weights=self.weights)
        else:
            fused = min_max_fusion({name: {h.chunk_id: h.score for h in hits} for name, hits in leg_hits.items()},
                                   weights=self.weights)
        rescored = sorted(((item.score + (preference(item.item_id) if preference else 0.0), item) for item in fused),
                          key=lambda pair: (-pair[0], pair[1].item_id))
        return [Hit(item.item_id, round(score, 6), rank, item.leg_ranks)
                for rank, (score, item) in enumerate(rescored[:k], start=1)]
