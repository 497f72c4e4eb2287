"""The year and stance of each statement of a document, and 今年/去年 of a question (invented reports)."""
from __future__ import annotations

import pytest

from retrieval.text.statements import (RESULT, TARGET, question_stance, question_year_offset, section_context,
                                  statements)
from retrieval.types import Chunk, DocumentMeta

REPORT = DocumentMeta("r.txt", "2031年某市政府工作报告", "某市", (), (2030, 2031), "政府工作报告", "0")
PLAN = DocumentMeta("p.txt", "某镇2031年工作计划", "某镇", (), (2031,), "计划", "0")
SUMMARY = DocumentMeta("s.txt", "某镇2030年工作总结", "某镇", (), (2030,), "总结", "0")


def dated(text: str, section=(), meta=REPORT) -> list[tuple[str, tuple[int, ...], str]]:
    chunk = Chunk("c", meta.doc_id, tuple(section), (0, len(text)), text)
    return [(text[s.start:s.end], s.years, s.stance) for s in statements(chunk, meta)]


@pytest.mark.parametrize("heading, years, stance", [
    ("一、2030年工作回顾", (2030,), RESULT),
    ("一、“十五五”时期经济社会发展回顾", tuple(range(2026, 2031)), RESULT),
    ("三、2031年重点工作", (2031,), TARGET),
    ("二、今年工作安排", (2031,), TARGET),
    ("（二）2030年主要成效", (2030,), RESULT),
])
def test_a_section_heading_gives_its_year_and_stance(heading, years, stance):
    context = section_context((heading,), REPORT)
    assert (context.years, context.stance) == (years, stance)


def test_a_report_with_both_years_dates_each_sentence_by_its_section_paragraph_and_own_words():
    review = dated("刚刚过去的2030年，全市生产总值增长5.1%。社会大局保持稳定。\n这五年，城乡面貌焕然一新。",
                   ("一、“十五五”时期回顾",))
    assert review[0][1:] == ((2030,), RESULT)
    assert review[1][1:] == ((2030,), RESULT), "the paragraph's opening year reaches its later sentences"
    assert review[2][1] == tuple(range(2026, 2031))
    work = dated("今年主要预期目标是：地区生产总值增长6%左右。去年，全市新增就业10万人。", ("三、2031年重点工作",))
    assert work[0][1:] == ((2031,), TARGET)
    assert work[1][1:] == ((2030,), RESULT), "a sentence's own year words override its section's"


def test_a_compared_year_does_not_date_a_statement():
    [(_, years, stance)] = dated("全年生产总值增长5%，比2029年加快0.8个百分点。", ("一、2030年工作回顾",))
    assert (years, stance) == ((2030,), RESULT)


def test_plans_state_targets_and_summaries_results_of_their_own_year():
    assert dated("新建口袋公园3个。", meta=PLAN)[0][1:] == ((2031,), TARGET)
    assert dated("新建口袋公园3个。", meta=SUMMARY)[0][1:] == ((2030,), RESULT)


@pytest.mark.parametrize("question, offset, stance", [
    ("某市今年GDP增长目标是多少", 0, TARGET),
    ("某市去年经济增速实际是多少", -1, RESULT),
    ("明年计划新建几所学校", 1, TARGET),
    ("某镇今年新建了多少个口袋公园", 0, ""),             # 今年 says the year only: a plan's target, a summary's result
    ("某市2030年完成了多少投资", None, RESULT),
    ("口袋公园有多少个", None, ""),
])
def test_a_question_reads_its_year_word_and_stance(question, offset, stance):
    assert question_year_offset(question) == offset
    assert question_stance(question) == stance


def test_a_five_year_plan_named_inside_a_sentence_of_this_years_targets_keeps_this_year():
    [(_, years, stance)] = dated("主要预期目标是：地区生产总值增长6%左右，推动“十六五”规划目标任务开好局。",
                                 ("三、2031年重点工作",))
    assert (years, stance) == ((2031,), TARGET)
