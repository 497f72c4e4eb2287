"""BM25Index against the rank_bm25 reference, its ranking and save/load; reciprocal rank fusion by hand."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval.index.bm25_reference import BM25Index
from retrieval.errors import IndexMismatch, IndexNotFound
from retrieval.search.fusion import RRF_K, min_max_fusion, reciprocal_rank_fusion
from retrieval.text.tokenizer import JiebaTokenizer

PASSAGES = [
    "做好无证建筑治理工作，确保新增违法建筑零增长，完成3万平方米年度拆违任务。",
    "巩固垃圾分类工作成果，推进湿垃圾就地处置，提升居民垃圾分类实效。",
    "提升老旧小区物业管理水平，推进老旧小区电梯加装和综合改造。",
    "加快城市数字化转型探索，用好“一网统管”平台，推进城市运行智能化。",
    "常态化落实疫情防控工作，加大进口冷链食品管控，有序推进疫苗接种工作。",
    "全年预计可完成规上工业总产值270亿元，同比下降15%。",
    "继续推进嘉馨公寓等7个老旧小区电梯维修、改造、更新。",
    "深化区域化党建工作，以建党百年为主线，深化“四史”学习教育。",
]
QUERIES = ["吴淞今年拆违任务多少平方米", "老旧小区电梯", "垃圾分类", "一网统管平台", "规上工业总产值多少亿元",
           "老旧小区 老旧小区 电梯", "火星探测器"]


@pytest.fixture(scope="module")
def tokenizer():
    return JiebaTokenizer(["一网统管", "拆违"])


@pytest.fixture(scope="module")
def chinese_corpus(tokenizer):
    return [tokenizer(p) for p in PASSAGES]


def reference_scores(corpus_tokens, query_tokens):
    return BM25Okapi(corpus_tokens).get_scores(query_tokens)


@pytest.mark.parametrize("query", QUERIES)
def test_scores_equal_rank_bm25_on_chinese_passages(tokenizer, chinese_corpus, query):
    index = BM25Index.build(chinese_corpus)
    tokens = tokenizer(query)
    expected = reference_scores(chinese_corpus, tokens)
    assert np.allclose(index.scores(tokens), expected, rtol=1e-5, atol=1e-6)


def test_the_chinese_fixture_is_not_trivial(tokenizer, chinese_corpus):
    """The comparison above means something only if queries really score: some passages differ, some are 0."""
    scores = BM25Index.build(chinese_corpus).scores(tokenizer("老旧小区电梯"))
    assert scores[2] > 0 and scores[6] > 0 and scores[0] == 0
    assert "老旧小区" in tokenizer("提升老旧小区物业管理水平") or "小区" in tokenizer("提升老旧小区物业管理水平")


@pytest.mark.parametrize("seed", range(8))
def test_scores_equal_rank_bm25_on_random_token_lists(seed):
    rng = random.Random(seed)
    vocabulary = [f"t{i}" for i in range(rng.randint(5, 40))]
    corpus = [[rng.choice(vocabulary) for _ in range(rng.randint(1, 30))] for _ in range(rng.randint(2, 25))]
    index = BM25Index.build(corpus)
    for _ in range(10):
        query = [rng.choice(vocabulary) for _ in range(rng.randint(1, 6))]
        query += query[:2]                                  # repeated tokens count again
        query += ["never-seen", "另一个未知词"]              # unknown tokens add nothing
        rng.shuffle(query)
        assert np.allclose(index.scores(query), reference_scores(corpus, query), rtol=1e-5, atol=1e-6)


def test_common_term_gets_the_epsilon_floor_like_rank_bm25():
    """A term in more than half the passages has negative raw idf; both floor it at epsilon x mean idf."""
    corpus = [["common", "a"], ["common", "b"], ["common", "c"], ["d"]]
    index = BM25Index.build(corpus)
    assert np.allclose(index.scores(["common"]), reference_scores(corpus, ["common"]), rtol=1e-5)
    assert index.term_idf("common") > 0
    assert index.term_idf("unknown") == 0.0


def test_repeated_query_token_doubles_its_contribution():
    corpus = [["x", "y"], ["y", "z"], ["z", "w"]]
    index = BM25Index.build(corpus)
    assert np.allclose(index.scores(["x", "x"]), 2 * index.scores(["x"]))


def test_unknown_only_query_scores_zero_everywhere():
    index = BM25Index.build([["x"], ["y"]])
    assert index.scores(["nothing"]).tolist() == [0.0, 0.0]
    assert index.top_k(["nothing"], 5) == []


def test_top_k_is_best_first_positive_only_and_ties_by_index(tokenizer, chinese_corpus):
    index = BM25Index.build(chinese_corpus)
    tokens = tokenizer("老旧小区电梯")
    scores = index.scores(tokens)
    ranked = index.top_k(tokens, 3)
    expected = sorted((i for i in range(len(scores)) if scores[i] > 0), key=lambda i: (-scores[i], i))[:3]
    assert [i for i, _ in ranked] == expected
    assert {2, 6} <= {i for i, _ in ranked}
    assert all(a[1] >= b[1] for a, b in zip(ranked, ranked[1:]))
    assert all(score > 0 for _, score in ranked)
    tie = BM25Index.build([["a"], ["b"], ["c"], ["a"], ["d"], ["e"], ["a"]])     # equal scores: index order
    assert [i for i, _ in tie.top_k(["a"], 10)] == [0, 3, 6]
    assert len(index.top_k(tokens, 100)) == int((scores > 0).sum())


def test_build_rejects_an_empty_corpus():
    with pytest.raises(ValueError):
        BM25Index.build([])


def test_save_then_load_gives_identical_scores(tmp_path, tokenizer, chinese_corpus):
    index = BM25Index.build(chinese_corpus, k1=1.2, b=0.6)
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert (loaded.k1, loaded.b, loaded.epsilon) == (1.2, 0.6, 0.25)
    assert loaded.vocabulary == index.vocabulary
    for query in QUERIES:
        tokens = tokenizer(query)
        assert np.array_equal(loaded.scores(tokens), index.scores(tokens))
        assert loaded.top_k(tokens, 5) == index.top_k(tokens, 5)
    for path in (tmp_path / "bm25").glob("*.npy"):
        np.load(path, allow_pickle=False)


def test_loading_a_wrong_format_number_raises_index_mismatch(tmp_path, chinese_corpus):
    BM25Index.build(chinese_corpus).save(tmp_path / "bm25")
    params_path = tmp_path / "bm25" / "params.json"
    params = json.loads(params_path.read_text(encoding="utf-8"))
    params["format"] = params["format"] + 1
    params_path.write_text(json.dumps(params), encoding="utf-8")
    with pytest.raises(IndexMismatch, match="format"):
        BM25Index.load(tmp_path / "bm25")


def test_loading_a_missing_index_raises_index_not_found(tmp_path):
    with pytest.raises(IndexNotFound):
        BM25Index.load(tmp_path / "nothing")


# --- reciprocal rank fusion ----------------------------------------------------------------------

def test_rrf_constant_is_documented_value():
    assert RRF_K == 60


def test_rrf_by_hand():
    fused = reciprocal_rank_fusion({"bm25": ["a", "b", "c"], "dense": ["c", "d", "a"]}, k=60)
    scores = {item.item_id: item.score for item in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert scores["d"] == pytest.approx(1 / 62)
    # a and c tie on score and best rank (1): the id breaks the tie; b and d likewise.
    assert [item.item_id for item in fused] == ["a", "c", "b", "d"]
    by_id = {item.item_id: item for item in fused}
    assert by_id["a"].leg_ranks == (("bm25", 1), ("dense", 3))
    assert by_id["d"].leg_ranks == (("dense", 2),)


def test_rrf_an_id_in_both_legs_beats_one_in_a_single_leg_at_the_same_rank():
    fused = reciprocal_rank_fusion({"bm25": ["x", "y"], "dense": ["z", "y"]})
    assert fused[0].item_id == "y"
    assert fused[0].score == pytest.approx(2 / 62)


def test_rrf_weights_scale_each_leg():
    fused = reciprocal_rank_fusion({"bm25": ["a", "b"], "dense": ["b", "a"]}, k=60, weights={"bm25": 2.0, "dense": 0.5})
    scores = {item.item_id: item.score for item in fused}
    assert scores["a"] == pytest.approx(2.0 / 61 + 0.5 / 62)
    assert scores["b"] == pytest.approx(2.0 / 62 + 0.5 / 61)
    assert [item.item_id for item in fused] == ["a", "b"]
    unweighted = reciprocal_rank_fusion({"bm25": ["a", "b"], "dense": ["b", "a"]}, k=60, weights={"bm25": 2.0})
    assert {i.item_id: i.score for i in unweighted}["b"] == pytest.approx(2.0 / 62 + 1.0 / 61)


def test_rrf_k_changes_the_gap_and_negative_k_is_rejected():
    small = reciprocal_rank_fusion({"bm25": ["a", "b"]}, k=0)
    assert [i.score for i in small] == pytest.approx([1.0, 0.5])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion({"bm25": ["a"]}, k=-1)


def test_rrf_of_empty_rankings_is_empty():
    assert reciprocal_rank_fusion({"bm25": [], "dense": []}) == []


def test_min_max_fusion_normalises_each_leg_before_weighting():
    fused = min_max_fusion({"bm25": {"a": 30.0, "b": 10.0, "c": 20.0}, "dense": {"a": 0.1, "b": 0.9, "c": 0.5}})
    scores = {i.item_id: i.score for i in fused}
    assert scores == pytest.approx({"a": 1.0 + 0.0, "b": 0.0 + 1.0, "c": 0.5 + 0.5})
    # a and b tie at 1.0 with best rank 1 each: the id decides.
    assert [i.item_id for i in fused] == ["a", "b", "c"]


def test_min_max_fusion_counts_a_single_hit_as_its_legs_best():
    fused = min_max_fusion({"bm25": {"only": 7.5}, "dense": {"a": 0.9, "only": 0.1}})
    scores = {item.item_id: item.score for item in fused}
    assert scores["only"] == 1.0 + 0.0 and scores["a"] == 1.0
