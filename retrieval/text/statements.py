"""The year each section, paragraph and sentence of a document speaks of, and whether it states a result or a target.

A 政府工作报告 given in 2026 reviews 2025 (results: "2025年工作回顾", "过去一年", "十四五时期") and sets 2026's
targets ("2026年重点工作", "今年…主要预期目标"); a plan states targets, a summary results. A sentence's own year
words override its paragraph's, a paragraph's opening words ("刚刚过去的2025年，") its section's, a section's its
document's. 今年/去年/明年 are read against the document's planning year (`planning_year`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from retrieval.types import Chunk, DocumentMeta

RESULT, TARGET = "result", "target"

# The five-year plan periods (国民经济和社会发展五年规划) by their ordinal: 十四五 = 2021–2025.
FIVE_YEAR_PLANS = {"十一五": (2006, 2010), "十二五": (2011, 2015), "十三五": (2016, 2020), "十四五": (2021, 2025),
                   "十五五": (2026, 2030), "十六五": (2031, 2035)}
# Words naming a year relative to the planning year (今年 = the year a plan is for, a report is given in).
RELATIVE_YEARS = {"今年": 0, "本年": 0, "本年度": 0, "今年度": 0, "去年": -1, "上年": -1, "上一年": -1,
                  "过去一年": -1, "刚刚过去的一年": -1, "明年": 1, "下一年": 1, "来年": 1, "前年": -2}
# Words naming five-year spans relative to the planning year: 过去五年 ends the year before it.
RELATIVE_PERIODS = {"过去五年": (-5, -1), "这五年": (-5, -1), "五年来": (-5, -1), "未来五年": (0, 4),
                    "今后五年": (0, 4)}
# A year after these words is compared with, not spoken of: "比2024年快1.8个百分点", "同比", "较上年".
_COMPARED = ("比", "较", "于", "同", "与", "跟", "和")
_YEAR = re.compile(r"(?<![\d—–-])((?:19|20)\d{2})\s*年(?!代)")
_YEAR_RANGE = re.compile(r"((?:19|20)\d{2})\s*[—–\-~～至到]+\s*((?:19|20)\d{2})\s*年")
# Cues of a stated target or a stated result inside one sentence; a target cue wins ("力争实现" is a target).
TARGET_CUES = ("力争", "预期目标", "主要目标", "目标是", "目标为", "目标任务", "争取", "确保", "计划", "预期",
               "要达到", "将达到", "拟", "力求")
RESULT_CUES = ("同比", "比上年", "较上年", "完成了", "实现了", "增长了", "达到了", "下降了", "提高了", "已完成",
               "累计完成", "超额完成", "取得", "比2", "较2")
# Section headings: a review part states results, a work part targets.
HEADING_RESULT_CUES = ("回顾", "总结", "成效", "成绩", "进展", "完成情况", "工作情况", "过去")
HEADING_TARGET_CUES = ("目标", "任务", "重点", "安排", "打算", "计划", "思路", "要点", "举措", "总体要求", "展望", "部署")
# A document's own kind gives the stance of what no heading or sentence marks.
KIND_STANCE = (("总结", RESULT), ("计划", TARGET), ("要点", TARGET), ("规划", TARGET), ("思路", TARGET))
_SENTENCE = re.compile(r"[^。！？；;!?\n]+[。！？；;!?]?")


def _alternation(words) -> re.Pattern:
    """One pattern for a set of words, longest first (so 过去一年 wins over 去年 where both fit)."""
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


_RELATIVE_YEAR = _alternation(RELATIVE_YEARS)
_RELATIVE_PERIOD = _alternation(RELATIVE_PERIODS)
_FIVE_YEAR_PLAN = _alternation(FIVE_YEAR_PLANS)
_TARGET_CUE, _RESULT_CUE = _alternation(TARGET_CUES), _alternation(RESULT_CUES)
_OPENING = re.compile(r"^[^，,：:。；;]{0,24}[，,：:]")       # a paragraph's opening phrase: "刚刚过去的2025年，"


@dataclass(frozen=True)
class Statement:
    """A sentence of a passage: [start, end) in its text, the years it speaks of and its stance."""

    start: int
    end: int
    years: tuple[int, ...]          # one year, a five-year span, or () when nothing says
    stance: str                     # RESULT, TARGET or ""

    @property
    def year(self) -> int | None:
        """The single year it speaks of, None for a span of years or none."""
        return self.years[0] if len(self.years) == 1 else None


@dataclass(frozen=True)
class Context:
    """What a section or paragraph says about the statements under it (empty: nothing, inherit)."""

    years: tuple[int, ...] = ()
    stance: str = ""

    def over(self, outer: "Context") -> "Context":
        """This context, filled in from an outer one where it says nothing."""
        return Context(self.years or outer.years, self.stance or outer.stance)


def planning_year(meta: DocumentMeta) -> int | None:
    """The year a document plans for or is given in: what 今年 means in it (the last year it covers)."""
    return meta.years[-1] if meta.years else None


def review_year(meta: DocumentMeta) -> int | None:
    """The year a document's results speak of when nothing says: the year before the planning year for a
    document covering both (a 政府工作报告), else its planning year (a summary)."""
    plan = planning_year(meta)
    if plan is None:
        return None
    return plan - 1 if plan - 1 in meta.years else plan


def years_named(text: str, plan: int | None) -> tuple[int, ...]:
    """The years a piece of text speaks of: a five-year plan period, a range, explicit years not compared with,
    or words relative to the planning year. () when it names none."""
    if "年" not in text and "五" not in text:          # every year word holds one of them (十四五, 今年, 2025年)
        return ()
    span = _YEAR_RANGE.search(text)
    if span and 0 < int(span.group(2)) - int(span.group(1)) <= 10:
        return tuple(range(int(span.group(1)), int(span.group(2)) + 1))
    years = [int(m.group(1)) for m in _YEAR.finditer(text) if not _compared(text, m.start())]
    if years:
        return (years[0],)
    if plan is not None:
        for match in _RELATIVE_YEAR.finditer(text):
            if not _compared(text, match.start()):
                return (plan + RELATIVE_YEARS[match.group()],)
    plan_period = _FIVE_YEAR_PLAN.search(text)
    if plan_period:
        first, last = FIVE_YEAR_PLANS[plan_period.group()]
        return tuple(range(first, last + 1))
    period = _RELATIVE_PERIOD.search(text) if plan is not None else None
    if period:
        first, last = RELATIVE_PERIODS[period.group()]
        return tuple(range(plan + first, plan + last + 1))
    return ()


def _compared(text: str, position: int) -> bool:
    before = text[max(0, position - 2):position]
    return any(before.endswith(word) for word in _COMPARED)


def sentence_stance(text: str) -> str:
    """TARGET or RESULT when the sentence's own words say so, else ""."""
    if _TARGET_CUE.search(text):
        return TARGET
    if _RESULT_CUE.search(text):
        return RESULT
    return ""


