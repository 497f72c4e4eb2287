"""今年/去年 in a report that reviews one year and plans the next, figures bound by metric in figure-dense
sentences, and a year the organisation's documents do not cover (an invented 镇 report, fake encoder)."""
from __future__ import annotations

import shutil

import pytest

from retrieval.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from tests.seeds import CORPUS

REPORT = "青石镇2031年政府工作报告.txt"
TEXT = """青石镇2031年政府工作报告
——2031年1月10日在青石镇第八届人民代表大会第五次会议上
各位代表：
一、2030年工作回顾
过去一年，全镇地区生产总值增长6.1%，一般公共预算收入完成3.2亿元，粮食产量达到4.5万吨，新建5G基站120个。
交通、水利、能源投资分别完成8亿元、2.6亿元、5.3亿元，全镇面貌焕然一新。
二、2031年重点工作
今年经济社会发展的主要预期目标是：地区生产总值增长6.5%左右，一般公共预算收入增长5%，规上工业增加值增长7%，城镇新增就业1200人以上，居民消费价格涨幅2%左右，粮食产量稳定在4.6万吨以上。
我们将坚持稳中求进，扎实做好各项工作。
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-years")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in CORPUS.iterdir():
        if path.is_file():
            shutil.copyfile(path, corpus / path.name)
    (corpus / REPORT).write_text(TEXT, encoding="utf-8")
    return SearchEngine.open(corpus, root / "index", encoder=HashingEncoder())


@pytest.mark.parametrize("question, fact", [
    ("青石镇今年GDP增长目标是多少", "6.5%左右"),
    ("青石镇去年经济增速是多少", "6.1%"),
    ("青石镇去年粮食产量多少", "4.5万吨"),
    ("青石镇今年粮食产量要稳定在多少", "4.6万吨以上"),
    ("青石镇今年城镇新增就业目标是多少人", "1200人以上"),
    ("青石镇今年物价涨幅目标多少", "2%左右"),
    ("青石镇去年水利投资完成多少亿元", "2.6亿元"),
])
def test_this_years_target_and_last_years_result_are_told_apart(engine, question, fact):
    result = engine.ask(question)
    assert result.answer is not None, question
    assert result.answer.fact == fact
    assert result.chunks[result.answer.chunk_id].doc_id == REPORT


def test_a_year_the_report_does_not_cover_gets_not_found(engine):
    result = engine.ask("青石镇2027年粮食产量多少")
    assert result.answer is None
    assert "2027" in result.scope_note


def test_the_report_knows_its_years():
    from retrieval.metadata import derive_metadata

    meta = derive_metadata(REPORT, TEXT, "0")
    assert meta.years == (2030, 2031), "a report reviews the year before the one it is given in"
