"""今年/去年 in a report that reviews one year and plans the next, figures bound by metric in figure-dense
sentences, and a year the organisation's documents do not cover (an invented 镇 report, fake encoder)."""
from __future__ import annotations

import shutil

import pytest

from retrieval.encode.encoders import HashingEncoder
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
    from retrieval.ingest.metadata import derive_metadata

    meta = derive_metadata(REPORT, TEXT, "0")
    assert meta.years == (2030, 2031), "a report reviews the year before the one it is given in"


def test_the_reports_figure_records_are_read_back_from_the_index(engine):
    records = engine.figures(REPORT)
    text = engine.documents[REPORT].text
    by_metric = {r.metric: r for r in records}
    assert by_metric["水利投资"].value == "2.6亿元" and by_metric["水利投资"].year == 2030
    assert by_metric["城镇新增就业"].stance == "target" and by_metric["城镇新增就业"].year == 2031
    for record in records:
        chunk = engine.chunks[record.chunk_id]
        start, end = record.char_span
        assert text[chunk.char_span[0] + start:chunk.char_span[0] + end] == record.value


@pytest.mark.parametrize("question", [
    "青石镇去年物价涨幅是多少",              # only this year's target is stated
    "青石镇今年实际使用外资目标多少",          # no figure of that indicator at all
])
def test_an_indicator_no_record_measures_for_that_year_is_not_found(engine, question):
    assert engine.ask(question).answer is None


def test_an_index_of_older_figure_records_is_rebuilt_reusing_its_vectors(tmp_path):
    import json

    from retrieval.errors import IndexMismatch
    from retrieval.ingest.passages import FIGURES_VERSION
    from tests.store_fakes import CountingEncoder

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / REPORT).write_text(TEXT, encoding="utf-8")
    SearchEngine.open(corpus, index, encoder=HashingEncoder(256))
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    manifest["figures"] = {"version": FIGURES_VERSION - 1}
    (index / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(IndexMismatch, match=f"figure records {FIGURES_VERSION - 1} != {FIGURES_VERSION}"):
        SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")
    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    assert engine.manifest["figures"] == {"version": FIGURES_VERSION}
    assert encoder.documents == [], "the passages are the same: no vector is encoded again"
    assert {r.metric for r in engine.figures(REPORT)} >= {"水利投资", "城镇新增就业"}