@lru_cache(maxsize=16384)
def heading_context(heading: str, plan: int | None) -> Context:
    """What a section heading says: "2025年工作回顾" → (2025, result); "2026年重点工作" → (2026, target)."""
    years = years_named(heading, plan)
    stance = ""
    if any(cue in heading for cue in HEADING_RESULT_CUES):
        stance = RESULT
    elif any(cue in heading for cue in HEADING_TARGET_CUES):
        stance = TARGET
    elif years and plan is not None:
        stance = RESULT if years[-1] < plan else TARGET
    return Context(years, stance)


def document_context(meta: DocumentMeta) -> Context:
    """What a document's kind says of the statements nothing else marks (a plan's are targets)."""
    return _kind_context(meta.kind)


def _kind_context(kind: str) -> Context:
    return Context((), next((stance for name, stance in KIND_STANCE if name in kind), ""))


def section_context(section_path: Sequence[str], meta: DocumentMeta) -> Context:
    """The context of a section: its innermost heading that says something, then the outer ones, then the document."""
    return _section_context(tuple(section_path), planning_year(meta), meta.kind)


@lru_cache(maxsize=16384)
def _section_context(section_path: tuple[str, ...], plan: int | None, kind: str) -> Context:
    context = Context()
    for heading in reversed(section_path):
        context = context.over(heading_context(heading, plan))
    return context.over(_kind_context(kind))


