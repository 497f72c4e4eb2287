"""Comparisons: detection, rows by level and by name, cells only from a row's own organisation and year, value
normalisation for sorting, the top row for 谁最高, CSV, and the comparison eval's cell scores."""
from __future__ import annotations

import csv
import io

import pytest

from eval.compare import score_comparison
from retrieval.search.compare import (NOT_FOUND, Organisation, RecordSource, Row, compare, detect_comparison, fill_cells,
                               normalise_value, order_cells, organisations_of, resolve_rows, to_csv)
from retrieval.answer.figures import FigureRecord
from retrieval.search.orgs import OrganisationMatcher
from retrieval.types import Chunk, Document, DocumentMeta

# ------------------------------------------------------------------ an invented corpus: two provinces, three streets


def _document(doc_id: str, org: str, aliases: tuple[str, ...], years: tuple[int, ...], sentences: list[str]):
    text = "".join(sentences)
    meta = DocumentMeta(doc_id=doc_id, title=f"{org}{years[-1]}年工作报告", org=org, aliases=aliases, years=years,
                        kind="政府工作报告", sha256="0" * 64)
    chunk = Chunk(chunk_id=f"c-{doc_id}", doc_id=doc_id, section_path=("一、主要目标",), char_span=(0, len(text)),
                  text=text)
    return Document(meta, text), chunk


def _record(chunk: Chunk, metric: str, value: str, unit: str, year: int | None, stance: str) -> FigureRecord:
    start = chunk.text.index(value)
    sentence_start = chunk.text.rfind("。", 0, start) + 1
    sentence_end = chunk.text.index("。", start) + 1
    number = normalise_value(value).number
    return FigureRecord(f"{chunk.chunk_id}:{start}", chunk.chunk_id, chunk.doc_id, metric, value, unit, number, year,
                        stance, (start, start + len(value)), (sentence_start, sentence_end))


@pytest.fixture
def corpus():
    """(documents, chunks, records by document, matcher) of five invented organisations."""
    specs = [
        ("东川省报告.txt", "东川省", ("东川",), (2029, 2030),
         ["去年东川全省生产总值增长5.1%。", "今年主要预期目标：地区生产总值增长5.5%左右，城镇新增就业40万人以上。"],
         [("地区生产总值增长", "5.1%", "%", 2029, "result"), ("地区生产总值增长", "5.5%左右", "%", 2030, "target"),
          ("城镇新增就业", "40万人以上", "万人", 2030, "target")]),
        ("南岭自治区报告.txt", "南岭自治区", ("南岭",), (2029, 2030),
         ["今年地区生产总值增长5%左右，城镇新增就业350000人。"],
         [("地区生产总值增长", "5%左右", "%", 2030, "target"), ("城镇新增就业", "350000人", "人", 2030, "target")]),
        ("青松街道计划.txt", "青松", ("青松街道",), (2030,), ["全年完成拆违任务2万平方米。"],
         [("拆违", "2万平方米", "万平方米", 2030, "target")]),
        ("白桦街道计划.txt", "白桦", ("白桦街道",), (2030,), ["全年新建口袋公园3个。"],
         [("新建口袋公园", "3个", "个", 2030, "target")]),
        ("红枫街道计划.txt", "红枫", ("红枫街道",), (2029, 2030),
         ["2029年完成拆违1.5万平方米。", "2030年计划拆违任务1.8万平方米。"],
         [("拆违", "1.5万平方米", "万平方米", 2029, "result"), ("拆违", "1.8万平方米", "万平方米", 2030, "target")]),
    ]
    documents, chunks, records = {}, {}, {}
    for doc_id, org, aliases, years, sentences, figures in specs:
        document, chunk = _document(doc_id, org, aliases, years, sentences)
        documents[doc_id], chunks[chunk.chunk_id] = document, chunk
        records[doc_id] = tuple(_record(chunk, *figure) for figure in figures)
    matcher = OrganisationMatcher({doc_id: document.meta for doc_id, document in documents.items()})
    return documents, chunks, records, matcher


def _source(records, match=None):
    def words_in_metric(terms, record):
        return sum(term in record.metric for term in terms) / len(terms) if terms else 0.0
    return RecordSource(lambda doc_id: records.get(doc_id, ()), match or words_in_metric)


