"""Answer units: the sentences of a passage that can be answers. The index embeds each one (so the dense leg can score a
passage by its best sentence) and the answer step chooses among them."""
from __future__ import annotations

import re

ANSWER_MAX_CHARS = 100
_SENTENCE = re.compile(r"[^。！？；;!?\n]+[。！？；;!?]?[”’」』]?")
_SENTENCE_END = re.compile(r"[。！？；;!?]")
SIGNATURE_LINE_MAX = 8
_SIGNATURE_LINE = re.compile(r"[\u4e00-\u9fff（）()·]{2,8}")     # a name or a body, nothing else


def answer_units(text: str) -> list[tuple[int, int]]:
    """The sentences of a passage that can be answers, as [start, end) offsets: sentences of up to 100
    characters, longer ones cut at clause ends into pieces that fit. The index embeds each unit, so the
    dense leg can score a passage by its best sentence and the answer can be chosen by meaning.

    A very short line under a line without a full stop (a speaker's name under "在…大会上", an issuing
    body under a date) stays with that line: alone it says nothing.
    """
    units: list[tuple[int, int]] = []
    for sentence in _SENTENCE.finditer(text):
        start, end = sentence.start(), sentence.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start < 2:
            continue
        if units and end - start <= SIGNATURE_LINE_MAX and _SIGNATURE_LINE.fullmatch(text[start:end]) \
                and text[units[-1][1]:start].count("\n") >= 1 and not _SENTENCE_END.search(text[units[-1][1] - 1]) \
                and end - units[-1][0] <= ANSWER_MAX_CHARS:
            units[-1] = (units[-1][0], end)
            continue
        while end - start > ANSWER_MAX_CHARS:
            window = text[start:start + ANSWER_MAX_CHARS]
            # Never cut inside quotes: “某某面塑” split in two halves answers nothing.
            cut = max((i for i, ch in enumerate(window) if ch in "，,、" and not _inside_quotes(window, i)),
                      default=-1)
            cut = cut + 1 if cut >= 20 else ANSWER_MAX_CHARS
            units.append((start, start + cut))
            start += cut
        units.append((start, end))
    return units


def _inside_quotes(text: str, position: int) -> bool:
    before = text[:position]
    return before.count("“") > before.count("”") or before.count("《") > before.count("》")
