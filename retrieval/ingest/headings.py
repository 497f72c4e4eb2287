"""公文 headings: numbered markers (一、 （一） 1. （1） ① 一是), unnumbered titles found by their shape, and
which numbered items are list items (body text that can answer a question) rather than section titles."""
from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.ingest.frontmatter import is_front_matter, is_signature_or_meeting

CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN = "一二三四五六七八九十"
_CIRCLED_FIRST, _CIRCLED_LAST = "①", "⑳"

# Ordered from the outermost level inward; a document may skip levels (002 starts at （一）).
LEVEL_PATTERNS: tuple[tuple[int, re.Pattern], ...] = (
    (1, re.compile(rf"([{_CN}]{{1,3}})、")),
    (2, re.compile(rf"[（(]([{_CN}]{{1,3}})[）)]")),
    (3, re.compile(r"(\d{1,2})[.、．](?![\d.%])")),
    (4, re.compile(r"[（(](\d{1,2})[）)]")),
    (5, re.compile(rf"([{_CIRCLED_FIRST}-{_CIRCLED_LAST}])")),
)
# Where a marker of levels 1–4 may start (match_marker decides whether one does): lets a scan over a text
# jump from one possible marker to the next instead of trying every position.
POSSIBLE_MARKER = re.compile("|".join(f"(?:{pattern.pattern})" for level, pattern in LEVEL_PATTERNS if level <= 4))
PART_LEVEL = 0                 # an unnumbered title line above the 一、 headings ("…2020年工作回顾")
SECTION_LEVELS = (1, 2)        # 一、 （一）: always section headings
ITEM_LEVELS = (3, 4, 5)        # 1. （1） ①: list items, unless shaped as a title over their own body
RUN_IN_LEVEL = 6               # 一是… 二是…: list items inside a paragraph or at a line start
RUN_IN_PATTERN = re.compile(rf"([{_CN}]{{1,2}})是(?=[\u4e00-\u9fff“])")

SENTENCE_END = "。！？；;!?"
FULL_STOPS = "。！？!?"         # what ends a title phrase that opens its body ("丰富为老服务内涵。完成…")
COLONS = "：:"
CLOSERS = "”’」』）)》"
COMMAS = "，,"

SECTION_TITLE_MAX = 50         # a numbered heading line longer than this carries its body after the title
ITEM_TITLE_MAX = 30            # a title phrase longer than this is a sentence, not a title
RUN_IN_PHRASE_MAX = 24         # an unnumbered phrase opening a paragraph is shorter still
LINE_TITLE_MIN = 5             # shorter standalone lines are names and signatures ("姚富强")
LINE_TITLE_MAX = 40
PARAGRAPH_MIN = 40             # a line this long is a paragraph even without a full stop
BODY_MIN = 4                   # a title needs at least this much body text of its own
TITLE_REPEAT_SHARE = 0.8       # a front-matter line sharing this much with an earlier line repeats the title

# An Arabic number, and what may follow it without making it an amount: a year, month, day, edition, period.
_NUMBER = re.compile(r"\d+(?:[.．]\d+)?")
_NOT_AN_AMOUNT_AFTER = "年月日号时届期"
_RANGE_MARKS = "-－—~～至/、"
_DATE_LINE = re.compile(r"[（(]?\s*\d{4}\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?\s*[）)]?")


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
    """1 for "1", "一" or "①"; None for anything else."""
    if numeral.isascii() and numeral.isdigit():
        return int(numeral)
    if len(numeral) == 1 and _CIRCLED_FIRST <= numeral <= _CIRCLED_LAST:
        return ord(numeral) - ord(_CIRCLED_FIRST) + 1
    return chinese_to_int(numeral)


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


# --- what a title looks like ---------------------------------------------------------------------

def has_amount(text: str) -> bool:
    """True when text states an amount ("5个", "3万平方米", "12.5%"): sentence content, never a title.

    Years, dates, editions and ordinals ("2020年", "1-5月", "第8位") are not amounts.
    """
    for match in _NUMBER.finditer(text):
        before = text[match.start() - 1] if match.start() else ""
        after = text[match.end()] if match.end() < len(text) else ""
        following = text[match.end() + 1] if match.end() + 1 < len(text) else ""
        if before == "第" or (after and after in _NOT_AN_AMOUNT_AFTER):
            continue
        if after and after in _RANGE_MARKS and following.isdigit():
            continue                     # the first number of a range: the second one decides
        return True
    return False


def _count(text: str, characters: str) -> int:
    return sum(text.count(ch) for ch in characters)