def _compare(corpus, question: str, source=None):
    documents, chunks, records, matcher = corpus
    return compare(question, documents, chunks, source or _source(records), matcher=matcher)


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize("question, levels", [
    ("各街道今年拆违任务分别是多少？", ("街道",)),
    ("每个街道明年要新建几个口袋公园", ("街道",)),
    ("各省份今年粮食产量目标列一下", ("省",)),
    ("各区县2030年新增绿地面积是多少", ("县",)),
    ("哪个省今年的经济增长目标最高", ("省",)),
    ("全部单位今年的招商引资任务", ()),
])
def test_a_plural_scope_is_a_comparison_over_that_level(question, levels):
    request = detect_comparison(question)
    assert request is not None and request.every and request.levels == levels


@pytest.mark.parametrize("question", [
    "各项工作进展如何？",                     # 各 + 项: every item of work, not every organisation
    "青松今年拆违任务多少平方米",
    "各类市场主体今年增加了多少户？",
    "今年要统筹推进各方面改革吗",
])
def test_a_question_about_one_organisation_or_with_a_non_scope_ge_is_not_a_comparison(question, corpus):
    assert detect_comparison(question, corpus[3]) is None


@pytest.mark.parametrize("question, named", [
    ("东川和南岭谁的增长目标高？", ("东川", "南岭")),
    ("青松、白桦今年拆违任务对比", ("青松", "白桦")),
    ("红枫街道与青松街道的拆违任务分别是多少", ("红枫街道", "青松街道")),
])
def test_two_organisations_named_make_a_comparison(question, named, corpus):
    request = detect_comparison(question, corpus[3])
    assert request is not None and request.named == named and not request.every


@pytest.mark.parametrize("question, years, relative", [
    ("红枫2029年和2030年拆违分别是多少", (2029, 2030), ()),
    ("红枫近两年拆违任务对比", (), (-1, 0)),
    ("青松近三年新建公园数量", (), (-2, -1, 0)),
    ("红枫去年和今年的拆违面积比较", (), (0, -1)),
])
def test_several_years_make_a_comparison(question, years, relative, corpus):
    request = detect_comparison(question, corpus[3])
    assert request is not None and request.years == years and sorted(request.relative_years) == sorted(relative)


def test_the_metric_is_the_question_without_scope_names_years_and_cues():
    assert detect_comparison("各省今年地区生产总值增长目标分别是多少？").metric == "地区生产总值增长"
    assert detect_comparison("各地区生产总值增长目标是多少").metric == "地区生产总值增长"   # 各地 + 地区生产总值
    assert detect_comparison("各街道今年拆违任务分别是多少？").stance == "target"
    assert detect_comparison("各省2029年地区生产总值实际增长了多少").stance == "result"


# ------------------------------------------------------------------ rows


def test_rows_by_level_list_every_organisation_of_that_level_and_no_other(corpus):
    request = detect_comparison("各省今年地区生产总值增长目标是多少", corpus[3])
    rows = resolve_rows(request, organisations_of(corpus[0]))
    assert [row.organisation for row in rows] == ["东川省", "南岭自治区"]
    assert {row.year for row in rows} == {2030}                           # 今年: the latest planning year
    streets = resolve_rows(detect_comparison("各街道今年拆违任务分别是多少"), organisations_of(corpus[0]))
    assert sorted(row.organisation for row in streets) == ["白桦", "红枫", "青松"]


def test_rows_by_name_keep_the_order_asked_and_list_an_organisation_the_corpus_lacks(corpus):
    organisations = organisations_of(corpus[0]) + [Organisation("西海省", "省", ())]
    request = detect_comparison("南岭和东川谁的增长目标高", corpus[3])
    assert [row.organisation for row in resolve_rows(request, organisations)] == ["南岭自治区", "东川省"]
    lacking = detect_comparison("东川和北原的增长目标对比", corpus[3], known_places=lambda text: ["北原"])
    rows = resolve_rows(lacking, organisations)
    assert [(row.organisation, bool(row.doc_ids)) for row in rows] == [("东川省", True), ("北原", False)]


