"""公文 heading markers: 一、 · （一） · 1. · （1） · run-in 一是…, with their levels and ordinals."""
from __future__ import annotations

import re
from dataclasses import dataclass

CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN = "一二三四五六七八九十"

# Ordered from the outermost level inward; a document may skip levels (002 starts at （一）).
LEVEL_PATTERNS: tuple[tuple[int, re.Pattern], ...] = (
    (1, re.compile(rf"([{_CN}]{{1,3}})、")),
    (2, re.compile(rf"[（(]([{_CN}]{{1,3}})[）)]")),
    (3, re.compile(r"(\d{1,2})[.、．](?![\d.%])")),
    (4, re.compile(r"[（(](\d{1,2})[）)]")),
)
RUN_IN_LEVEL = 5
RUN_IN_PATTERN = re.compile(rf"([{_CN}]{{1,2}})是(?=[\u4e00-\u9fff“])")

SENTENCE_END = "。！？；;!?"
CLOSERS = "”’」』）)》"


def chinese_to_int(numeral: str) -> int | None:
    """一→1, 十→10, 十二→12, 二十三→23; None for anything else."""
    if not numeral or any(ch not in _CN for ch in numeral):
        return None
    if "十" not in numeral:
        return CHINESE_DIGITS.get(numeral) if len(numeral) == 1 else None
    tens, _, ones = numeral.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    tens_value = CHINESE_DIGITS.get(tens, 1) if tens else 1
    ones_value = CHINESE_DIGITS.get(ones, 0) if ones else 0
    return tens_value * 10 + ones_value


def ordinal_of(numeral: str) -> int | None:
    return int(numeral) if numeral.isdigit() else chinese_to_int(numeral)


@dataclass(frozen=True)
class Marker:
    """A heading marker found at text[start:end], e.g. "（二）" at level 2 with ordinal 2."""

    level: int
    ordinal: int
    start: int
    end: int


def match_marker(text: str, pos: int, levels: tuple[int, ...] = (1, 2, 3, 4)) -> Marker | None:
    """The heading marker that starts exactly at text[pos], if any."""
    for level, pattern in LEVEL_PATTERNS:
        if level not in levels:
            continue
        match = pattern.match(text, pos)
        if match:
            ordinal = ordinal_of(match.group(1))
            if ordinal:
                return Marker(level, ordinal, match.start(), match.end())
    return None


def starts_sentence(text: str, pos: int) -> bool:
    """True when text[pos] begins a sentence: line start, or after 。！？； (and closing quotes) or a space."""
    back = pos - 1
    while back >= 0 and text[back] in " \t\u3000":
        back -= 1
    if back < 0 or text[back] == "\n":
        return True
    if back < pos - 1:          # whitespace before the marker separates it from the previous text
        return True
    while back >= 0 and text[back] in CLOSERS:
        back -= 1
    return back >= 0 and text[back] in SENTENCE_END


class OrdinalSequence:
    """Accepts a marker only when it continues its level's numbering (1, or previous + 1).

    This is what tells a real mid-line heading "。二、融合发展" from "一、二期" inside a sentence.
    Accepting a level resets the numbering of every deeper level.
    """

    def __init__(self) -> None:
        self.last: dict[int, int] = {}

    def accepts(self, marker: Marker) -> bool:
        previous = self.last.get(marker.level, 0)
        return marker.ordinal == 1 or marker.ordinal == previous + 1

    def accept(self, marker: Marker) -> None:
        self.last[marker.level] = marker.ordinal
        for level in list(self.last):
            if level > marker.level:
                del self.last[level]