def is_title_phrase(phrase: str) -> bool:
    """A short phrase naming a topic: no amount, at most one comma, no inner sentence end or list."""
    core = phrase.rstrip(FULL_STOPS + COLONS + CLOSERS + " ")
    return (2 <= len(core) <= ITEM_TITLE_MAX and not has_amount(core) and _count(core, COMMAS) <= 1
            and _count(core, SENTENCE_END + COLONS) == 0 and "|" not in core)


def phrase_end(text: str, start: int, end: int, stops: str, limit: int) -> int | None:
    """End (after the stop and closing quotes) of the first phrase of text[start:end] that ends in one of
    `stops` within `limit` characters; None when there is none."""
    for index in range(start, min(end, start + limit + 1)):
        if text[index] in stops:
            index += 1
            while index < end and text[index] in CLOSERS:
                index += 1
            return index
    return None


def numbered_title_end(text: str, start: int, line_end: int) -> int:
    """End of the title of the 一、/（一） heading at `start`: its first sentence end (or colon) when the line
    goes on, else the whole line when short, else its first clause."""
    stop = phrase_end(text, start, line_end, SENTENCE_END + "：", SECTION_TITLE_MAX)
    if stop is not None:
        return stop
    if line_end - start <= SECTION_TITLE_MAX:
        return line_end
    comma = next((i for i in range(start + 5, start + SECTION_TITLE_MAX) if text[i] in COMMAS), None)
    return comma + 1 if comma is not None else start + 30


def is_paragraph(line: str) -> bool:
    """A line of running text: it holds a sentence end or is too long for a title."""
    return len(line) > PARAGRAPH_MIN or any(ch in SENTENCE_END for ch in line)


def is_title_line(line: str) -> bool:
    """A short line that could name a section: no sentence punctuation, no amount; not a date, a note in
    brackets, a "key: value" line, a table row or a line broken off mid-sentence."""
    core = line.strip()
    if not LINE_TITLE_MIN <= len(core) <= LINE_TITLE_MAX or is_paragraph(core):
        return False
    if core[0] in "（([【<《—-" or core[-1] in COMMAS + "、—-（(" or any(ch in core for ch in COLONS + "|"):
        return False                     # a note, a line broken off, a "key: value" line or a table row
    if _DATE_LINE.fullmatch(core) or has_amount(core) or _count(core, COMMAS) > 1:
        return False
    return sum(ch >= "\u4e00" for ch in core) >= len(core) / 2


def is_colon_title(line: str) -> bool:
    """"党建工作：" — a short line ending in a colon whose content follows on the next lines."""
    core = line.strip()
    return len(core) >= 3 and core[-1] in COLONS and "|" not in core and is_title_phrase(core) \
        and not any(ch in COLONS for ch in core[:-1])


def repeats_title(line: str, earlier: list[str]) -> bool:
    """True when the Chinese characters of `line` nearly all occur in one earlier line: a web page or a
    report repeating its title ("某乡政府工作报告" after "某乡2020年度政府工作报告")."""
    characters = [ch for ch in line if ch >= "\u4e00"]
    return bool(characters) and any(
        sum(ch in set(other) for ch in characters) >= TITLE_REPEAT_SHARE * len(characters) for other in earlier)


def ends_unit(line: str) -> bool:
    """True when a line ends where a paragraph may end (so the next line starts something new)."""
    core = line.rstrip()
    while core and core[-1] in CLOSERS:
        core = core[:-1]
    return bool(core) and core[-1] in SENTENCE_END + COLONS + "…"


# --- the headings of a document --------------------------------------------------------------------

SECTION, ITEM, LABEL = "section", "item", "label"


@dataclass(frozen=True)
class Heading:
    """A heading or numbered list item of a document.

    `role` says what it does to the section tree: SECTION opens a section at `level` (its title is shown in
    section_path); ITEM is a list item that is body text, which only ends an open item section of its level;
    LABEL is a title that opens no section (the document title, a lead-in line such as "各位代表：").
    Levels: 0 an unnumbered part title, 1 一、, 2 （一）, 3 1., 4 （1）, 5 ①, 6 一是; an unnumbered heading sits
    half a level below the numbered heading it stands in.
    """

    start: int
    title_end: int            # [start, title_end) is the title
    level: float
    role: str
    title_only: bool          # the title names a topic and answers no question (it goes into heading_spans)

    @property
    def title_span(self) -> tuple[int, int]:
        return self.start, self.title_end


@dataclass(frozen=True)
class _Line:
    start: int                # first non-space character
    end: int                  # after the last non-space character
    text: str


@dataclass(frozen=True)
class _LineHeading:
    """What a line opens with, before the section tree decides levels of unnumbered headings."""

    start: int
    title_end: int
    kind: str                 # "numbered", "item", "body-item", "doc-title", "line-title", "colon", "run-in-phrase"
    level: int = 0
    ordinal: int = 0
    title_only: bool = True


