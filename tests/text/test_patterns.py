"""The shared domain patterns: one 文号 pattern read by metadata derivation and by fact extraction, one list of periods."""
from __future__ import annotations

import pytest

from retrieval.answer.facts import extract_fact
from retrieval.ingest.titles import doc_number_of, period_of
from retrieval.search.query import analyze_query
from retrieval.text.patterns import DOC_NUMBER, PERIODS

# Invented sentences, each with the 文号 written in a different way.
NUMBERED = [
    ("现将《青禾镇人民政府关于印发年度计划的通知》（青禾府发〔2023〕7号）转发给你们", "青禾府发〔2023〕7号"),
    ("根据《关于做好汛期值守的通知》（柳办字[2021]第12号）要求，认真抓好落实", "柳办字[2021]第12号"),
    ("为落实有关部署，石湾区政府办【2019】105号通知要求开展专项检查", "石湾区政府办【2019】105号"),
    ("依据 临川经信发（2024） 3 号 的部署推进项目", "临川经信发（2024） 3 号"),
]


@pytest.mark.parametrize("sentence, number", NUMBERED)
def test_doc_number_pattern_finds_the_whole_number(sentence, number):
    assert DOC_NUMBER.search(sentence).group() == number


@pytest.mark.parametrize("sentence", ["全年新增就业岗位2023个，完成年度目标", "（2022年）共办理事项15件",
                                      "第3号台风过境后组织排查"])
def test_doc_number_pattern_needs_a_bracketed_year_and_a_number(sentence):
    assert DOC_NUMBER.search(sentence) is None


@pytest.mark.parametrize("sentence, number", NUMBERED)
def test_metadata_and_facts_read_the_same_doc_number(sentence, number):
    compact = number.replace(" ", "")
    assert doc_number_of(sentence, {}) == compact
    analysis = analyze_query("这份文件的文号是什么", {})
    assert analysis.answer_kind == "doc_number"
    assert extract_fact(sentence, analysis, {}) == compact


@pytest.mark.parametrize("title, period", [("桂湖街道2022年上半年工作总结", "上半年"),
                                           ("南屏镇2023年三季度重点工作安排", "三季度"),
                                           ("某园区2021年下半年招商计划", "下半年")])
def test_periods_are_read_from_titles_and_questions(title, period):
    assert period in PERIODS
    assert period_of(title) == period
    assert analyze_query(f"{title}里说了什么", {}).half == period
