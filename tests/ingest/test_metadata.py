"""Document metadata derived from the text: the organisation and its aliases, the years covered, kind and
period, date, issuer and 文号, on every real web-dev document and on made-up titles for each rule."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from retrieval.corpus.files import load_document
from retrieval.errors import RetrievalError
from retrieval.corpus.overrides import apply_overrides
from retrieval.ingest.metadata import UNKNOWN_ORG, derive_metadata
from retrieval.ingest.titles import file_stem

WEB_DEV = Path("/work/shared/eval/web-dev")
WEB_DEV_DOCS = sorted((WEB_DEV / "docs").glob("*.txt"))


def derive(text: str, doc_id: str = "文件.txt", fields: dict | None = None):
    return derive_metadata(doc_id, text, "0" * 64, fields)


def names_of(meta) -> set[str]:
    return {meta.org, *meta.aliases}


# --- every real web-dev document ---------------------------------------------------------------

def _truth() -> dict[str, dict]:
    return {entry["file"]: entry for entry in json.loads((WEB_DEV / "docs.json").read_text(encoding="utf-8"))}


def _year_range(years: str) -> tuple[int, int]:
    """docs.json years: "2016" or "2016-2021"."""
    parts = [int(y) for y in re.findall(r"\d{4}", years)]
    return min(parts), max(parts)


@pytest.mark.skipif(not WEB_DEV_DOCS, reason=f"the web-dev set is not at {WEB_DEV}")
@pytest.mark.parametrize("path", WEB_DEV_DOCS, ids=lambda p: p.stem)
def test_web_dev_organisation_and_years(path):
    """Read as the corpus reads it, with no metadata.yaml.

    Organisation: docs.json's name is the derived organisation or one of its aliases (甘泉路街道 is an
    alias of 甘泉路). Years: docs.json gives the span the excerpt talks about ("2016-2021" for a report
    looking back on five years), and its `kind` opens with the year the document is titled for. The
    derived years must include that main year and lie within the span; a report adds the year it
    reviews or plans only when the span has it.
    """
    truth = _truth()[path.name]
    meta = load_document(path).meta
    assert truth["organisation"] in names_of(meta), (meta.org, meta.aliases)
    main_year = int(re.match(r"\d{4}", truth["kind"]).group())
    low, high = _year_range(truth["years"])
    assert main_year in meta.years, meta.years
    assert all(low <= year <= high for year in meta.years), (meta.years, truth["years"])


@pytest.mark.skipif(not WEB_DEV_DOCS, reason=f"the web-dev set is not at {WEB_DEV}")
def test_web_dev_titles_are_document_titles_not_page_furniture():
    for path in WEB_DEV_DOCS:
        title = load_document(path).meta.title
        assert not re.search(r"首页|选择语言|当前位置|索引号|[>|\[]", title), (path.name, title)
        assert re.search(r"\d{4}\s*年", title) and any(k in title for k in ("总结", "计划", "规划", "报告")), title


# --- organisation and alias rules ----------------------------------------------------------------

BODY = "\n今年以来，在区委、区政府的坚强领导下，全面推进各项工作，取得明显成效。\n一、主要工作\n（一）经济运行稳中向好。"


@pytest.mark.parametrize("title, org, aliases", [
    ("甘泉路街道2016年工作总结", "甘泉路", {"甘泉路街道"}),
    ("舒城经济开发区2021年工作计划", "舒城经开区", {"舒城经济开发区", "舒城开发区"}),
    ("如皋高新技术产业开发区2024年工作规划", "如皋高新区", {"如皋高新", "如皋高新技术产业开发区"}),
    ("嘉定区青石街道2021年工作要点", "青石", {"青石街道", "嘉定青石", "嘉定区青石街道"}),
    ("桃溪镇2022年工作总结", "桃溪", {"桃溪镇"}),
    ("柳坪乡人民政府2019年工作计划", "柳坪", {"柳坪乡"}),
    ("临江区人民政府云台街道办事处2020年工作总结", "云台", {"云台街道", "云台街道办事处", "临江云台"}),
    ("重庆市綦南区石门镇人民政府2023年工作总结", "石门", {"石门镇", "綦南石门", "綦南区石门镇"}),
    ("乌镇镇2016年工作总结", "乌镇", {"乌镇镇"}),
    ("浦东新区张江镇2021年工作计划", "张江", {"张江镇", "浦东张江", "浦东新区张江镇"}),
    ("XX县桃源镇2021年工作总结", "桃源", {"桃源镇"}),            # an anonymised county, a real town
    ("关于桃源街道2021年工作情况的报告", "桃源", {"桃源街道"}),
])
def test_alias_rules(title, org, aliases):
    meta = derive(title + BODY)
    assert meta.org == org
    assert aliases <= set(meta.aliases), meta.aliases
    assert not any(re.search("[Xx某]", alias) for alias in meta.aliases)


def test_a_bare_type_word_is_not_an_alias():
    """经开区 alone names every economic zone of the corpus, so it cannot route a question to this one."""
    meta = derive("舒城经济开发区2021年工作计划" + BODY)
    assert not {"经开区", "开发区", "高新区"} & set(meta.aliases)


def test_bodies_named_with_the_organisation_in_the_title_are_aliases():
    meta = derive("吴淞街道党工委、办事处2021年工作要点" + BODY)
    assert meta.org == "吴淞" and "吴淞街道党工委" in meta.aliases


@pytest.mark.parametrize("title, org", [
    ("永年街道2021年工作计划", "永年"),          # 年 inside a real name
    ("丰年镇2020年工作总结", "丰年"),
    ("新华街道2021年工作要点", "新华"),
    ("某街道2021年工作计划", UNKNOWN_ORG),
    ("XX街道2021年工作计划", UNKNOWN_ORG),
    ("××开发区2020年工作总结", UNKNOWN_ORG),
    ("2020年度某街道工作总结和2021年度工作思路", UNKNOWN_ORG),
])
def test_placeholders_are_unknown_and_real_names_are_kept(title, org):
    meta = derive(title + BODY)
    assert meta.org == org
    if org == UNKNOWN_ORG:
        assert meta.aliases == ()


def test_a_placeholder_title_is_not_overruled_by_the_file_name():
    meta = derive("某街道2021年工作计划" + BODY, doc_id="某街道2021年工作计划.txt")
    assert meta.org == UNKNOWN_ORG


@pytest.mark.parametrize("body", [
    "今年以来，在区委、区政府的坚强领导下，青枫街道紧紧围绕中心工作，推动各项工作提质增效。",
    "各位代表：\n现在，我代表柳河镇人民政府向大会报告工作，请予审议。",
    "——在云岭镇第六届人民代表大会第七次会议上\n各位代表：",
])
def test_organisation_named_only_in_the_body(body):
    meta = derive("2022年工作总结\n" + body + BODY)
    expected = {"青枫": "青枫街道", "柳河": "柳河镇", "云岭": "云岭镇"}
    assert meta.org in expected and expected[meta.org] in meta.aliases
    assert meta.org in meta.title                   # the generic title is completed with the organisation


def test_a_verb_before_a_type_word_in_running_text_is_not_a_name():
    meta = derive("2020年街道下半年工作计划\n完善党建服务圈，建立街道、社区两级联动机制，推动各项工作落实。" + BODY)
    assert meta.org == UNKNOWN_ORG


def test_the_title_outweighs_neighbours_named_in_the_body():
    text = ("桃源街道2021年工作计划\n今年，桃源街道将配合邻近的青枫街道推进片区建设。"
            "青枫街道、石桥街道将与我们共建园区，在青枫街道设立联合服务站。" + BODY)
    assert derive(text).org == "桃源"


def test_merged_units_in_parentheses_do_not_take_over():
    text = "如皋高新技术产业开发区(如城街道、城南街道)\n高新区2024年工作规划\n2024年,高新(如城街道、城南街道)将紧紧围绕目标。"
    meta = derive(text)
    assert meta.org == "如皋高新区"
    assert meta.title == "如皋高新区2024年工作规划"


def test_issuer_field_names_the_organisation():
    meta = derive("2024年政府工作报告" + BODY, fields={"issuer": "綦南区石门镇"})
    assert meta.org == "石门" and {"石门镇", "綦南石门"} <= set(meta.aliases)
    assert meta.issuer == "綦南区石门镇"


def test_file_name_is_the_last_resort_without_prefixes_or_hashes():
    meta = derive("2021年工作总结" + BODY, doc_id="003_青枫街道2021年工作总结.txt")
    assert meta.org == "青枫"
    assert meta.title == "青枫街道2021年工作总结"
    assert file_stem("12-青枫街道2021年工作总结_9f86d081884c7d65.docx") == "青枫街道2021年工作总结"
    assert file_stem("2021-2025年青枫街道发展规划.pdf") == "2021-2025年青枫街道发展规划"
    assert file_stem("青枫街道工作总结20210105.txt") == "青枫街道工作总结20210105"


def test_page_furniture_before_the_title_is_skipped():
    text = ("选择语言\n您当前所在位置: 首页 > 政务公开 > 规划计划\n[ 索引号 ] | 0012/2021-001 |\n"
            "【字体:\n【桃源街道】 桃源街道2021年工作计划\n来源:本网 发布时间:2021-01-05 09:00\n" + BODY)
    meta = derive(text)
    assert meta.title == "桃源街道2021年工作计划"
    assert meta.org == "桃源"
    assert meta.published == "2021-01-05"


def test_a_notice_that_issues_the_document_gives_its_title():
    text = ("綦南区石门镇人民政府关于印发2024年政府工作报告的通知\n各村(居)民委员会:\n"
            "2024年《政府工作报告》已经镇人民代表大会审议通过,现印发给你们,请认真贯彻实施。\n"
            "綦南区石门镇人民政府\n2024年2月22日\n一、2023年工作回顾\n一年来，我们坚持稳中求进。")
    meta = derive(text)
    assert meta.title == "石门镇2024年政府工作报告"
    assert meta.years == (2023, 2024)
    assert meta.issuer == "綦南区石门镇人民政府"


# --- years, kind, period ------------------------------------------------------------------------

@pytest.mark.parametrize("title, years, kind", [
    ("桃源街道2022年工作总结和2023年工作思路", (2022, 2023), "总结、思路"),
    ("桃源街道2021-2025年发展规划", (2021, 2022, 2023, 2024, 2025), "规划"),
    ("桃源街道2024年政府工作报告", (2023, 2024), "政府工作报告"),
    ("桃源街道2021年工作要点", (2021,), "要点"),
    ("关于桃源街道2022年度工作总结的报告", (2022,), "总结"),      # a summary, not a work report
])
def test_years_from_the_title_part_by_part(title, years, kind):
    meta = derive(title + BODY)
    assert meta.years == years and meta.kind == kind


def test_a_summary_published_early_in_a_year_covers_the_previous_one():
    meta = derive("桃源街道工作总结" + BODY, fields={"published": "2023-01-10"})
    assert meta.years == (2022,)
    late = derive("桃源街道工作总结" + BODY, fields={"published": "2023-12-20"})
    assert late.years == (2023,)


def test_a_report_titled_after_the_year_it_reviews_covers_the_year_it_is_given_in():
    text = "桃源镇2016年政府工作报告\n2017年1月9日在桃源镇第十七届人民代表大会第一次会议上\n各位代表：" + BODY
    assert derive(text).years == (2016, 2017)


def test_a_report_without_a_year_in_its_title_takes_its_date_and_review_heading():
    text = ("政府工作报告\n——在云岭镇第六届人民代表大会第七次会议上\n张三\n2020年6月19日\n各位代表：\n"
            "2019年和今年以来工作回顾\n2019年，在县委、县政府的坚强领导下，我们坚持稳中求进。")
    meta = derive(text)
    assert meta.years == (2019, 2020)
    assert meta.title == "云岭镇2020年政府工作报告"
    assert meta.published == "2020-06-19"


def test_a_report_named_after_the_year_it_reviews_without_a_date_covers_that_year():
    text = "金沙乡2020年度政府工作报告\n一、2020年和“十三五”工作回顾\n2020年，全乡上下万众一心。" + BODY
    assert derive(text).years == (2020,)


@pytest.mark.parametrize("title, period", [
    ("桃源街道2023年半年度工作总结", "上半年"),
    ("桃源街道2025年上半年工作总结", "上半年"),
    ("2020年街道下半年工作计划", "下半年"),
    ("桃源街道2021年工作计划", ""),
])
def test_period(title, period):
    assert derive(title + BODY).period == period


# --- published date, issuer, 文号 ----------------------------------------------------------------

def test_page_fields_give_published_issuer_and_doc_number():
    fields = {"published": "2024-02-22", "issuer": "綦南区石门镇", "doc_number": "石门府发〔2024〕2号"}
    meta = derive("石门镇2024年政府工作报告" + BODY, fields=fields)
    assert (meta.published, meta.issuer, meta.doc_number) == ("2024-02-22", "綦南区石门镇", "石门府发〔2024〕2号")


def test_a_field_that_is_not_a_doc_number_is_ignored():
    meta = derive("桃源镇2016年政府工作报告" + BODY, fields={"doc_number": "2016年政府工作报告"})
    assert meta.doc_number == ""


def test_date_and_signature_under_the_title():
    text = "2021年桃江高新区工作报告\n\n(2021年2月5日)\n\n桃江高新区管委会\n\n实现新突破——2020年工作回顾\n五年来，我们坚持创新驱动。"
    meta = derive(text)
    assert meta.published == "2021-02-05"
    assert meta.issuer == "桃江高新区管委会"
    assert meta.org == "桃江高新区" and meta.years == (2020, 2021)


def test_doc_number_and_signature_date_from_the_body():
    text = ("桃源镇人民政府关于印发2022年工作要点的通知\n桃府发〔2022〕5号\n各村:\n现将要点印发给你们。\n"
            "一、重点工作\n推进项目建设。\n桃源镇人民政府\n2022年3月1日")
    meta = derive(text)
    assert meta.doc_number == "桃府发〔2022〕5号"
    assert meta.published == "2022-03-01"
    assert meta.issuer == "桃源镇人民政府"
    assert meta.title == "桃源镇2022年工作要点"


# --- metadata.yaml overrides ---------------------------------------------------------------------

def test_overrides_replace_fields_and_add_aliases_after_the_derived_ones():
    meta = derive("桃源街道2021年工作计划" + BODY)
    changed = apply_overrides(meta, {"org": "桃源（东片）", "aliases": ["东片", "桃源街道"], "published": "2021-02-05",
                                     "issuer": "桃源街道办事处", "doc_number": "桃办〔2021〕1号", "years": [2021, 2022]})
    assert changed.org == "桃源（东片）" and changed.aliases == ("东片", "桃源街道")
    assert (changed.published, changed.issuer, changed.doc_number) == ("2021-02-05", "桃源街道办事处", "桃办〔2021〕1号")
    assert changed.years == (2021, 2022)


def test_an_override_date_read_by_yaml_as_a_date_is_accepted():
    import datetime

    meta = derive("桃源街道2021年工作计划" + BODY)
    assert apply_overrides(meta, {"published": datetime.date(2021, 2, 5)}).published == "2021-02-05"


@pytest.mark.parametrize("override, word", [({"organisation": "x"}, "organisation"), ({"published": "上周"}, "published")])
def test_bad_overrides_name_the_field(override, word):
    with pytest.raises(RetrievalError, match=word):
        apply_overrides(derive("桃源街道2021年工作计划" + BODY), override)


# --- the organisation among China's divisions (retrieval.text.gazetteer) ----------------------------------------------

PROV_DEV_DOCS = sorted(Path("/work/shared/eval/prov-dev/docs").glob("*.txt"))
LEVEL_OF_NAME = (("街道", "街道"), ("镇", "镇"), ("乡", "乡"), ("高新区", "开发区"), ("开发区", "开发区"))


@pytest.mark.skipif(not PROV_DEV_DOCS, reason="the prov-dev set is not there")
@pytest.mark.parametrize("path", PROV_DEV_DOCS, ids=lambda p: p.stem)
def test_prov_dev_reports_are_the_provinces_they_are_named_after(path):
    """The file's own name (2026年河北省政府工作报告) names the province; the body's 深化开发区管理制度改革 or
    和美乡村 name no organisation, and the signature is the speaker, not a heading."""
    province = re.search(r"\d{4}年(.+?(?:省|自治区))政府工作报告", path.stem).group(1)
    meta = load_document(path).meta
    assert province in names_of(meta) and meta.level == "省" and meta.parents == ()
    assert meta.years == (2025, 2026)
    assert province in meta.title or meta.org in meta.title
    assert re.fullmatch(r"\d{6}", meta.code) and re.fullmatch(r"[\u4e00-\u9fff]{2,4}", meta.speaker)


@pytest.mark.skipif(not WEB_DEV_DOCS, reason=f"the web-dev set is not at {WEB_DEV}")
def test_web_dev_levels_and_parent_chains_follow_the_documents_locations():
    """Level from the document's own name; the parent chain, where the text and the gazetteer settle one, is the
    location docs.json gives (上海市普陀区 for 甘泉路街道)."""
    truth = _truth()
    placed = 0
    for path in WEB_DEV_DOCS:
        meta = load_document(path).meta
        name = truth[path.name]["organisation"]
        assert meta.level == next(level for suffix, level in LEVEL_OF_NAME if name.endswith(suffix)), path.name
        if meta.parents:
            placed += 1
            assert "".join(meta.parents) == truth[path.name]["location"], (path.name, meta.parents)
    assert placed >= 12


SUFFIX_PHRASES = ("\n一、2024年工作回顾\n我们深化开发区管理制度改革，建设宜居宜业和美乡村，常住人口城镇化率提高到60%。"
                  "扎实推进乡村全面振兴，打造绿色工业园区5个。\n")


def test_phrases_that_end_like_place_names_name_no_organisation():
    meta = derive("2024年工作总结" + SUFFIX_PHRASES)
    assert meta.org == UNKNOWN_ORG and meta.level == ""


@pytest.mark.parametrize("text, org, level, parents, code", [
    ("2025年温州市政府工作报告\n市长 周立新" + SUFFIX_PHRASES, "温州", "市", ("浙江省",), "330300"),
    ("政府工作报告\n——2025年1月8日在鹿城区第十届人民代表大会第五次会议上\n区长 陈海" + SUFFIX_PHRASES,
     "鹿城", "县", ("浙江省", "温州市"), "330302"),
    ("政府工作报告\n（2025年1月20日在湖南省第十四届人民代表大会第三次会议上）\n省长 李明远" + SUFFIX_PHRASES,
     "湖南", "省", (), "430000"),
    ("2025年广西壮族自治区政府工作报告\n自治区人民政府主席 韦明" + SUFFIX_PHRASES, "广西", "省", (), "450000"),
])
def test_a_division_named_up_front_is_the_organisation(text, org, level, parents, code):
    meta = derive(text)
    assert (meta.org, meta.level, meta.parents, meta.code) == (org, level, parents, code)
    assert meta.org in meta.title


def test_a_town_in_a_provinces_report_is_not_its_organisation():
    text = "2025年湖南省政府工作报告\n省长 李明远\n一、工作回顾\n我们支持韶山市清溪镇、桃源镇建设特色小镇，湘江新区高质量发展。\n"
    assert derive(text).org == "湖南"


def test_a_street_named_in_its_title_keeps_its_district_chain():
    meta = derive("宝山区吴淞街道2021年工作要点" + BODY)
    assert (meta.org, meta.level, meta.parents) == ("吴淞", "街道", ("上海市", "宝山区"))
    assert {"吴淞街道", "宝山吴淞"} <= set(meta.aliases)


def test_a_zone_sits_under_the_place_it_is_named_after():
    meta = derive("祥云经济开发区2022年工作总结" + BODY)
    assert (meta.org, meta.level, meta.parents) == ("祥云经开区", "开发区", ("云南省", "大理白族自治州", "祥云县"))


def test_a_county_site_publishing_a_streets_plan_does_not_take_it_over():
    """The page's header names the county whose site it is; the plan is the 街道's, named in its opening."""
    text = ("汶上县人民政府\n信息公开\n2025年上半年工作总结\n今年以来，中都街道坚持稳中求进，各项工作取得新成效。"
            "\n一、经济运行\n完成固定资产投资5亿元。\n")
    meta = derive(text, doc_id="工作总结.txt")
    assert (meta.org, meta.level, meta.parents) == ("中都", "街道", ("山东省", "济宁市", "汶上县"))


def test_overrides_may_set_the_level_and_parent_chain():
    meta = apply_overrides(derive("某街道2021年工作计划" + BODY), {"org": "西岸", "level": "街道", "parents": ["上海市", "徐汇区"]})
    assert (meta.org, meta.level, meta.parents) == ("西岸", "街道", ("上海市", "徐汇区"))
