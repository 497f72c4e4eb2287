"""Amounts in text: the units people write, the qualifiers of a value (近, 约, 以上), and the spans of amounts,
percentages and ratios of a sentence. Shared by figure records (indexing), question analysis and the fact step."""
from __future__ import annotations

import re
from dataclasses import dataclass

# Units a quantity can carry, longest first so that 万平方米 wins over 平方米 and 米.
UNITS = tuple(sorted({
    "平方米", "万平方米", "平方公里", "公里", "千米", "米", "公顷", "亩", "吨", "立方米", "微克", "微克/立方米",
    "亿元", "万元", "元", "美元", "万美元", "个", "家", "辆", "项", "件", "名", "人", "人次", "户", "所", "栋", "幢",
    "座", "条", "次", "场", "场次", "批", "批次", "处", "台", "套", "间", "张", "本", "支", "位", "轮", "期", "天",
    "小时", "年", "个月", "%", "个百分点", "倍", "起", "宗", "株", "棵", "盏", "块", "只", "所学校",
    "家次", "户次", "万人次", "万人", "万户", "万亩", "万吨", "公斤", "千克", "千瓦", "兆瓦", "分钟", "万辆",
    # units of statistical reports (统计公报): 亿斤 is 亿 + 斤, 万千瓦 万 + 千瓦, 亿千瓦时 亿 + 千瓦时
    "斤", "㎡", "m²", "平方千米", "千瓦时", "标箱", "艘", "架次", "万标箱", "吨标准煤", "亿人次", "万千瓦",
}, key=len, reverse=True))
# Units that answer the same question: 几栋 may be answered in 幢, 多少钱 in 万元 or 亿元.
UNIT_GROUPS = (
    {"栋", "幢", "座"}, {"个", "家", "项", "所", "处", "件", "批", "批次"}, {"元", "万元", "亿元", "美元", "万美元"},
    {"平方米", "万平方米", "亩", "公顷", "平方公里", "㎡", "m²", "平方千米"}, {"公里", "千米", "米"}, {"人", "名", "人次", "户"},
    {"%", "个百分点"}, {"次", "场", "场次"}, {"家次", "户次", "人次", "万人次"}, {"辆", "台"},
)


def compatible_units(unit: str) -> set[str]:
    """The units that answer a question asked in `unit` (itself included)."""
    for group in UNIT_GROUPS:
        if unit in group:
            return group
    return {unit}


CHINESE_DIGITS = "零〇一二两三四五六七八九十百千"
NUMBER = rf"(?:\d+(?:[.,]\d+)*|[{CHINESE_DIGITS}]+(?:点[{CHINESE_DIGITS}]+)?)"
_UNIT_PATTERN = "|".join(re.escape(u) for u in UNITS)
_TIME_UNITS = "个半小时|个半月|半小时|小时|分钟|个月|天|周(?!年)"
# Qualifiers that belong to a value (近80家, 约300辆, 30余家, 12个以上); 达/共/累计 are verbs and stay out.
LEADING_QUALIFIERS = ("超过", "近", "约", "超", "逾", "将近", "接近", "大约")
TRAILING_QUALIFIERS = ("以上", "以内", "以下", "左右", "之多", "多", "余")
_LEAD = "|".join(LEADING_QUALIFIERS)
_TRAIL = "|".join(TRAILING_QUALIFIERS)
QUANTITY = re.compile(
    rf"(?:(?:{_LEAD}))?{NUMBER}(?:[万亿千百])?(?:余|多)?(?:{_TIME_UNITS}|{_UNIT_PATTERN})(?:{_TRAIL})?")
PERCENT = re.compile(rf"(?:(?:{_LEAD}))?(?:-?\d+(?:\.\d+)?%|百分之[{CHINESE_DIGITS}\d.]+)(?:{_TRAIL})?")
RATIO = re.compile(r"\d+(?:\.\d+)?(?:[:：]\d+(?:\.\d+)?){1,3}")
YEAR_OR_DATE = re.compile(r"^(?:19|20)\d{2}(?:年度?|-)|^\d{1,2}[月日号]$|^\d{1,2}月")


@dataclass(frozen=True)
class FactSpan:
    """A candidate value in a sentence: [start, end) and its text."""

    start: int
    end: int
    text: str


def strip_leading(value: str) -> str:
    """The value without its leading qualifier (近600家 → 600家)."""
    for word in LEADING_QUALIFIERS:
        if value.startswith(word):
            return value[len(word):]
    return value


def inside_slogan(text: str, start: int, end: int) -> bool:
    """A Chinese-numeral amount inside short quotes is a slogan's name (“四个到位”), not a figure."""
    if text[start:start + 1].isdigit():
        return False
    opening = text.rfind("“", 0, start)
    return opening >= 0 and start - opening <= 2 and "”" in text[end:end + 8] and "”" not in text[opening:start]


def quantities(text: str) -> list[re.Match]:
    """Number-with-unit spans that are amounts, not years, dates, ordinals (第五批, 第一个) or part of a
    quoted slogan (“两个维护”, “四个意识”)."""
    return [m for m in QUANTITY.finditer(text) if not YEAR_OR_DATE.match(strip_leading(m.group()))
            and text[max(0, m.start() - 1):m.start()] != "第" and not inside_slogan(text, m.start(), m.end())]


def quantity_spans(text: str) -> list[FactSpan]:
    """Amounts, percentages and ratios; adjacent amounts (52户163人) are one value."""
    spans = [FactSpan(m.start(), m.end(), m.group()) for m in quantities(text)]
    spans += [FactSpan(m.start(), m.end(), m.group()) for m in PERCENT.finditer(text)]
    spans += [FactSpan(m.start(), m.end(), m.group()) for m in RATIO.finditer(text)]
    spans.sort(key=lambda s: (s.start, -s.end))
    merged: list[FactSpan] = []
    for span in spans:
        if merged and span.start < merged[-1].end:
            continue                                   # inside a longer span already taken
        if merged and span.start == merged[-1].end and not span.text.endswith("%") \
                and not merged[-1].text.endswith("%") and span.text[:1].isdigit() \
                and strip_leading(merged[-1].text)[:1].isdigit():
            previous = merged.pop()
            span = FactSpan(previous.start, span.end, previous.text + span.text)
        merged.append(span)
    return merged