def paragraph_context(paragraph_opening: str, plan: int | None) -> Context:
    """What a paragraph's opening phrase says ("刚刚过去的2025年，" → 2025, result; "今年是…" → the planning year)."""
    match = _OPENING.match(paragraph_opening)
    if not match:
        return Context()
    opening = match.group()
    years = years_named(opening, plan)
    stance = sentence_stance(opening)
    if not stance and years and plan is not None:
        stance = RESULT if years[-1] < plan else ""
    return Context(years, stance)


def default_years(stance: str, meta: DocumentMeta) -> tuple[int, ...]:
    """The year of a statement nothing dates: a result speaks of the reviewed year, anything else of the planning year."""
    year = review_year(meta) if stance == RESULT else planning_year(meta)
    return (year,) if year is not None else ()


def statements(chunk: Chunk, meta: DocumentMeta, document_text: str = "") -> list[Statement]:
    """Every sentence of a passage with its years and stance.

    `document_text` (the passage's document's text) lets a passage that starts inside a paragraph read the
    paragraph's opening words; without it the passage's own first line counts as the paragraph's start.
    """
    plan = planning_year(meta)
    section = section_context(chunk.section_path, meta)
    text = chunk.text
    found: list[Statement] = []
    paragraph = Context()
    paragraph_start = -1
    for match in _SENTENCE.finditer(text):
        start, end = match.start(), match.end()
        sentence = match.group()
        if not sentence.strip():
            continue
        line_start = text.rfind("\n", 0, start) + 1
        if line_start != paragraph_start:
            paragraph_start = line_start
            opening = text[line_start:line_start + 40]
            if line_start == 0 and document_text and chunk.char_span[0] > 0:
                absolute = chunk.char_span[0]
                begin = document_text.rfind("\n", 0, absolute) + 1
                opening = document_text[begin:begin + 40]
            paragraph = paragraph_context(opening, plan)
        # A sentence naming several years ("从2020年的X增长到2025年的Y") dates none of its figures alone.
        named = {int(y) for y in _YEAR.findall(sentence)}
        own_years = years_named(sentence, plan) if len(named) <= 1 else ()
        outer = paragraph.over(section)
        if len(own_years) > 1 and len(outer.years) == 1:
            own_years = ()        # "…达到‘十五五’目标任务的序时进度" in this year's targets: still this year's
        own = Context(own_years, sentence_stance(sentence) or _stance_of_year(own_years, meta))
        context = own.over(outer)
        years = context.years or default_years(context.stance, meta)
        found.append(Statement(start, end, years, context.stance or _stance_of_year(years, meta)))
    return found


def _stance_of_year(years: tuple[int, ...], meta: DocumentMeta) -> str:
    """What a statement dated by its year alone is: before the planning year a result; the planning year in a
    document that also reviews the year before (a 政府工作报告) a target; otherwise nothing said."""
    plan = planning_year(meta)
    if not years or plan is None:
        return ""
    if years[-1] < plan:
        return RESULT
    if years[0] >= plan and (review_year(meta) or plan) < plan:
        return TARGET
    return ""


def statement_at(found: Sequence[Statement], position: int) -> Statement | None:
    """The statement holding offset `position` of the passage text."""
    for statement in found:
        if statement.start <= position < statement.end:
            return statement
    return None


def question_year_offset(question: str) -> int | None:
    """今年 → 0, 去年 → -1, 明年 → 1 (relative to each document's planning year); None when the question names none."""
    for word in sorted(RELATIVE_YEARS, key=len, reverse=True):
        if word in question:
            return RELATIVE_YEARS[word]
    return None


# A question's words for what it asks: a target (目标/计划/力争/预期) or a result (完成/实现/达到).
QUESTION_TARGET_CUES = ("目标", "计划", "力争", "预期", "打算", "要达到", "定的", "定为", "定在", "任务")
QUESTION_RESULT_CUES = ("完成", "实现", "达到", "实际", "已经", "取得", "增长了", "到了")


def question_stance(question: str) -> str:
    """TARGET, RESULT or "" for a question, by its own cue words (a target cue wins). 今年/去年 alone say which
    year, not the stance: this year's figure is a target in a plan and a result in a half-year summary."""
    if any(cue in question for cue in QUESTION_TARGET_CUES):
        return TARGET
    if any(cue in question for cue in QUESTION_RESULT_CUES):
        return RESULT
    return ""
