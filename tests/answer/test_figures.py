"""Figure records: values bound to their metrics by position, with unit, base number, year and stance (invented figures)."""
from __future__ import annotations

import numpy as np
import pytest

from retrieval.answer.figures import FigureQuestion, FigureRecord, figure_fit, metric_match, question_metric_terms, rank_figures
from retrieval.ingest.figures import extract_figures, unit_and_number
from retrieval.index.segment import Segment
from retrieval.ingest.passages import PreparedPassage
from retrieval.text.tokenizer import JiebaTokenizer
from retrieval.types import Chunk, Document, DocumentMeta

REPORT = DocumentMeta("某省2031年政府工作报告.txt", "2031年某省政府工作报告", "某省", (), (2030, 2031), "政府工作报告", "0")
PLAN = DocumentMeta("某街道2031年工作计划.txt", "某街道2031年工作计划", "某街道", (), (2031,), "计划", "0")
TOKENIZE = JiebaTokenizer([])


def records(text: str, section=(), meta=REPORT) -> list[FigureRecord]:
    return extract_figures(Chunk("c", meta.doc_id, tuple(section), (0, len(text)), text), meta)


def by_metric(found: list[FigureRecord]) -> dict[str, str]:
    return {r.metric: r.value for r in found}


def test_a_figure_dense_target_sentence_gives_each_value_its_own_metric():
    text = ("今年主要预期目标是：地区生产总值增长6%左右，规上工业增加值增长6.5%，一般公共预算收入增长3%，"
            "固定资产投资增长5%，社会消费品零售总额增长5.5%左右，城镇新增就业35万人以上，城镇调查失业率控制在5%左右，"
            "居民消费价格涨幅2%左右，城乡居民人均可支配收入增长与经济增长同步，粮食产量稳定在700亿斤以上，"
            "单位地区生产总值能耗下降2.5%左右。")
    found = records(text, ("三、2031年重点工作",))
    assert by_metric(found) == {
        "地区生产总值增长": "6%左右", "规上工业增加值增长": "6.5%", "一般公共预算收入增长": "3%",
        "固定资产投资增长": "5%", "社会消费品零售总额增长": "5.5%左右", "城镇新增就业": "35万人以上",
        "城镇调查失业率": "5%左右", "居民消费价格涨幅": "2%左右", "粮食产量": "700亿斤以上",
        "单位地区生产总值能耗下降": "2.5%左右"}
    assert {(r.year, r.stance) for r in found} == {(2031, "target")}
    grain = next(r for r in found if r.metric == "粮食产量")
    assert (grain.unit, grain.number) == ("亿斤", 7e10)
    assert text[grain.char_span[0]:grain.char_span[1]] == "700亿斤以上"
    assert grain.record_id == f"c:{grain.char_span[0]}"


@pytest.mark.parametrize("text, expected", [
    ("交通、水利、能源投资分别完成900亿元、210亿元、480亿元。",
     {"交通投资": "900亿元", "水利投资": "210亿元", "能源投资": "480亿元"}),
    ("全年新建学校、医院、养老机构分别达12所、5家、30个。",
     {"新建学校": "12所", "医院": "5家", "养老机构": "30个"}),
    ("城镇、农村居民人均可支配收入分别增长4.8%、6.2%。",
     {"城镇居民人均可支配收入增长": "4.8%", "农村居民人均可支配收入增长": "6.2%"}),
])
def test_a_respectively_list_binds_values_by_position(text, expected):
    assert by_metric(records(text, ("一、2030年工作回顾",))) == expected


def test_a_rate_after_an_amount_and_a_level_after_from_measure_the_same_metric():
    found = records("全年完成地区生产总值41000亿元、增长5.2%。一般公共预算收入从3200亿元增加到3650亿元。",
                    ("一、2030年工作回顾",))
    assert [(r.metric, r.value) for r in found] == [
        ("地区生产总值", "41000亿元"), ("地区生产总值增长", "5.2%"),
        ("一般公共预算收入", "3200亿元"), ("一般公共预算收入", "3650亿元")]


def test_a_counted_thing_after_the_value_is_its_metric():
    found = records("建成3个智慧农业示范区，新建5G基站1.2万个。", ("一、2030年工作回顾",))
    assert by_metric(found) == {"建成智慧农业示范区": "3个", "新建5G基站": "1.2万个"}


def test_counts_written_in_words_are_not_figures():
    assert records("这五年，我们办成了一批大事，落实“两个确保”。") == []


@pytest.mark.parametrize("value, unit, number", [
    ("40万人以上", "万人", 4e5), ("5.5%左右", "%", 5.5), ("3.2万亿元", "万亿元", 3.2e12), ("近80家", "家", 80.0),
    ("1,200亩", "亩", 1200.0), ("百分之十五", "%", 15.0)])
