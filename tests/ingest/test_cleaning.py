"""Cleaning of the seed documents: web and Word artifacts go, broken words join, headings get their own lines,
and no character of content is lost or moved (raw_offsets point back to the same raw character)."""
from __future__ import annotations

import re

import pytest

from retrieval.ingest.cleaning import clean_text
from retrieval.ingest.repair import normal_form
from tests.seeds import read_seed, SEED_001, SEED_003, SEED_004, ALL_SEEDS


TITLE_004 = "2020年度某街道工作总结和2021年度工作思路"
# What the document-sharing web page wrapped around seed 004, as it appears in the raw file.
WEB_ARTIFACTS_004 = ("- 2021-04-15 发布 |", "- 37.5 KB |", "- 11页", "申明敬告", "文档介绍", "查看更多")


def squash(text: str) -> str:
    """The text without any whitespace."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def raw_texts() -> dict[str, str]:
    """The raw seed texts."""
    return {name: read_seed(name) for name in ALL_SEEDS}


@pytest.fixture(scope="module")
def cleaned(raw_texts):
    return {name: clean_text(raw) for name, raw in raw_texts.items()}


# --- seed 004: a PDF copied off a web page ------------------------------------------------------

def test_004_raw_really_has_the_artifacts(raw_texts):
    """Guards the tests below: they only mean something while the raw file has what they check is removed."""
    raw = raw_texts[SEED_004]
    for artifact in WEB_ARTIFACTS_004:
        assert artifact in raw
    assert "食品药 品安全" in raw
    assert squash(raw).count(TITLE_004) == 2          # the title line, then repeated at the start of the body


@pytest.mark.parametrize("artifact", ["2021-04-15", "发布 |", "37.5 KB", "KB |", "11页", "申明敬告", "本站不保证",
                                      "文档介绍", "查看更多"])
def test_004_web_header_and_footer_are_gone(cleaned, artifact):
    assert artifact not in cleaned[SEED_004].text


def test_004_words_broken_by_pdf_layout_are_joined(cleaned):
    text = cleaned[SEED_004].text
    assert "食品药品安全" in text
    assert "食品药 品安全" not in text
    assert "2020年度工作总结" in text                 # raw: "2020 年度工作总结"


def test_004_title_is_the_first_line_and_appears_once(cleaned):
    text = cleaned[SEED_004].text
    assert text.split("\n", 1)[0] == TITLE_004
    assert text.count(TITLE_004) == 1
    assert text.split("\n")[1] == "一、2020年度工作总结"


def test_004_every_content_character_survives_in_order(raw_texts, cleaned):
    """Apart from whitespace, cleaning removes exactly the artifact lines, the repeated title and 查看更多."""
    raw_lines = raw_texts[SEED_004].split("\n")
    assert raw_lines[0].startswith("- 2021-04-15") and raw_lines[4].strip() == "文档介绍"
    assert raw_lines[5].strip() == TITLE_004
    body = squash("\n".join(raw_lines[6:]))
    assert body.startswith(TITLE_004) and body.endswith("查看更多")
    expected = TITLE_004 + body[len(TITLE_004):-len("查看更多")]
    assert squash(cleaned[SEED_004].text) == expected


@pytest.mark.parametrize("name", ALL_SEEDS)
def test_raw_offsets_point_at_the_same_raw_character(raw_texts, cleaned, name):
    raw, result = raw_texts[name], cleaned[name]
    assert len(result.raw_offsets) == len(result.text)
    previous = -1
    for char, offset in zip(result.text, result.raw_offsets):
        if char == "\n":          # inserted or kept line breaks point at the next kept raw character
            assert offset >= previous
            continue
        assert char in normal_form(raw[offset])
        assert offset >= previous, "cleaned characters must keep their raw order"
        previous = offset


@pytest.mark.parametrize("name", ALL_SEEDS)
def test_no_blank_lines_and_no_edge_spaces(cleaned, name):
    for line in cleaned[name].text.split("\n"):
        assert line and line == line.strip()


# --- seed 001: a Word export ----------------------------------------------------------------------

def test_001_word_bookmark_is_removed_and_the_sentence_kept(raw_texts, cleaned):
    assert "[bookmark: _GoBack]" in raw_texts[SEED_001]
    text = cleaned[SEED_001].text
    assert "bookmark" not in text and "_GoBack" not in text
    assert text.split("\n")[1].startswith("2021年是建党100周年")
    assert squash(text) == squash(raw_texts[SEED_001].replace("[bookmark: _GoBack]", ""))


# --- seed 003: no line breaks at all --------------------------------------------------------------

HEADINGS_003 = (
    "一、慎终如始,把好防控常态化后的社区防疫关口",
    "二、融合发展,完善党建引领下的社会治理体系",
    "三、最优营商,扩大“两翼一体”机制联动成效",
    "四、实战应用,提升城区精细管理能级",
    "五、精准服务,提高民生保障水平",
    "六、源头防范,维护社区安全稳定",             # body: 全面排查治理安全隐患,…
    "七、深化内涵,培育社区自治共治品牌",
    "八、宣传动员,推动新时代下的精神文明建设",
)


def test_003_raw_has_a_single_line(raw_texts):
    assert "\n" not in raw_texts[SEED_003].strip()


@pytest.mark.parametrize("heading", HEADINGS_003)
def test_003_each_heading_is_a_line_of_its_own(cleaned, heading):
    lines = cleaned[SEED_003].text.split("\n")
    assert heading in lines
    following = lines[lines.index(heading) + 1]
    assert not following.startswith(("一、", "二、", "三、", "四、", "五、", "六、", "七、", "八、"))


def test_003_headings_come_in_order_after_the_title(cleaned):
    lines = cleaned[SEED_003].text.split("\n")
    assert lines[0] == "2020年街道下半年工作计划"
    numbered = [line[:2] for line in lines if re.match(r"^[一二三四五六七八]、", line)]
    assert numbered == ["一、", "二、", "三、", "四、", "五、", "六、", "七、", "八、"]
    assert lines[lines.index(HEADINGS_003[0]) + 1].startswith("认清常态化防控新形势")
    assert lines[lines.index(HEADINGS_003[1]) + 1].startswith("不断深化“党员三先”工作法")


def test_003_mid_sentence_numerals_are_not_split(cleaned):
    """"一二期" style numerals inside a sentence never become headings: all text stays, only line breaks are added."""
    raw = clean_text("总体安排如下。一、推进工作,完成一、二期工程建设任务和相关配套设施安装调试验收工作,确保按期交付使用。"
                     "二、加强管理,落实责任。")
    lines = raw.text.split("\n")
    assert not any(line.startswith("二期") for line in lines)
    assert any(line.startswith("二、加强管理") for line in lines)
    assert squash(raw.text) == squash("总体安排如下。一、推进工作,完成一、二期工程建设任务和相关配套设施安装调试验收工作,"
                                      "确保按期交付使用。二、加强管理,落实责任。")


def test_mid_line_heading_must_continue_the_numbering():
    """A mid-line "三、" right after "一、" skips 二, so it is not taken for a heading."""
    text = clean_text("总体安排如下。一、推进工作,完成一、二期工程。三、加强管理,落实责任。").text
    assert text.split("\n") == ["总体安排如下。", "一、推进工作,完成一、二期工程。三、加强管理,落实责任。"]


def test_a_heading_mid_line_ends_where_its_body_opens_with_a_time():
    """A page with no line breaks: the title, the salutation, and a heading whose body opens "2022年以来，"."""
    text = clean_text("某镇2023年度政府工作报告各位代表：现在，我代表镇人民政府向大会报告工作，请予审议。"
                      "一、2022年主要工作2022年以来，我们坚持稳中求进，全镇经济社会保持平稳健康发展，"
                      "全年完成地区生产总值12亿元。二、2023年工作安排今年，我们将重点抓好以下几个方面的工作，"
                      "全力推动经济社会高质量发展，确保完成全年各项目标任务。").text
    assert text.split("\n") == [
        "某镇2023年度政府工作报告", "各位代表：", "现在，我代表镇人民政府向大会报告工作，请予审议。",
        "一、2022年主要工作", "2022年以来，我们坚持稳中求进，全镇经济社会保持平稳健康发展，全年完成地区生产总值12亿元。",
        "二、2023年工作安排", "今年，我们将重点抓好以下几个方面的工作，全力推动经济社会高质量发展，确保完成全年各项目标任务。",
    ]


# --- text repair ----------------------------------------------------------------------------------

def test_full_width_forms_become_ascii_and_chinese_punctuation_stays():
    text = clean_text("某街道工作计划\n全年新增就业岗位１５００个，完成ＧＤＰ增长６．５％；项目（一期）完工。").text
    assert text.split("\n")[1] == "全年新增就业岗位1500个，完成GDP增长6.5%；项目（一期）完工。"


def test_radical_code_points_become_ordinary_characters():
    """⼯ (Kangxi radical) has the NFKC form 工; ⼾ gives the traditional 戶, hence simplified to 户; ⻋ has no NFKC form."""
    text = clean_text("某街道工作计划\n全⾯做好⼾籍⼈⼝登记⼯作，新增公交⻋线路2条。").text
    assert text.split("\n")[1] == "全面做好户籍人口登记工作，新增公交车线路2条。"


def test_spaced_out_title_and_number_unit_spaces_are_joined():
    text = clean_text("政 府 工 作 报 告\n完成生产总值 5.17 亿元、增 7%；农民人均纯收入 16842 元。").text
    assert text.split("\n") == ["政府工作报告", "完成生产总值5.17亿元、增7%；农民人均纯收入16842元。"]


def test_hard_line_breaks_inside_words_and_numbers_are_joined():
    raw = ("某镇2022年工作总结\n"
           "一年努力，紧紧围绕农业增效和农民增收，进一步优化和调\n"
           "整农业产业结构，农业发展不断优化，扎实推进农业保护补\n"
           "贴和政策性保险工作。\n"
           "全年共组织开展各类职业技能培训3\n"
           "0场，参训群众1200人次。")
    assert clean_text(raw).text.split("\n") == [
        "某镇2022年工作总结",
        "一年努力，紧紧围绕农业增效和农民增收，进一步优化和调整农业产业结构，农业发展不断优化，扎实推进农业保护补贴和政策性保险工作。",
        "全年共组织开展各类职业技能培训30场，参训群众1200人次。",
    ]


@pytest.mark.parametrize("lines", [
    # a title, a subtitle, a signature and a date: short lines without final punctuation
    ["某镇2020年政府工作报告", "——在某镇第六届人民代表大会第七次会议上", "张三", "2020年6月19日", "各位代表："],
    # an unnumbered heading with a comma, followed by its (longer) paragraph
    ["某街道2021年工作计划", "坚持党建引领，全面提升基层治理水平",
     "街道将以党建为统领，深化网格化管理，推动治理重心下移，全年新建睦邻点20个，培育社区自治项目15个。"],
    # numbered headings never join, neither onto the line before nor onto their body
    ["某街道2021年工作计划", "全年工作围绕以下几个方面，重点推进，确保实效", "一、加快推进社区改造，提升居住品质",
     "（一）完成老旧小区综合改造5个", "1.新建停车位300个，缓解停车难"],
])
def test_titles_and_headings_are_not_glued_to_their_neighbours(lines):
    assert clean_text("\n".join(lines)).text.split("\n") == lines


def test_unpunctuated_list_items_stay_apart():
    """Items that end no sentence are not a wrapped paragraph: no word spans their breaks and no line ends the run."""
    items = ["某社区2024年为民办实事项目", "新建社区停车位300个，缓解停车难", "改造老旧小区5个，提升居住品质",
             "新增养老床位80张，完善助餐服务"]
    assert clean_text("\n".join(items)).text.split("\n") == items


def test_a_sentence_naming_a_plan_is_not_taken_for_a_title():
    text = ("按照年度工作计划推进各项任务落实，街道坚持问题导向和目标导向，全面梳理辖区重点难点问题，"
            "形成问题清单、责任清单和任务清单，确保各项工作按期完成。")
    assert clean_text(text).text == text
