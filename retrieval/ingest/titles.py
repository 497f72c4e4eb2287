"""The top lines of a document and what they say: its title, header lines, kind, period, issuer and 文号, and the
file name's stem."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from retrieval.ingest.dates import DATE_ISO, TOP_CHARS, TOP_LINES
from retrieval.text.patterns import CJK as _CJK, DOC_NUMBER, PERIODS

# Kinds as a title names them; 政府工作报告 is a kind of its own (it reviews one year and plans the next).
KINDS = ("政府工作报告", "总结", "要点", "规划", "计划", "思路", "安排", "打算", "意见", "方案", "纲要", "报告")
# A 文号 ends in 号 after its year in brackets (某府发〔2023〕5号) or its serial number.
_DOC_NUMBER_SHAPE = re.compile(r"[〔\[［【(（]\s*(?:19|20)\d{2}\s*[〕\]］】)）]|\d\s*号$")
_ISSUER_LINE = re.compile(rf"^[{_CJK}()（）]{{2,30}}(?:人民政府|管委会|管理委员会|办事处|党工委|党委|委员会)$")
_ISSUER_LABEL = re.compile(rf"(?:发布机构|发文机构|发文机关)\s*[\]】]?\s*[:：|]?\s*([{_CJK}]{{2,30}})")
_ORDINAL = re.compile(r"^\s*(?:[一二三四五六七八九十]+[、.．]|[(（][一二三四五六七八九十\d]+[)）]|\d+[、.．]|第[一二三四五六七八九十]+(?:[、,，]|章|节|部分))")
_BRACKET_PREFIX = re.compile(r"^(?:【[^】]{0,20}】|\[[^\]]{0,20}\])\s*")
_SENTENCE_PUNCT = re.compile(r"[。；;！!？?]|[，,：:]\s*$")
# Page furniture that cleaning may have left: breadcrumbs, metadata tables, counters, font-size buttons.
_BOILERPLATE = re.compile(
    r"[>›»|]|^[-•·]\s|^\[\s|当前位置|所在位置|您的位置|^首页$|^网站首页|选择语言|字体|打印|关闭|浏览次数|阅读次数|访问次数"
    r"|累计次数|浏览量|点击[数量率]|索引号|发布机构|发文机构|发布时间|发布日期|发文日期|成文日期|信息来源|来源[:：]|我要纠错"
    r"|分享到|扫一扫|组配分类|主题分类|公开方式|公开目录|文件编号|文\s*号|有效性|本站|申明敬告")
_NOTICE = re.compile(r"关于(?:印发|转发|公布)《?(?P<inner>.+?)》?的通知")
# A numbering prefix (003_, 12-) is short, unlike a year range (2021-2025年规划); a hash mixes digits and letters,
# unlike a date (20210105).
_FILE_NUMBER_PREFIX = re.compile(r"^(?:\d{1,4}_+|\d{1,3}[-.\s]+)")
_HASH_PART = re.compile(r"[_\-.\s]?(?=[0-9]*[a-fA-F])(?=[a-fA-F]*[0-9])[0-9a-fA-F]{8,}(?:-[0-9a-fA-F]{4,})*")
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}\d])[ \t\u3000\xa0]+(?=[{_CJK}])|(?<=[{_CJK}])[ \t\u3000\xa0]+(?=\d)")


def squash_spaces(line: str) -> str:
    """"政 府 工 作 报 告" → "政府工作报告", "2020 年度" → "2020年度"; spaces between Latin words stay."""
    return _CJK_SPACE.sub("", line.strip())


def is_boilerplate_line(line: str) -> bool:
    """A line of web page furniture: breadcrumb, metadata table, counters, a lone date or label."""
    stripped = line.strip()
    if not stripped:
        return True
    if _BOILERPLATE.search(stripped):
        return True
    rest = DATE_ISO.sub("", stripped)
    return not re.search(rf"[{_CJK}]", rest) and len(rest) < 20      # a lone date or number


def top_lines(text: str) -> list[str]:
    return [line.strip() for line in text[:TOP_CHARS].split("\n")[:TOP_LINES] if line.strip()]


def _is_title_like(line: str) -> bool:
    return (4 <= len(line) <= 60 and any(kind in line for kind in KINDS) and not _ORDINAL.match(line)
            and not _SENTENCE_PUNCT.search(line))


def _run_on_title(line: str) -> str:
    """The title at the start of a line that runs on into the body ("桥头镇2023年度政府工作报告各位代表:…")."""
    kinds = "|".join(KINDS)
    match = re.match(rf"^[^，,。:：;；]{{2,40}}?(?:{kinds})(?:(?:和|及|与|暨)[^，,。:：;；]{{2,20}}?(?:{kinds}))*", line)
    return match.group() if match else ""


def find_title(lines: list[str]) -> tuple[str, int]:
    """The document's own title among the lines above its body, and its line index; ("", -1) when it has none.

    A notice that issues the document ("…关于印发2024年政府工作报告的通知") gives the document's title.
    """
    for index, raw_line in enumerate(lines):
        line = squash_spaces(_BRACKET_PREFIX.sub("", raw_line))     # 【冶金街道】 冶金街道2016年工作计划
        if not line or is_boilerplate_line(line):
            continue
        if _is_title_like(line):
            notice = _NOTICE.search(line)
            return (notice.group("inner") if notice else line), index
        if is_prose(line):
            run_on = _run_on_title(line) if index == 0 or len(line) > 60 else ""
            if run_on and not _ORDINAL.match(run_on):
                return run_on, index
            break                                   # the body has started: the document has no title line
    return "", -1


def is_prose(line: str) -> bool:
    return len(line) > 60 or bool(re.search(r"[。；;]", line))


def header_lines_of(lines: list[str], title_index: int) -> list[str]:
    """Short lines standing above the body (column name, issuing body, date lines): not the title, not page furniture."""
    headers = []
    for index, line in enumerate(lines):
        if len(line) > 40 or _SENTENCE_PUNCT.search(line) or _ORDINAL.match(line):
            if index > title_index:
                break                           # the body has started
            continue
        if index != title_index and not is_boilerplate_line(line):
            headers.append(line)
    return headers


def file_stem(doc_id: str) -> str:
    """The file name without extension, numeric prefix (003_) or hash-like parts."""
    stem = Path(doc_id).stem
    stem = _FILE_NUMBER_PREFIX.sub("", stem)
    return _HASH_PART.sub("", stem).strip(" _-.")


def issuer_of(lines: list[str], text: str, fields: Mapping[str, str]) -> str:
    """The issuing body: the page's field, else a labelled 发布机构, else a signature line (某高新区管委会)."""
    if fields.get("issuer"):
        return squash_spaces(fields["issuer"])
    for line in lines:
        label = _ISSUER_LABEL.search(squash_spaces(line))
        if label:
            return label.group(1)
    tail = [line.strip() for line in text[-600:].split("\n") if line.strip()][-4:]
    for line in [*lines, *tail]:
        line = squash_spaces(line)
        if _ISSUER_LINE.match(line) and "关于" not in line:
            return line
    return ""


def doc_number_of(text: str, fields: Mapping[str, str]) -> str:
    """The 文号 (某府发〔2023〕5号): the page's field when it has that shape, else one written near the top."""
    if fields.get("doc_number") and _DOC_NUMBER_SHAPE.search(fields["doc_number"]):
        return squash_spaces(fields["doc_number"])
    match = DOC_NUMBER.search(text[:TOP_CHARS])
    return re.sub(r"\s+", "", match.group()) if match else ""


def kind_of(title: str) -> str:
    """总结 / 计划 / 政府工作报告 …, joined with 、 when the title names several; 文件 when none."""
    kinds = [kind for kind in KINDS if kind in title]
    # "关于2022年度工作总结的报告" is a summary; a 政府工作报告 is not also a plain 报告.
    if "政府工作报告" in kinds or ("报告" in kinds and len(kinds) > 1 and "工作报告" not in title):
        kinds.remove("报告")
    return "、".join(kinds) or "文件"


def period_of(title: str) -> str:
    """上半年 / 下半年 / a quarter the title names; 半年 and 半年度 mean the first half."""
    for period in PERIODS:
        if period in title:
            return period
    return "上半年" if "半年" in title else ""