def _lines(text: str) -> list[_Line]:
    lines = []
    position = 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        if stripped:
            start = position + len(raw) - len(raw.lstrip())
            lines.append(_Line(start, start + len(stripped), stripped))
        position += len(raw) + 1
    return lines


def _line_marker(text: str, line: _Line) -> Marker | None:
    return match_marker(text, line.start, levels=SECTION_LEVELS + ITEM_LEVELS)


def _opens_body(text: str, line: _Line | None, item_level: int) -> bool:
    """True when `line` can be the body of a title above it: running text, or items deeper than `item_level`."""
    if line is None:
        return False
    marker = _line_marker(text, line)
    if marker:
        return marker.level > item_level
    if RUN_IN_PATTERN.match(text, line.start):
        return RUN_IN_LEVEL > item_level
    return is_paragraph(line.text)


def _item_heading(text: str, line: _Line, marker: Marker, following: _Line | None) -> _LineHeading:
    """A 1. / （1） / ① line: a title when it is a short topic phrase over a body of its own, else a list item."""
    stop = phrase_end(text, marker.end, line.end, FULL_STOPS + COLONS, ITEM_TITLE_MAX)
    if stop is None and line.end - marker.end <= ITEM_TITLE_MAX:
        stop = line.end                          # a short line without punctuation: "1. 党建工作"
    phrase = text[marker.end:stop] if stop is not None else ""
    if stop is not None and is_title_phrase(phrase):
        rest = text[stop:line.end].strip()
        if rest:
            is_title = len(rest) >= BODY_MIN
        else:                                    # the whole line: its body must follow on the next lines
            is_title = phrase.rstrip(CLOSERS)[-1:] not in FULL_STOPS and _opens_body(text, following, marker.level)
        if is_title:
            return _LineHeading(line.start, stop, "item", marker.level, marker.ordinal)
    return _LineHeading(line.start, line.start, "body-item", marker.level, marker.ordinal, title_only=False)


def _run_in_phrase_end(text: str, line: _Line) -> int | None:
    """End of a topic phrase that opens a paragraph ("丰富为老服务内涵。完成…"), None when it does not."""
    stop = phrase_end(text, line.start, line.end, FULL_STOPS, ITEM_TITLE_MAX)
    if stop is None or len(text[stop:line.end].strip()) < BODY_MIN:
        return None
    phrase = text[line.start:stop]
    if is_front_matter(phrase):
        return None                              # "各位代表！回顾过去的五年…" addresses the audience
    core = phrase.rstrip(FULL_STOPS + CLOSERS)
    # No number marks it as a heading, so it must be clearly a topic: short and not a list ("A、B").
    return stop if 4 <= len(core) <= RUN_IN_PHRASE_MAX and "、" not in core and is_title_phrase(phrase) else None


def _line_headings(text: str, lines: list[_Line]) -> list[_LineHeading]:
    """The heading each line opens with, judged by the line and its neighbours."""
    found: list[_LineHeading] = []
    run_in_phrases: list[_LineHeading] = []
    previous_is_heading = False
    previous_kind = ""
    front_matter: list[str] = []                 # lines before the first paragraph or numbered heading
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else None
        previous = lines[index - 1] if index else None
        marker = _line_marker(text, line)
        in_front_matter = len(front_matter) == index
        heading: _LineHeading | None = None
        if marker and marker.level in SECTION_LEVELS:
            title_end = numbered_title_end(text, line.start, line.end)
            heading = _LineHeading(line.start, title_end, "numbered", marker.level, marker.ordinal,
                                   title_only=not has_amount(text[marker.end:title_end]))
        elif marker:
            heading = _item_heading(text, line, marker, following)
        elif RUN_IN_PATTERN.match(text, line.start):
            pass                                 # a 一是 line: judged with the run-in items
        elif is_signature_or_meeting(line.text):
            pass          # document metadata (who delivered it, where, when): body text that opens no section
        elif index == 0 and following is not None:
            if not is_paragraph(line.text) and "|" not in line.text and not has_amount(line.text):
                heading = _LineHeading(line.start, line.end, "doc-title")
        elif is_colon_title(line.text) and following is not None:
            heading = _LineHeading(line.start, line.end, "colon")
        elif is_title_line(line.text) and _opens_body(text, following, 0) and previous is not None and (
                in_front_matter or previous_is_heading or ends_unit(previous.text)):
            # It stands between paragraphs (not after a line broken off, nor after a run of short body lines).
            # In the front matter a line right after the title continues it, and one that repeats it is it.
            is_title = in_front_matter and (previous_kind == "doc-title" or repeats_title(line.text, front_matter))
            heading = _LineHeading(line.start, line.end, "doc-title" if is_title else "line-title")
        else:
            stop = _run_in_phrase_end(text, line)
            if stop is not None:
                heading = _LineHeading(line.start, stop, "run-in-phrase")
                run_in_phrases.append(heading)
        if heading is not None:
            found.append(heading)
        if in_front_matter and not marker and not is_paragraph(line.text):
            front_matter.append(line.text)
        previous_is_heading = heading is not None and heading.kind not in ("body-item", "run-in-phrase")
        previous_kind = heading.kind if heading is not None else ""
    if len(run_in_phrases) < 2:                  # one such paragraph is a short sentence, not a style
        found = [h for h in found if h.kind != "run-in-phrase"]
    return found