def test_units_and_base_numbers(value, unit, number):
    assert unit_and_number(value) == (unit, pytest.approx(number))


def test_metric_match_applies_the_statistical_synonyms_both_ways():
    [gdp] = records("地区生产总值增长6%左右。")
    [cpi] = records("全年CPI上涨1.5%。")
    assert metric_match(["GDP", "增长"], gdp) == 1.0
    assert metric_match(["经济增速"], gdp) == 1.0
    assert metric_match(["居民消费价格"], cpi) == 1.0
    assert metric_match(["物价"], cpi) == 1.0
    assert metric_match(["粮食产量"], gdp) == 0.0


def test_question_metric_terms_keep_indicator_names_whole_and_drop_the_frame():
    terms = question_metric_terms("今年GDP增长目标是多少", TOKENIZE)
    assert terms == ["GDP", "增长"]
    assert question_metric_terms("2030年粮食产量达到多少万吨", TOKENIZE) == ["粮食产量"]


def test_a_number_question_picks_the_record_of_its_metric_unit_year_and_stance():
    review = records("过去一年，地区生产总值增长5.2%，粮食播种面积稳定在9000万亩，粮食产量达到680亿斤。",
                     ("一、2030年工作回顾",))
    plan = records("主要预期目标是：地区生产总值增长6%左右，粮食产量稳定在700亿斤以上。", ("三、2031年重点工作",))
    pool = review + plan
    documents = {REPORT.doc_id: REPORT}

    def best(question: str) -> str:
        analysis = FigureQuestion.of(question, question_metric_terms(question, TOKENIZE))
        return rank_figures(analysis, pool, documents)[0].record.value

    assert best("今年GDP增长目标是多少") == "6%左右"
    assert best("去年经济增速是多少") == "5.2%"
    assert best("去年粮食产量多少") == "680亿斤"          # an amount of grain, not the 万亩 of its area
    assert best("今年粮食产量要稳定在多少") == "700亿斤以上"
    area = next(r for r in review if r.unit == "万亩")
    question = FigureQuestion.of("去年粮食产量多少", ["粮食产量"])
    assert figure_fit(question, area, REPORT).unit == -1.0


def test_no_record_of_the_asked_metric_ranks_nothing():
    pool = records("主要预期目标是：地区生产总值增长6%左右，城镇新增就业35万人以上。", ("三、2031年重点工作",))
    question = FigureQuestion.of("今年实际使用外资目标多少", ["实际使用外资"])
    assert rank_figures(question, pool, {REPORT.doc_id: REPORT}) == []


def test_records_survive_a_segment_written_read_and_merged(tmp_path):
    text = "主要预期目标是：地区生产总值增长6%左右，城镇新增就业35万人以上。\n交通、水利投资分别完成900亿元、210亿元。"
    document = Document(PLAN, text)
    first_end = text.index("\n") + 1
    chunks = [Chunk("a", PLAN.doc_id, (), (0, first_end), text[:first_end]),
              Chunk("b", PLAN.doc_id, (), (first_end, len(text)), text[first_end:])]
    passages = [PreparedPassage(c, TOKENIZE(c.text), [], f"k{c.chunk_id}", [], tuple(extract_figures(c, PLAN)))
                for c in chunks]
    segment = Segment.build("s", [document], passages)
    segment.write(tmp_path / "s")
    read = Segment.read(tmp_path / "s", "s", with_vectors=False)
    assert [read.figures_of(row) for row in range(2)] == [p.figures for p in passages]
    assert [r.metric for r in read.figures_of(1)] == ["交通投资", "水利投资"]
    merged = Segment.merge("m", [(read, np.array([False, True]))])
    assert merged.figures_of(0) == passages[1].figures


def test_a_negated_question_asks_the_negated_count():
    pool = records("全乡已脱贫426户1506人，未脱贫191户596人。", ("一、2030年工作回顾",))
    question = FigureQuestion.of("还没脱贫的有多少户", ["脱贫"], asked_unit="户")
    assert rank_figures(question, pool)[0].record.value == "191户596人"


@pytest.mark.parametrize("text, value", [
    ("地区生产总值增长4.5%—5%。", "4.5%—5%"),
    ("地区生产总值预期增长5%-5.5%。", "5%-5.5%"),
    ("粮食产量稳定在650万吨至660万吨。", "650万吨至660万吨"),
])
def test_a_range_is_one_value(text, value):
    assert [r.value for r in records(text, ("三、2031年重点工作",))] == [value]
