"""A report's signature, meeting line and salutation are its metadata (speaker, place, date), never section
titles; the sentences are invented."""
from __future__ import annotations

import pytest

from retrieval.ingest.chunking import parse_sections
from retrieval.ingest.frontmatter import is_front_matter, meeting_place, signature_of


@pytest.mark.parametrize("line, body, office, name", [
    ("湖南省人民政府省长 李明远", "湖南省人民政府", "省长", "李明远"),
    ("省长　赵文清", "", "省长", "赵文清"),
    ("自治区人民政府主席 马德山", "自治区人民政府", "主席", "马德山"),
    ("温州市市长王海平", "温州市", "市长", "王海平"),
    ("某区人民政府区长 陈立", "某区人民政府", "区长", "陈立"),
])
def test_signature_lines_give_the_speaker(line, body, office, name):
    signature = signature_of(line)
    assert signature is not None
    assert (signature.body, signature.office, signature.name) == (body, office, name)


@pytest.mark.parametrize("line", [
    "落实街道主任负责制",                          # an office word inside a plan's sentence
    "省长李明远在省十四届人大三次会议上作政府工作报告。本报记者摄",   # a photo caption
    "推动产业转型升级",
    "加强城市管理委员会建设",
])
def test_sentences_and_captions_are_not_signatures(line):
    assert signature_of(line) is None


@pytest.mark.parametrize("line, place", [
    ("——2025年1月20日在湖南省第十四届人民代表大会第三次会议上", "湖南省"),
    ("（2024年2月1日在温州市第十五届人民代表大会第四次会议上）", "温州市"),
    ("——在桃源镇第七届人民代表大会第二次会议上", "桃源镇"),
])
def test_the_meeting_line_names_the_place(line, place):
    assert meeting_place(line) == place


def test_signature_meeting_line_and_salutation_open_no_section():
    text = ("2025年湖南省政府工作报告\n——2025年1月20日在湖南省第十四届人民代表大会第三次会议上\n"
            "湖南省人民政府省长 李明远\n各位代表：\n现在，我代表省人民政府向大会报告工作，请予审议。\n"
            "一、2024年工作回顾\n全省地区生产总值增长5.2%。\n各位代表！过去一年殊为不易，成绩来之不易。\n"
            "二、2025年主要任务\n全省地区生产总值增长5%左右。\n")
    assert all(is_front_matter(line) for line in ("湖南省人民政府省长 李明远", "各位代表：",
                                                  "——2025年1月20日在湖南省第十四届人民代表大会第三次会议上"))
    paths = {section.path for section in parse_sections(text)}
    assert paths == {(), ("一、2024年工作回顾",), ("二、2025年主要任务",)}