def test_rows_by_years_count_back_from_the_latest_planning_year(corpus):
    request = detect_comparison("红枫近两年拆违任务对比", corpus[3])
    assert [(row.organisation, row.year) for row in resolve_rows(request, organisations_of(corpus[0]))] == [
        ("红枫", 2029), ("红枫", 2030)]


# ------------------------------------------------------------------ cells


def test_each_cell_comes_from_its_own_organisation_and_the_others_say_not_found(corpus):
    comparison = _compare(corpus, "各街道今年拆违任务分别是多少？")
    cells = {cell.organisation: cell for cell in comparison.cells}
    assert cells["青松"].value == "2万平方米" and cells["青松"].doc_id == "青松街道计划.txt"
    assert cells["红枫"].value == "1.8万平方米" and cells["红枫"].year == 2030   # not its 2029 result
    assert not cells["白桦"].found and "白桦" in cells["白桦"].note
    assert [cell.organisation for cell in comparison.cells][:2] == ["青松", "红枫"]   # sorted: 2万 > 1.8万


def test_a_source_offering_another_organisations_or_years_record_never_fills_a_cell(corpus):
    documents, chunks, records, _ = corpus
    qingsong = records["青松街道计划.txt"][0]
    hongfeng_2029 = records["红枫街道计划.txt"][0]

    class LeakingSource:
        """Returns 青松's record for every row, and 红枫's 2029 record too."""

        def candidates(self, row, request):
            return [(1.0, qingsong), (1.0, hongfeng_2029)]

    request = detect_comparison("各街道今年拆违任务分别是多少？")
    rows = [Row("白桦", 2030, ("白桦街道计划.txt",)), Row("红枫", 2030, ("红枫街道计划.txt",))]
    cells = fill_cells(rows, request, LeakingSource(), documents, chunks)
    assert [cell.value for cell in cells] == ["", ""]


def test_a_result_given_where_a_target_was_asked_is_labelled(corpus):
    documents, chunks, records, matcher = corpus
    only_result = {"红枫街道计划.txt": (records["红枫街道计划.txt"][0],)}
    comparison = compare("红枫2029年的拆违任务目标和青松对比", documents, chunks, _source(only_result), matcher)
    hongfeng = next(cell for cell in comparison.cells if cell.organisation == "红枫")
    assert hongfeng.value == "1.5万平方米" and hongfeng.stance_mismatch and "问的是目标" in hongfeng.stance_label


def test_who_is_highest_puts_the_top_row_first_and_says_so(corpus):
    comparison = _compare(corpus, "东川和南岭谁的地区生产总值增长目标高？")
    assert [cell.organisation for cell in comparison.cells] == ["东川省", "南岭自治区"]
    assert comparison.note.startswith("最高的是东川省") and "5.5%左右" in comparison.note
    lowest = _compare(corpus, "哪个省今年地区生产总值增长目标最低？")
    assert lowest.cells[0].organisation == "南岭自治区" and lowest.note.startswith("最低的是南岭自治区")


# ------------------------------------------------------------------ values and sorting


@pytest.mark.parametrize("written, number, unit", [
    ("5.5%左右", 5.5, "%"), ("5%以上", 5.0, "%"), ("4.5%—5%", 4.75, "%"), ("5%-5.5%", 5.25, "%"),
    ("40万人以上", 400000.0, "人"), ("350000人", 350000.0, "人"), ("1.2亿元", 120000000.0, "元"),
    ("3万平方米", 30000.0, "平方米"), ("约600亿斤", 30000000.0, "吨"), ("1955万吨以上", 19550000.0, "吨"),
])
def test_values_are_normalised_to_a_base_unit(written, number, unit):
    value = normalise_value(written)
    assert value.number == pytest.approx(number) and value.unit == unit and value.written == written


def test_values_in_convertible_units_sort_together_and_other_units_do_not(corpus):
    jobs = _compare(corpus, "各省今年城镇新增就业目标是多少")
    assert jobs.sorted_by_value and jobs.unit == "人"
    assert [(cell.organisation, cell.value) for cell in jobs.cells] == [("东川省", "40万人以上"),
                                                                      ("南岭自治区", "350000人")]
    request = detect_comparison("各街道今年任务分别是多少")
    from retrieval.search.compare import Cell

    mixed = [Cell("甲", 2030, "3个", 3.0, "个"), Cell("乙", 2030, "2万平方米", 20000.0, "平方米")]
    cells, by_value, _, note = order_cells(mixed, request)
    assert not by_value and [cell.organisation for cell in cells] == ["甲", "乙"] and "单位不同" in note


