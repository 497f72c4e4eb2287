"""Dates and years of a document: its publication date, the years its title names, the year a report reviews,
and the years it covers."""
from __future__ import annotations

import re
from collections import Counter
from typing import Mapping


TOP_LINES = 15            # titles, dates and signatures under the title are looked for in this many lines
TOP_CHARS = 3000          # … and within this many characters
YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
YEAR_RANGE = re.compile(r"((?:19|20)\d{2})\s*[-—–~～至到]\s*((?:19|20)\d{2})\s*年")
_DATE_CN = re.compile(r"((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
DATE_ISO = re.compile(r"((?:19|20)\d{2})[-/.](\d{1,2})[-/.](\d{1,2})")
# The document's own date (发文/成文/印发) comes before the page's (发布), as in cleaning's page fields.
_DOCUMENT_DATE_LABELS = re.compile(r"(?:发文日期|成文日期|印发日期)\s*[\]】]?\s*[:：|]?\s*")
_DATE_LABELS = re.compile(r"(?:发布时间|发布日期|发文日期|成文日期|印发日期|日期)\s*[\]】]?\s*[:：|]?\s*")
_REVIEW = re.compile(r"((?:19|20)\d{2})\s*年[^。\n,，;；]{0,20}?(?:工作回顾|主要工作|工作总结|回顾)")
_MEETING_DATE = re.compile(r"^[—―\-－\s(（]*((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*(?:[)）]\s*$|在|$)")


def _iso(year: str, month: str, day: str) -> str:
    month_number, day_number = int(month), int(day)
    if not (1 <= month_number <= 12 and 1 <= day_number <= 31):
        return ""
    return f"{int(year):04d}-{month_number:02d}-{day_number:02d}"


def date_in(text: str) -> str:
    match = _DATE_CN.search(text) or DATE_ISO.search(text)
    return _iso(*match.groups()) if match else ""


def dated_lines(lines: list[str]) -> list[tuple[int, str]]:
    """(line index, YYYY-MM-DD) of lines that are a date: "(2022年3月1日)", "2022年3月1日",
    "2017年1月9日在…会议上", "2021年02月26日 来源: 上海普陀"."""
    found = []
    for index, line in enumerate(lines):
        match = _MEETING_DATE.match(line)
        if not match and re.match(r"^\s*(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*来源", line):
            match = _DATE_CN.search(line)
        if match:
            date = _iso(*match.groups())
            if date:
                found.append((index, date))
    return found


def published_date(lines: list[str], text: str, fields: Mapping[str, str]) -> str:
    """The page's publication date, else a labelled date (发布时间: …), else a date line near the top,
    else the dated signature at the end; "" when none."""
    if fields.get("published"):
        return date_in(fields["published"]) or fields["published"]
    for labels in (_DOCUMENT_DATE_LABELS, _DATE_LABELS):
        for line in lines:
            for label in labels.finditer(line):
                date = date_in(line[label.end():label.end() + 24])
                if date:
                    return date
    dated = dated_lines(lines)
    if dated:
        return dated[0][1]
    tail = [line.strip() for line in text[-600:].split("\n") if line.strip()][-4:]
    for line in reversed(tail):
        if len(line) <= 20 and _DATE_CN.fullmatch(line.strip("()（） ")):
            return date_in(line)
    return ""


def title_years(title: str) -> list[int]:
    """Every year the title names, part by part; "2021-2025年" names each year of the range."""
    years = {int(y) for y in YEAR.findall(title)}
    for start, end in YEAR_RANGE.findall(title):
        if 0 <= int(end) - int(start) <= 10:
            years |= set(range(int(start), int(end) + 1))
    return sorted(years)


def review_year(text: str, title: str) -> int | None:
    """The year a report looks back on, from its review heading: "一、2023年工作回顾", "2022年主要工作"."""
    body = text[:TOP_CHARS].replace(title, "", 1)
    match = _REVIEW.search(body)
    return int(match.group(1)) if match else None


def report_years(titled: list[int], reviewed: int | None, delivered: int | None) -> list[int]:
    """A work report reviews the past year and plans the current one.

    Its title names the year it is given in (2024年政府工作报告, given in January 2024 on 2023) or, for some,
    the year it reviews (2016年政府工作报告 given in January 2017): the review heading and the date it was
    given tell which. A report titled after the year it reviews covers the next year only when a date says so.
    """
    if len(titled) > 1:
        return titled
    if titled:
        year = titled[0]
        if reviewed == year:
            return [year, delivered] if delivered == year + 1 else [year]
        if reviewed == year - 1 or delivered != year + 1:
            return [year - 1, year]
        return [year, year + 1]
    if reviewed:
        return [reviewed, reviewed + 1]
    if delivered:
        return [delivered - 1, delivered]
    return []


def covered_years(title: str, kind: str, text: str, lines: list[str], title_index: int, published: str,
                  stem: str) -> list[int]:
    """The years a document covers: from the title, else its date, else the body, else the file name."""
    titled = title_years(title)
    if "工作报告" in title:
        after_title = lines[title_index + 1:] if title_index >= 0 else lines
        dated = dated_lines(after_title[:6])
        delivered = int(dated[0][1][:4]) if dated else None
        years = report_years(titled, review_year(text, title), delivered)
        if not years and published:
            year = int(published[:4])
            years = [year - 1, year]
        if years:
            return years
    if titled:
        return titled
    if published:
        year, month = int(published[:4]), int(published[5:7])
        # A summary published early in a year is the previous year's; a plan published late is the next one's.
        if "总结" in kind:
            return [year - 1] if month <= 3 else [year]
        if any(k in kind for k in ("计划", "要点", "规划", "思路")):
            return [year + 1] if month >= 11 else [year]
        return [year]
    counts = Counter(int(y) for y in YEAR.findall(text[:2000]))
    if counts:
        return [counts.most_common(1)[0][0]]
    return title_years(stem)