def _run_in_items(text: str, lines: list[_Line], line_headings: list[_LineHeading]) -> list[_LineHeading]:
    """一是…二是… items, numbered 1, 2, 3… at sentence starts; the numbering restarts after each heading line."""
    region_starts = sorted({h.start for h in line_headings if h.kind != "doc-title"} | {0})
    region_ends = region_starts[1:] + [len(text)]
    found = []
    for region_start, region_end in zip(region_starts, region_ends):
        matches = []
        previous = 0
        for match in RUN_IN_PATTERN.finditer(text, region_start, region_end):
            ordinal = ordinal_of(match.group(1))
            if ordinal == previous + 1 and starts_sentence(text, match.start()):
                matches.append(match)
                previous = ordinal
        for index, match in enumerate(matches):
            body_end = matches[index + 1].start() if index + 1 < len(matches) else region_end
            line_end = text.find("\n", match.start())
            line_end = region_end if line_end < 0 else min(line_end, region_end)
            stop = phrase_end(text, match.end(), line_end, FULL_STOPS + COLONS, ITEM_TITLE_MAX)
            if stop is None and line_end - match.end() <= ITEM_TITLE_MAX and line_end < body_end:
                stop = line_end                  # "一是党建工作" on a line of its own
            is_title = stop is not None and is_title_phrase(text[match.end():stop]) \
                and len("".join(text[stop:body_end].split())) >= BODY_MIN
            found.append(_LineHeading(match.start(), stop if is_title else match.start(),
                                      "item" if is_title else "body-item", RUN_IN_LEVEL,
                                      ordinal_of(match.group(1)) or 0, title_only=is_title))
    return found


def find_headings(text: str) -> list[Heading]:
    """Every heading and numbered list item of a cleaned document, in order, with its place in the tree."""
    lines = _lines(text)
    line_headings = _line_headings(text, lines)
    events = sorted(line_headings + _run_in_items(text, lines, line_headings), key=lambda h: h.start)
    next_numbered = {}                           # event index → the numbered heading right after it, if any
    for index, event in enumerate(events[:-1]):
        if events[index + 1].kind == "numbered":
            next_numbered[index] = events[index + 1]
    line_after = {line.start: lines[i + 1] if i + 1 < len(lines) else None for i, line in enumerate(lines)}

    headings: list[Heading] = []
    stack: list[float] = []                      # levels of the open sections

    def open_section(event: _LineHeading, level: float) -> None:
        while stack and stack[-1] >= level:
            stack.pop()
        stack.append(level)
        headings.append(Heading(event.start, event.title_end, level, SECTION, event.title_only))

    def under_numbered() -> float | None:
        """Level for an unnumbered heading: half a level below the numbered heading it stands in."""
        while stack and stack[-1] >= RUN_IN_LEVEL:       # a new paragraph heading ends the run-in items
            stack.pop()
        return int(stack[-1]) + 0.5 if stack else None

    for index, event in enumerate(events):
        if event.kind in ("numbered", "item"):
            open_section(event, event.level)
        elif event.kind == "body-item":
            while stack and stack[-1] >= event.level:
                stack.pop()
            headings.append(Heading(event.start, event.start, event.level, ITEM, False))
        elif event.kind == "line-title":
            numbered = next_numbered.get(index)
            level = under_numbered()
            if level is None or (numbered is not None and numbered.level == 1 and numbered.ordinal == 1):
                level = PART_LEVEL
            open_section(event, level)
        elif event.kind in ("colon", "run-in-phrase"):
            level = under_numbered()
            following = line_after.get(event.start)
            opens_section = level is not None and (
                event.kind == "run-in-phrase"
                or (following is not None and _opens_body(text, following, SECTION_LEVELS[-1])
                    and not is_colon_title(following.text)))
            if opens_section:
                open_section(event, level)
            else:
                headings.append(Heading(event.start, event.title_end, level or 0, LABEL, True))
        else:                                    # the document title
            headings.append(Heading(event.start, event.title_end, PART_LEVEL, LABEL, True))
    return headings