# ------------------------------------------------------------------ CSV


def test_the_csv_has_a_header_and_one_row_per_cell_with_not_found_written_out(corpus):
    comparison = _compare(corpus, "各街道今年拆违任务分别是多少？")
    rows = list(csv.reader(io.StringIO(to_csv(comparison))))
    assert rows[0][:4] == ["单位", "年份", "数值（原文）", "数值（换算后）"]
    by_org = {row[0]: row for row in rows[1:]}
    assert len(rows) == 1 + len(comparison.cells)
    assert by_org["青松"][1:5] == ["2030", "2万平方米", "20000", "平方米"]
    assert by_org["青松"][8] == "全年完成拆违任务2万平方米。"
    assert by_org["白桦"][2] == NOT_FOUND and by_org["白桦"][3] == ""


# ------------------------------------------------------------------ the comparison eval


def test_cell_scores_count_right_empty_filled_and_borrowed_cells(corpus):
    documents = corpus[0]
    comparison = _compare(corpus, "各街道今年拆违任务分别是多少？")
    gold = {"id": "g", "question": "各街道今年拆违任务分别是多少？", "cells": {
        "青松": {"value": "2万平方米", "evidence": "完成拆违任务2万平方米"},
        "红枫": None,                                                   # gold says empty: 1.8万 is wrongly filled
        "白桦": {"value": "1万平方米", "evidence": "拆违1万平方米"}}}    # gold has one: 未找到 is wrongly empty
    scores = {score.key: score for score in score_comparison(gold, comparison, documents)}
    assert scores["青松"].correct and not scores["青松"].borrowed
    assert scores["红枫"].wrongly_filled and not scores["红枫"].correct
    assert scores["白桦"].wrongly_empty
    # A cell whose sentence is 青松's, shown in 红枫's row, is borrowed from another organisation.
    from dataclasses import replace

    qingsong = next(cell for cell in comparison.cells if cell.organisation == "青松")
    leaked = replace(comparison, cells=(qingsong, replace(qingsong, organisation="红枫")))
    gold_leak = {"id": "h", "question": "q", "cells": {"红枫": {"value": "1.8万平方米", "evidence": "拆违任务1.8万平方米"}}}
    assert score_comparison(gold_leak, leaked, documents)[0].borrowed


# ------------------------------------------------------------------ section years, periods and ranges


def _chunk(text: str, heading: str, chunk_id: str = "c1", doc_id: str = "d.txt") -> Chunk:
    return Chunk(chunk_id=chunk_id, doc_id=doc_id, section_path=(heading,), char_span=(0, len(text)), text=text)


@pytest.mark.parametrize("heading, sentence, value, given_year, expected_year", [
    ("一、2031年工作回顾", "全年实现工业产值增长6%。", "6%", 2032, 2031),      # dated wrongly: the heading's year
    ("二、2032年工作安排", "新建农贸市场3个。", "3个", None, 2032),              # undated: the heading's year
    ("三、2033年重点任务", "力争新增就业岗位1200个。", "1200个", 2034, 2033),
    ("一、2031年工作回顾", "工业产值年均增长6%。", "6%", None, None),             # a period figure stays undated
    ("一、2031年工作回顾", "五年来累计新建学校12所。", "12所", None, None),
    ("二、2032年工作安排", "到2035年绿地率达到40%。", "40%", 2035, 2035),        # the sentence names its own year
])
def test_a_heading_naming_one_year_dates_its_sections_figures(heading, sentence, value, given_year, expected_year):
    chunk = _chunk(sentence, heading)
    metric = sentence[:sentence.index(value)].rstrip("达到")
    record = _record(chunk, metric, value, "", given_year, "")
    source = RecordSource(lambda doc_id: (record,), lambda terms, r: 1.0, chunks={chunk.chunk_id: chunk})
    assert source._in_section_year(record).year == expected_year


