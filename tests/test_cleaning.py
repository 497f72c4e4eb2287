"""Cleaning of the seed documents: web and Word artifacts go, broken words join, headings get their own lines,
and no character of content is lost or moved (raw_offsets point back to the same raw character)."""
from __future__ import annotations

import re

import pytest

from retrieval.ingest.cleaning import clean_text
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
        assert raw[offset] == char
        assert offset > previous, "cleaned characters must keep their raw order"
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
