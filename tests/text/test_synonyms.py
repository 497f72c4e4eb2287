"""The reviewed statistical vocabulary (resources/statistical_synonyms.yaml): its shape and its use both ways."""
from __future__ import annotations

import pytest

from retrieval.text.synonyms import SYNONYMS_FILE, load_synonyms, expand_query

TABLE = load_synonyms()


def test_every_entry_has_a_canonical_name_a_source_comment_and_no_name_twice():
    assert len(TABLE.concepts) >= 20
    names = [name for concept in TABLE.concepts for name in concept.names]
    assert len(names) == len({n.casefold() for n in names}), "a name belongs to one concept only"
    text = SYNONYMS_FILE.read_text(encoding="utf-8")
    for concept in TABLE.concepts:
        lines = text[:text.index(f"- canonical: {concept.canonical}\n")].rstrip().splitlines()
        comment = []
        while lines and lines[-1].startswith("#"):
            comment.insert(0, lines.pop())
        assert "统计公报" in " ".join(comment), f"{concept.canonical} has a comment naming its standard source"
        assert TABLE.concept_of(concept.canonical) is concept


@pytest.mark.parametrize("name, canonical", [
    ("GDP", "地区生产总值"), ("gdp", "地区生产总值"), ("经济总量", "地区生产总值"), ("经济增速", "地区生产总值"),
    ("生产总值", "地区生产总值"), ("CPI", "居民消费价格"), ("物价", "居民消费价格"), ("财政收入", "一般公共预算收入"),
    ("地方一般公共预算收入", "一般公共预算收入"), ("外资", "实际使用外资"), ("就业", "城镇新增就业"),
    ("失业率", "城镇调查失业率"), ("投资", "固定资产投资"), ("规上工业增加值", "规模以上工业增加值"),
    ("社零", "社会消费品零售总额"), ("进出口", "进出口总额"), ("粮食总产", "粮食产量"),
])
def test_each_name_finds_its_indicator(name, canonical):
    assert TABLE.concept_of(name).canonical == canonical
    assert TABLE.same_concept(name, canonical) and TABLE.same_concept(canonical, name)


def test_mentions_take_the_longest_name_at_each_place():
    found = [(m.name, m.concept.canonical) for m in TABLE.mentions("城镇调查失业率和地方一般公共预算收入")]
    assert found == [("城镇调查失业率", "城镇调查失业率"), ("地方一般公共预算收入", "一般公共预算收入")]


@pytest.mark.parametrize("question, added", [
    ("某省今年GDP增长目标是多少", "地区生产总值"),
    ("某市去年物价涨了多少", "居民消费价格"),
    ("某区财政收入完成多少亿元", "一般公共预算收入"),
    ("某县利用外资多少万美元", "实际使用外资"),
])
def test_an_invented_question_is_expanded_with_the_reports_word(question, added):
    assert added in expand_query(question).split()


def test_a_broad_word_or_a_standard_name_adds_nothing():
    assert expand_query("某镇帮扶就业困难人员多少人") == "某镇帮扶就业困难人员多少人"
    assert expand_query("固定资产投资增长多少") == "固定资产投资增长多少"
    assert expand_query("项目投资多少") == "项目投资多少"


def test_indicators_are_named_specifically_not_by_rate_words_or_broad_names():
    assert [m.concept.canonical for m in TABLE.indicators_in("某市去年GDP增速多少")] == ["地区生产总值"]
    assert TABLE.indicators_in("某镇项目投资增长多少") == []