@pytest.mark.parametrize("sentence, value, whole", [
    ("全市生产总值增长4%—4.5%。", "4%", "4%—4.5%"),
    ("物价涨幅控制在3%至3.5%。", "3.5%", "3%至3.5%"),
    ("工业增加值增长6-6.5%左右。", "6", "6-6.5%左右"),
])
def test_a_value_that_begins_or_ends_a_range_is_shown_as_the_range(sentence, value, whole):
    from retrieval.search.compare import widened

    chunk = _chunk(sentence, "二、2032年工作安排")
    record = _record(chunk, "增长", value, "%", 2032, "target")
    wide = widened(record, chunk)
    assert wide.value == whole and chunk.text[wide.char_span[0]:wide.char_span[1]] == whole


def test_a_single_years_figure_is_chosen_over_a_period_average():
    text = "过去五年地区生产总值年均增长7%。全年地区生产总值增长6%。"
    chunk = _chunk(text, "一、2031年工作回顾", doc_id="甲.txt")
    average = _record(chunk, "地区生产总值年均增长", "7%", "%", 2031, "result")
    single = _record(chunk, "地区生产总值增长", "6%", "%", 2031, "result")
    document = Document(DocumentMeta("甲.txt", "甲省报告", "甲省", (), (2031, 2032), "报告", "0"), text)
    source = RecordSource(lambda doc_id: (average, single), lambda terms, r: 1.0, chunks={chunk.chunk_id: chunk})
    request = detect_comparison("各省2031年地区生产总值增长多少")
    cells = fill_cells([Row("甲省", 2031, ("甲.txt",))], request, source, {"甲.txt": document}, {chunk.chunk_id: chunk})
    assert cells[0].value == "6%"


@pytest.mark.parametrize("question, stance", [
    ("各街道去年新建了几个口袋公园", "result"),
    ("各省上年粮食产量分别是多少", "result"),
    ("各区县今年新增绿地多少", "target"),
])
def test_a_relative_year_alone_tells_target_or_result(question, stance):
    assert detect_comparison(question).stance == stance


def test_no_year_named_asks_this_years_plan_or_last_years_result(corpus):
    organisations = organisations_of(corpus[0])
    plan = resolve_rows(detect_comparison("各省地区生产总值增长目标是多少"), organisations)
    assert {row.year for row in plan} == {2030}
    done = resolve_rows(detect_comparison("各省地区生产总值实际增长了多少"), organisations)
    assert {row.year for row in done} == {2029}
    cells = {cell.organisation: cell for cell in _compare(corpus, "各省地区生产总值实际增长了多少").cells}
    assert cells["东川省"].value == "5.1%" and not cells["南岭自治区"].found     # 南岭 states no 2029 result


@pytest.mark.parametrize("question", [
    "东川和南岭的政府工作报告分别是哪位省长作的？",
    "青松、白桦分别有哪些养老服务举措？",
    "各街道的文明创建工作是怎么安排的？",
    "红枫近三年来累计新建了多少公园",                     # a total over three years, not a row per year
])
def test_names_or_scopes_without_a_figure_asked_stay_normal_questions(question, corpus):
    assert detect_comparison(question, corpus[3]) is None


def test_only_the_plans_near_the_asked_year_are_read_unless_none_covers_it():
    read: list[str] = []
    years = {"a2027.txt": (2027,), "a2029.txt": (2029,), "a2030.txt": (2030,), "a2031.txt": (2030, 2031)}

    def records_of(doc_id):
        read.append(doc_id)
        return ()
    source = RecordSource(records_of, lambda terms, record: 1.0, years_of=years.get)
    request = detect_comparison("各街道拆违任务分别是多少")
    source.candidates(Row("甲", 2030, tuple(years)), request)
    assert sorted(read) == ["a2030.txt", "a2031.txt"]          # the 2030 plan, and the 2031 one reviewing 2030
    read.clear()
    source.candidates(Row("甲", 2035, tuple(years)), request)     # no plan covers 2035: a long-range target
    assert sorted(read) == sorted(years)


