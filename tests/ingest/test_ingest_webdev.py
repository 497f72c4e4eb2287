"""The 15 real web documents of the web-dev set after reading and cleaning: no page boilerplate is left, no
content is lost (every evidence string of the set survives), titles appear once and page fields are read."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from retrieval.ingest.cleaning import CleanedText, clean_text
from retrieval.ingest.readers import read_text

WEB_DEV = Path(__file__).resolve().parents[3] / "shared" / "eval" / "web-dev"
DOCS = WEB_DEV / "docs"
pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason=f"the web-dev set is not at {WEB_DEV}")
DOC_NAMES = sorted(p.name for p in DOCS.glob("*.txt")) if DOCS.is_dir() else []

# Words and shapes that only page furniture has; none may remain on a line of a cleaned document.
BOILERPLATE = re.compile(r"当前位置|所在位置|阅读次数|浏览次数|累计次数|字体|打印|选择语言|我要纠错|组配分类|主题分类|"
                         r"^首页$|^>")
# Page labels that may stay only in the page's information block (发布时间, 发文日期, 发布机构, 文号), which
# people ask about: at the top of the document, before its first paragraph.
INFO_LABELS = re.compile(r"索引号|发布时间|发布日期|发文日期|成文日期|发布机构|发文机构|发文字号|公开方式|\|")


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def cleaned() -> dict[str, CleanedText]:
    return {name: clean_text(read_text(DOCS / name)) for name in DOC_NAMES}


def evidence_by_document() -> list[tuple[str, str]]:
    if not DOCS.is_dir():
        return []
    pairs = []
    for line in (WEB_DEV / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        question = json.loads(line)
        docs = question["doc"] if isinstance(question["doc"], list) else [question["doc"]]
        for evidence in question["evidence"]:
            owner = next(d for d in docs if squash(evidence) in squash((DOCS / d).read_text(encoding="utf-8")))
            pairs.append((owner, evidence))
    return pairs


def test_the_set_is_all_there():
    assert len(DOC_NAMES) == 15


@pytest.mark.parametrize("name", DOC_NAMES)
def test_no_line_is_page_boilerplate(cleaned, name):
    lines = cleaned[name].text.split("\n")
    first_paragraph = next(i for i, line in enumerate(lines) if len(line) >= 30 and "|" not in line
                           and re.search(r"[，,。]", line))
    for index, line in enumerate(lines):
        assert not BOILERPLATE.search(line), line
        if INFO_LABELS.search(line):
            assert index < first_paragraph, f"page label inside the body: {line}"


@pytest.mark.parametrize(("name", "evidence"), evidence_by_document())
def test_every_evidence_string_survives_cleaning(cleaned, name, evidence):
    """Content is never lost, page information people ask about ("发布时间:…", "[ 发文字号 ] | …") included."""
    assert squash(evidence) in squash(cleaned[name].text), f"content lost: {evidence}"


@pytest.mark.parametrize("name", DOC_NAMES)
def test_the_title_appears_once(cleaned, name):
    text = cleaned[name].text
    first_line = text.split("\n", 1)[0]
    if len(first_line) <= 40:                      # a title, not a page that opens with its body
        assert squash(text).count(squash(first_line)) == 1


@pytest.mark.parametrize("name", DOC_NAMES)
def test_every_character_points_back_at_its_raw_character(cleaned, name):
    raw = (DOCS / name).read_text(encoding="utf-8")
    result = cleaned[name]
    for char, offset in zip(result.text, result.raw_offsets):
        if char == "；" and raw[offset].isspace():
            continue                               # the separator that replaced spaces in the information block
        if char != "\n":
            assert raw[offset] == char


def test_page_fields(cleaned):
    assert cleaned["木洞镇2024年政府工作报告.txt"].fields == {
        "doc_number": "木洞府发〔2024〕2号", "published": "2024-02-22",
        "index_number": "115001130093083510/2024-00007", "issuer": "巴南区木洞镇",
    }
    wuzhen = cleaned["乌镇镇2016年政府工作报告.txt"].fields
    assert wuzhen["published"] == "2017-01-25"        # its 发文日期, not the page's 发布时间 2020-11-25
    assert wuzhen["index_number"] == "001008004005092/2017-85388" and wuzhen["issuer"] == "乌镇镇"
    assert "doc_number" not in wuzhen                   # 文件编号 is empty on that page
    assert cleaned["市桥街道2021年工作总结.txt"].fields["published"] == "2022-01-25"
    assert cleaned["舒城经济开发区2021年工作计划.txt"].fields["published"] == "2021-01-08"
    assert cleaned["舒城经济开发区2021年工作计划.txt"].fields["issuer"] == "舒城县开发区"
    assert cleaned["如皋高新区2024年工作规划.txt"].fields["published"] == "2024-02-01"
    assert cleaned["金鸡乡2020年度政府工作报告.txt"].fields == {
        "index_number": "01525762-6-/2021-0415002", "issuer": "隆阳区金鸡乡人民政府", "published": "2021-04-15",
    }
    # The organisation of 市桥's page is named only in its breadcrumb.
    assert "市桥街道办事处" in cleaned["市桥街道2021年工作总结.txt"].fields["breadcrumb"]
    for plain in ("甘泉路街道2016年工作总结.txt", "丁兰街道2023年半年度工作总结.txt", "良寨乡2022年政府工作报告.txt"):
        assert cleaned[plain].fields == {}


def test_what_the_pages_break_is_repaired(cleaned):
    """Spaced-out titles, words cut by a hard line break, a page with no line breaks at all."""
    assert "政府工作报告" in cleaned["乌镇镇2016年政府工作报告.txt"].text.split("\n")
    assert "进一步优化和调整农业产业结构" in cleaned["良寨乡2022年政府工作报告.txt"].text
    assert "生产总值5.17亿元" in cleaned["金鸡乡2020年度政府工作报告.txt"].text
    lines = cleaned["桥头镇2023年度政府工作报告.txt"].text.split("\n")
    assert lines[:2] == ["桥头镇2023年度政府工作报告", "各位代表:"]
    assert "一、2022年主要工作" in lines
    assert lines[lines.index("一、2022年主要工作") + 1].startswith("2022年以来,")


def test_a_title_printed_twice_is_kept_once(cleaned):
    text = cleaned["冶金街道2016年工作计划.txt"].text
    assert text.split("\n")[0] == "冶金街道2016年工作计划"
    assert "【冶金街道】" not in text
