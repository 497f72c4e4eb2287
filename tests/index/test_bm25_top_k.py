"""Top-k of BM25 scores: the lower-row tie rule holds at the k-th place too, and SegmentedBM25.top_k returns
exactly the rows, float32 scores and order of the full-score reference, best_positive(scores(query), k)."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval.index.bm25_reference import best_positive


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


# --- SegmentedBM25.top_k against the full scores ------------------------------------------------------------

from retrieval.index import bm25 as segmented_bm25                     # noqa: E402
from retrieval.index.bm25 import SegmentedBM25                         # noqa: E402
from retrieval.index.segment import Segment                            # noqa: E402
from tests.index.test_segments import _passages                              # noqa: E402

KS = (1, 2, 5, 10, 50, 400)


def skewed_corpus(rng: np.random.Generator, passages: int, vocabulary: int) -> list[list[str]]:
    """Zipf-like term frequencies, like plan text: a few terms in most passages, one ("年") in every one,
    a long tail of rare ones; some passages are exact copies of others, so equal scores are common."""
    terms = [f"t{i}" for i in range(vocabulary)]
    probability = 1.0 / np.arange(1, vocabulary + 1) ** 1.1
    probability /= probability.sum()
    corpus = []
    for _ in range(passages):
        if corpus and rng.random() < 0.1:
            corpus.append(list(corpus[rng.integers(len(corpus))]))
            continue
        tokens = list(rng.choice(terms, size=int(rng.integers(1, 40)), p=probability)) + ["年"]
        corpus.append(tokens)
    return corpus


def segmented(rng: np.random.Generator, corpus: list[list[str]], cuts: list[int], deleted: float) -> SegmentedBM25:
    parts, bounds = [], [0, *cuts, len(corpus)]
    for first, last in zip(bounds, bounds[1:]):
        segment = Segment.build(f"s{first}", [], _passages(corpus[first:last]))
        parts.append((segment, rng.random(last - first) >= deleted))
    return SegmentedBM25(parts)


def queries(rng: np.random.Generator, corpus: list[list[str]], count: int) -> list[list[str]]:
    """Tokens of a passage (so something matches), frequent terms, repeated tokens and unknown ones."""
    out = []
    for _ in range(count):
        passage = corpus[rng.integers(len(corpus))]
        query = list(rng.choice(passage, size=int(rng.integers(1, 8))))
        if rng.random() < 0.5:
            query += query[:int(rng.integers(1, 3))]                      # a repeated token counts again
        if rng.random() < 0.3:
            query += ["t0", "年"]                                         # terms most passages have
        if rng.random() < 0.3:
            query.insert(int(rng.integers(len(query) + 1)), "从未出现")    # an unknown token adds nothing
        out.append(query)
    return out + [["从未出现"], ["年"], ["年", "年", "t1"]]


@pytest.fixture
def fast_path_count(monkeypatch):
    """How many top_k calls did not fall back to best_positive over every row."""
    calls = {"top_k": 0, "fallback": 0}
    original_top_k, original_fallback = SegmentedBM25.top_k, segmented_bm25.best_positive

    def top_k(self, query_tokens, k):
        calls["top_k"] += 1
        return original_top_k(self, query_tokens, k)

    def fallback(scores, k):
        calls["fallback"] += 1
        return original_fallback(scores, k)

    monkeypatch.setattr(SegmentedBM25, "top_k", top_k)
    monkeypatch.setattr(segmented_bm25, "best_positive", fallback)
    return calls


@pytest.mark.parametrize("seed", range(6))
def test_top_k_equals_the_full_score_reference_on_random_segmented_corpora(seed, fast_path_count):
    rng = np.random.default_rng(seed)
    corpus = skewed_corpus(rng, passages=int(rng.integers(300, 700)), vocabulary=int(rng.integers(60, 400)))
    cuts = sorted(rng.choice(np.arange(1, len(corpus)), size=int(rng.integers(1, 4)), replace=False).tolist())
    index = segmented(rng, corpus, cuts, deleted=(0.0, 0.05, 0.3)[seed % 3])
    live = index.live
    for query in queries(rng, corpus, 60):
        reference_scores = index.scores(query)
        for k in KS:
            expected = best_positive(reference_scores, k)
            got = index.top_k(query, k)
            assert got == expected, (query, k)                            # rows, float32 scores, order
            assert all(live[row] and score > 0 for row, score in got)
            assert len(got) == min(k, int((reference_scores > 0).sum()))
    # The comparison covers the new selection, not only its fall-back to a selection over every row.
    assert fast_path_count["fallback"] < 0.5 * fast_path_count["top_k"]


def test_top_k_keeps_the_lower_rows_of_a_tie_at_the_kth_place():
    """Ten copies of one passage in two segments: the same score each, so k picks the k lowest live rows."""
    corpus = [["规划", "建设", "年"]] * 10 + [["其他", "年"]] * 30
    live = np.ones(20, bool)
    live[[1, 4]] = False
    index = SegmentedBM25([(Segment.build("a", [], _passages(corpus[:20])), live),
                           (Segment.build("b", [], _passages(corpus[20:])), np.ones(20, bool))])
    got = index.top_k(["建设"], 3)
    assert [row for row, _ in got] == [0, 2, 3]
    assert len({score for _, score in got}) == 1
    assert got == best_positive(index.scores(["建设"]), 3)
    assert [row for row, _ in index.top_k(["建设"], 100)] == [0, 2, 3, 5, 6, 7, 8, 9]


def test_top_k_over_a_merged_segment_with_terms_only_dropped_passages_had():
    """A merge keeps the vocabulary of its parts: a term of deleted passages only has no posting left."""
    rng = np.random.default_rng(11)
    corpus = skewed_corpus(rng, 200, 80) + [["只在删除的段落里", "年"]] * 3
    first = Segment.build("a", [], _passages(corpus))
    live = np.ones(len(corpus), bool)
    live[-3:] = False
    merged = Segment.merge("m", [(first, live)])
    index = SegmentedBM25([(merged, np.ones(merged.size, bool)),
                           (Segment.build("b", [], _passages(corpus[:50])), rng.random(50) > 0.2)])
    for query in queries(rng, corpus, 40) + [["只在删除的段落里", "t1"]]:
        for k in KS:
            assert index.top_k(query, k) == best_positive(index.scores(query), k), (query, k)


def test_top_k_with_negative_idf_in_a_tiny_corpus_equals_the_reference():
    """Two passages sharing every term: rank_bm25's floor (epsilon x mean idf) is negative there."""
    index = SegmentedBM25([(Segment.build("s", [], _passages([["a", "b"], ["a", "b", "b"]])), np.ones(2, bool))])
    assert index.term_idf("a") < 0
    for query in (["a"], ["a", "b"], ["b", "b"]):
        for k in (1, 2, 5):
            assert index.top_k(query, k) == best_positive(index.scores(query), k)


def test_top_k_of_no_known_term_or_k_zero_is_empty():
    index = SegmentedBM25([(Segment.build("s", [], _passages([["x", "y"], ["y"], ["y", "z"]])), np.ones(3, bool))])
    assert index.top_k(["nothing"], 5) == [] and index.top_k([], 5) == [] and index.top_k(["x"], 0) == []
    assert index.top_k(["x", "x", "nothing"], 5) == best_positive(index.scores(["x", "x"]), 5) != []