def test_this_year_is_each_organisations_own_planning_year():
    organisations = [Organisation("甲", "街道", ("a.txt",), ("甲街道",), 2028, (2028,)),
                     Organisation("乙", "街道", ("b.txt",), ("乙街道",), 2030, (2029, 2030))]
    rows = resolve_rows(detect_comparison("各街道今年拆违任务分别是多少"), organisations)
    assert [(row.organisation, row.year) for row in rows] == [("甲", 2028), ("乙", 2030)]
    named = resolve_rows(detect_comparison("甲和乙2029年的拆违任务分别是多少", None, lambda text: ["甲", "乙"]),
                         organisations)
    assert [(row.organisation, row.year) for row in named] == [("甲", 2029), ("乙", 2029)]   # a named year is shared


def test_a_scope_word_that_is_also_an_alias_is_a_scope_and_a_counted_unit_is_not_the_metric():
    meta = DocumentMeta("k.txt", "某开发区计划", "某开发区", ("开发区", "经开区"), (2030,), "计划", "0")
    matcher = OrganisationMatcher({"k.txt": meta})
    request = detect_comparison("各开发区今年新引进项目多少个", matcher)
    assert request.every and request.levels == ("开发区",) and request.named == ()
    assert detect_comparison("青松和白桦分别完成了多少项民生实事", None, lambda t: ["青松", "白桦"]).metric == "完成 民生实事"
    assert detect_comparison("各街道今年新建几个口袋公园").metric == "新建 口袋公园"
    assert detect_comparison("各镇今年招商引资多少亿元").metric == "招商引资"


def test_the_table_escapes_names_marks_missing_rows_and_opens_each_rows_passage(corpus):
    from dataclasses import replace

    from ui.blocks import comparison_frame, write_comparison_csv
    from ui.render import comparison_block

    comparison = _compare(corpus, "各街道今年拆违任务分别是多少？")
    hostile = replace(comparison, cells=(*comparison.cells, replace(comparison.cells[-1],
                                                                   organisation='<img src=x onerror="alert(1)">')))
    html = comparison_block(2, hostile)
    assert "<img" not in html and "&lt;img" in html
    assert 'data-open-chunk="c-青松街道计划.txt" data-turn="2"' in html
    assert html.count('data-cell-state="missing"') == 2 and "未找到" in html
    frame = comparison_frame(comparison)
    assert list(frame["单位"]) == ["青松", "红枫"] and list(frame["数值"]) == [20000.0, 18000.0]
    path = write_comparison_csv(comparison)
    assert open(path, "rb").read().startswith(b"\xef\xbb\xbf")               # a BOM: Excel reads the Chinese
    assert open(path, encoding="utf-8-sig").read() == to_csv(comparison)


def test_a_scope_after_a_place_lists_that_levels_organisations_inside_it():
    def organisation(name, level, parents):
        return Organisation(name, level, (f"{name}.txt",), (name,), 2030, (2030,), parents)
    organisations = [organisation("青松", "街道", ("东海市", "北岸区")), organisation("白桦", "街道", ("东海市", "北岸区")),
                     organisation("红枫", "街道", ("东海市", "南湾区")), organisation("北岸区", "县", ("东海市",))]
    places = lambda text: [name for name in ("北岸区", "北岸", "东海市") if name in text][:1]   # noqa: E731
    for question in ("北岸区各街道今年拆违任务分别是多少", "北岸各街道新建口袋公园多少个"):
        rows = resolve_rows(detect_comparison(question, None, places), organisations)
        assert sorted(row.organisation for row in rows) == ["白桦", "青松"]
    rows = resolve_rows(detect_comparison("东海市各区县今年新增绿地面积是多少", None, places), organisations)
    assert [row.organisation for row in rows] == ["北岸区"]


def test_the_top_row_is_named_with_the_questions_own_superlative(corpus):
    assert _compare(corpus, "哪个省今年城镇新增就业目标最多？").note.startswith("最多的是东川省")


def test_a_cell_of_another_year_than_the_gold_says_counts_as_borrowed(corpus):
    comparison = _compare(corpus, "各街道今年拆违任务分别是多少？")            # 青松's cell is of 2030
    gold = {"id": "y", "question": "q", "year": 2029,
            "cells": {"青松": {"value": "2万平方米", "evidence": "完成拆违任务2万平方米"}}}
    assert score_comparison(gold, comparison, corpus[0])[0].borrowed
    assert not score_comparison({**gold, "year": 2030}, comparison, corpus[0])[0].borrowed
