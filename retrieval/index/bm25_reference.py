"""Okapi BM25 as a sparse term-by-passage weight matrix: scoring is one sparse product, saving is .npy arrays.

It gives the same scores as rank_bm25's BM25Okapi (the reference it is tested against), with the
per-term weights computed once at build time instead of in a Python loop at every query.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import sparse

from retrieval.errors import IndexMismatch, IndexNotFound
from retrieval.index.store import load_array

BM25_FORMAT = 1


def best_positive(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(row, score) of the k highest positive scores, best first; ties go to the lower row."""
    positive = np.flatnonzero(scores > 0)
    return best_of(positive, scores[positive], k)


def best_of(rows: np.ndarray, values: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(row, value) of the k highest values, best first; ties go to the lower row, at the k-th place too.

    `rows` must be ascending. Rows tied with the k-th value are kept lowest first: an argpartition alone
    would keep whichever of them its selection happens to leave in front.
    """
    if k <= 0 or rows.size == 0:
        return []
    if k < rows.size:
        kth = np.partition(values, rows.size - k)[rows.size - k]            # the k-th highest value
        above = values > kth
        tied = np.flatnonzero(values == kth)[:k - int(np.count_nonzero(above))]
        keep = np.concatenate([np.flatnonzero(above), tied])
        rows, values = rows[keep], values[keep]
    order = np.lexsort((rows, -values))
    return [(int(rows[i]), float(values[i])) for i in order]


class BM25Index:
    """BM25 weights for a fixed list of tokenised passages (rows of the matrix are terms)."""

    def __init__(self, vocabulary: dict[str, int], weights: sparse.csr_matrix, idf: np.ndarray,
                 k1: float, b: float, epsilon: float):
        self.vocabulary = vocabulary
        self.weights = weights          # terms x passages, float32
        self.idf = idf                  # per term row, after the epsilon floor
        self.k1, self.b, self.epsilon = k1, b, epsilon

    @property
    def size(self) -> int:
        return self.weights.shape[1]

    @classmethod
    def build(cls, corpus_tokens: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75,
              epsilon: float = 0.25) -> "BM25Index":
        """Weights as BM25Okapi computes them, negative idf floored at epsilon × mean idf."""
        if not corpus_tokens:
            raise ValueError("BM25Index.build needs at least one passage")
        vocabulary: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        lengths = np.array([len(tokens) for tokens in corpus_tokens], dtype=np.float64)
        document_frequency: Counter = Counter()
        for col, tokens in enumerate(corpus_tokens):
            for term, tf in Counter(tokens).items():
                row = vocabulary.setdefault(term, len(vocabulary))
                rows.append(row)
                cols.append(col)
                tfs.append(tf)
                document_frequency[term] += 1
        n = len(corpus_tokens)
        idf = np.zeros(len(vocabulary))
        for term, row in vocabulary.items():
            df = document_frequency[term]
            idf[row] = math.log(n - df + 0.5) - math.log(df + 0.5)
        floor = epsilon * idf.mean()
        idf[idf < 0] = floor
        average_length = lengths.mean() or 1.0
        rows_a, cols_a, tf_a = np.array(rows), np.array(cols), np.array(tfs, dtype=np.float64)
        norm = k1 * (1 - b + b * lengths[cols_a] / average_length)
        values = idf[rows_a] * tf_a * (k1 + 1) / (tf_a + norm)
        weights = sparse.csr_matrix((values.astype(np.float32), (rows_a, cols_a)), shape=(len(vocabulary), n))
        return cls(vocabulary, weights, idf.astype(np.float32), k1, b, epsilon)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage; a repeated query token counts again, as in BM25Okapi."""
        counts = Counter(t for t in query_tokens if t in self.vocabulary)
        if not counts:
            return np.zeros(self.size, dtype=np.float32)
        rows = np.array([self.vocabulary[t] for t in counts])
        multiplicity = np.array(list(counts.values()), dtype=np.float32)
        return np.asarray(self.weights[rows].T @ multiplicity).ravel()

    def top_k(self, query_tokens: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(passage index, score) of the k best passages with a positive score, best first."""
        return best_positive(self.scores(query_tokens), k)

    def term_idf(self, term: str) -> float:
        """idf of a term; 0 for a term no passage has."""
        row = self.vocabulary.get(term)
        return 0.0 if row is None else float(self.idf[row])

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        csr = self.weights.tocsr()
        np.save(directory / "data.npy", csr.data, allow_pickle=False)
        np.save(directory / "indices.npy", csr.indices, allow_pickle=False)
        np.save(directory / "indptr.npy", csr.indptr, allow_pickle=False)
        np.save(directory / "idf.npy", self.idf, allow_pickle=False)
        terms = sorted(self.vocabulary, key=self.vocabulary.get)
        (directory / "vocabulary.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        (directory / "params.json").write_text(json.dumps(
            {"format": BM25_FORMAT, "k1": self.k1, "b": self.b, "epsilon": self.epsilon,
             "shape": list(csr.shape)}), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "BM25Index":
        params_path = directory / "params.json"
        if not params_path.exists():
            raise IndexNotFound(f"no BM25 index in {directory}: build it with `python -m retrieval build`")
        params = json.loads(params_path.read_text(encoding="utf-8"))
        if params.get("format") != BM25_FORMAT:
            raise IndexMismatch(f"BM25 index format {params.get('format')} in {directory}, this code reads "
                                f"{BM25_FORMAT}: rebuild with `python -m retrieval build --force`")
        terms = json.loads((directory / "vocabulary.json").read_text(encoding="utf-8"))
        weights = sparse.csr_matrix(
            (load_array(directory / "data.npy"),
             load_array(directory / "indices.npy"),
             load_array(directory / "indptr.npy")),
            shape=tuple(params["shape"]))
        idf = load_array(directory / "idf.npy")
        return cls({t: i for i, t in enumerate(terms)}, weights, idf, params["k1"], params["b"], params["epsilon"])
