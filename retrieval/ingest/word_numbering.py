"""The numbers Word draws in front of list paragraphs (一、 · （一） · 1. · ①), which a .docx does not hold as text.

Staff often number the headings and items of a plan with Word's automatic numbering instead of typing 一、 or
1. themselves. The paragraph then holds only "城市管理", and a reference to a list definition in numbering.xml
(`w:numPr`: a list `numId` and a level `ilvl`, on the paragraph or on its style). Without the number, the 公文
heading tree loses its 一、 / （一） markers and a numbered item loses its 1.: this module gives them back,
as Word shows them.

What Word's list numbering means here (ECMA-376 part 1, 17.9):
- a level (`w:lvl`) has a start value, a number format (`w:numFmt`: decimal, chineseCounting, …) and a label
  pattern (`w:lvlText`, such as "%1、" or "（%1）" or "%1.%2"), where %n is level n's current number;
- a list instance (`w:num`) points to a definition (`w:abstractNum`); instances of one definition continue one
  count, unless an instance restarts a level (`w:startOverride`) at its first use;
- numbering a paragraph at a level restarts every deeper level.
Bullets and the "none" format give no label: they carry no number to cite.
"""
from __future__ import annotations

from dataclasses import dataclass

from docx.oxml.ns import qn

__all__ = ["ListNumbering", "format_number"]

_LEVELS = 9
_CN_DIGITS = "零一二三四五六七八九"
_CN_LEGAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_HEAVENLY_STEMS = "甲乙丙丁戊己庚辛壬癸"
_EARTHLY_BRANCHES = "子丑寅卯辰巳午未申酉戌亥"
_ROMAN = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"), (40, "xl"),
          (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))
# Formats whose numbers are drawn from a fixed run of characters starting at one code point (1 → the first).
_ENCLOSED = {"decimalEnclosedCircle": (0x2460, 20), "decimalEnclosedCircleChinese": (0x2460, 20),
             "decimalEnclosedParen": (0x2474, 20), "decimalEnclosedFullstop": (0x2488, 20)}
_NO_LABEL = ("bullet", "none")


def _chinese(number: int, digits: str = _CN_DIGITS, ten: str = "十", hundred: str = "百") -> str:
    """1 → 一, 10 → 十, 11 → 十一, 20 → 二十, 105 → 一百零五: as Word's chineseCounting draws 1–999."""
    if not 0 < number < 1000:
        return str(number)
    hundreds, rest = divmod(number, 100)
    tens, units = divmod(rest, 10)
    text = f"{digits[hundreds]}{hundred}" if hundreds else ""
    if tens:
        text += ten if tens == 1 and not hundreds else f"{digits[tens]}{ten}"
    elif hundreds and units:
        text += digits[0]
    return text + (digits[units] if units else "")


def _letters(number: int) -> str:
    """1 → a, 26 → z, 27 → aa, 28 → bb: Word repeats the letter past z."""
    repeat, index = divmod(number - 1, 26)
    return chr(ord("a") + index) * (repeat + 1)


def _roman(number: int) -> str:
    text = ""
    for value, letters in _ROMAN:
        count, number = divmod(number, value)
        text += letters * count
    return text


def format_number(number: int, number_format: str) -> str:
    """A list number as Word draws it in `number_format` (w:numFmt); unknown formats fall back to decimal."""
    if number_format in ("chineseCounting", "chineseCountingThousand", "japaneseCounting", "taiwaneseCounting",
                         "koreanCounting", "ideographLegalTraditional"):
        return _chinese(number)
    if number_format in ("chineseLegalSimplified", "taiwaneseCountingThousand"):
        legal = _chinese(number, _CN_LEGAL_DIGITS, "拾", "佰")
        return "壹" + legal if legal.startswith("拾") else legal          # 12 → 壹拾贰
    if number_format in ("ideographDigital", "taiwaneseDigital", "japaneseDigitalTenThousand"):
        return "".join("〇" if digit == "0" else _CN_DIGITS[int(digit)] for digit in str(number))
    if number_format == "ideographTraditional" and 0 < number <= len(_HEAVENLY_STEMS):
        return _HEAVENLY_STEMS[number - 1]
    if number_format == "ideographZodiac" and 0 < number <= len(_EARTHLY_BRANCHES):
        return _EARTHLY_BRANCHES[number - 1]
    if number_format in _ENCLOSED and 0 < number <= _ENCLOSED[number_format][1]:
        return chr(_ENCLOSED[number_format][0] + number - 1)
    if number_format in ("lowerLetter", "upperLetter") and number > 0:
        letters = _letters(number)
        return letters.upper() if number_format == "upperLetter" else letters
    if number_format in ("lowerRoman", "upperRoman") and number > 0:
        roman = _roman(number)
        return roman.upper() if number_format == "upperRoman" else roman
    if number_format == "decimalZero":
        return f"{number:02d}"
    return str(number)


@dataclass(frozen=True)
class _Level:
    start: int = 1
    number_format: str = "decimal"
    pattern: str = ""                 # w:lvlText: "%1、", "（%1）", "%1.%2"
    legal: bool = False               # w:isLgl: every number of the label in decimal
    restart_after: int | None = None  # w:lvlRestart: restarted only by levels 1..n (0: never); None: by any above
    style: str = ""                   # w:pStyle: the paragraph style that selects this level
    separator: str = "tab"            # w:suff: what Word puts between the label and the text


def _val(element, tag: str, default: str | None = None) -> str | None:
    child = element.find(qn(tag)) if element is not None else None
    return child.get(qn("w:val"), default) if child is not None else default


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _level(element) -> _Level:
    restart = _val(element, "w:lvlRestart")
    legal = element.find(qn("w:isLgl"))
    return _Level(start=_int(_val(element, "w:start"), 1),
                  number_format=_val(element, "w:numFmt", "decimal") or "decimal",
                  pattern=_val(element, "w:lvlText", "") or "",
                  legal=legal is not None and legal.get(qn("w:val"), "1") not in ("0", "false", "off"),
                  restart_after=_int(restart, 0) if restart is not None else None,
                  style=_val(element, "w:pStyle", "") or "",
                  separator=_val(element, "w:suff", "tab") or "tab")


class ListNumbering:
    """The labels of one document's numbered paragraphs, counted in document order.

    Call `label(paragraph_element)` once for every paragraph, in the order Word lays them out (body and table
    cells alike): it returns the label Word draws ("一、", "（二）", "3.") or "" for an unnumbered paragraph.
    """

    def __init__(self, definitions: dict[str, dict[int, _Level]], instances: dict[str, tuple[str, dict[int, int],
                 dict[int, _Level]]], styles: dict[str, tuple[str | None, str | None, str | None]]):
        self._definitions = definitions      # abstractNumId → level → _Level
        self._instances = instances          # numId → (abstractNumId, start overrides, redefined levels)
        self._styles = styles                # styleId → (numId, ilvl, basedOn)
        self._counters: dict[str, list[int | None]] = {}
        self._started: set[str] = set()      # list instances already used (their overrides applied)

    @classmethod
    def from_document(cls, document) -> "ListNumbering":
        """Read numbering.xml and the paragraph styles of a python-docx Document (none: nothing is numbered)."""
        definitions: dict[str, dict[int, _Level]] = {}
        instances: dict[str, tuple[str, dict[int, int], dict[int, _Level]]] = {}
        try:
            numbering = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            numbering = None
        style_links: dict[str, str] = {}
        if numbering is not None:
            for abstract in numbering.iterfind(qn("w:abstractNum")):
                abstract_id = abstract.get(qn("w:abstractNumId"))
                definitions[abstract_id] = {_int(lvl.get(qn("w:ilvl")), 0): _level(lvl)
                                            for lvl in abstract.iterfind(qn("w:lvl"))}
                link = _val(abstract, "w:numStyleLink")
                if link:
                    style_links[abstract_id] = link
            for num in numbering.iterfind(qn("w:num")):
                overrides: dict[int, int] = {}
                redefined: dict[int, _Level] = {}
                for override in num.iterfind(qn("w:lvlOverride")):
                    ilvl = _int(override.get(qn("w:ilvl")), 0)
                    start = _val(override, "w:startOverride")
                    if start is not None:
                        overrides[ilvl] = _int(start, 1)
                    lvl = override.find(qn("w:lvl"))
                    if lvl is not None:
                        redefined[ilvl] = _level(lvl)
                instances[num.get(qn("w:numId"))] = (_val(num, "w:abstractNumId", "") or "", overrides, redefined)
        styles: dict[str, tuple[str | None, str | None, str | None]] = {}
        try:
            style_elements = document.styles.element.iterfind(qn("w:style"))
        except (KeyError, NotImplementedError, AttributeError):
            style_elements = iter(())
        for style in style_elements:
            num_pr = style.find(qn("w:pPr") + "/" + qn("w:numPr"))
            styles[style.get(qn("w:styleId"))] = (_val(num_pr, "w:numId"), _val(num_pr, "w:ilvl"),
                                                  _val(style, "w:basedOn"))
        # A definition that only links to a numbering style (w:numStyleLink) takes that style's list's levels.
        for abstract_id, link in style_links.items():
            if not definitions.get(abstract_id):
                num_id = styles.get(link, (None, None, None))[0]
                target = instances.get(num_id or "", ("", {}, {}))[0]
                definitions[abstract_id] = definitions.get(target, {})
        return cls(definitions, instances, styles)

    def _style_numbering(self, style_id: str | None) -> tuple[str | None, str | None]:
        seen = set()
        while style_id and style_id not in seen:
            seen.add(style_id)
            num_id, ilvl, based_on = self._styles.get(style_id, (None, None, None))
            if num_id is not None:
                return num_id, ilvl
            style_id = based_on
        return None, None

    def label(self, paragraph) -> str:
        """The label Word draws before `paragraph` (a w:p element), counting it; "" when it has none."""
        properties = paragraph.find(qn("w:pPr"))
        num_pr = properties.find(qn("w:numPr")) if properties is not None else None
        num_id, ilvl = _val(num_pr, "w:numId"), _val(num_pr, "w:ilvl")
        style_id = _val(properties, "w:pStyle")
        if num_id is None:
            num_id, style_ilvl = self._style_numbering(style_id)
            ilvl = ilvl if ilvl is not None else style_ilvl
        if num_id is None or num_id == "0" or num_id not in self._instances:
            return ""                                        # numId 0: numbering switched off here
        abstract_id, overrides, redefined = self._instances[num_id]
        levels = {**self._definitions.get(abstract_id, {}), **redefined}
        if ilvl is None:                                     # a style's list: the level tied to that style
            ilvl = next((str(i) for i, level in levels.items() if style_id and level.style == style_id), "0")
        depth = min(max(_int(ilvl, 0), 0), _LEVELS - 1)
        level = levels.get(depth)
        if level is None:
            return ""
        counters = self._counters.setdefault(abstract_id, [None] * _LEVELS)
        if num_id not in self._started:
            self._started.add(num_id)
            for restarted, start in overrides.items():       # w:startOverride: this instance starts afresh
                if 0 <= restarted < _LEVELS:
                    counters[restarted] = start - 1
        current = counters[depth]
        counters[depth] = level.start if current is None else current + 1
        for deeper in range(depth + 1, _LEVELS):
            restart_after = levels[deeper].restart_after if deeper in levels else None
            if restart_after is None or (restart_after != 0 and depth < restart_after):
                counters[deeper] = None                      # restarts at its start value when next used
        if level.number_format in _NO_LABEL:
            return ""
        text = level.pattern
        for referenced in range(depth + 1):                  # %1 … %9: the numbers of this level and those above
            placeholder = f"%{referenced + 1}"
            if placeholder not in text:
                continue
            shown = levels.get(referenced, _Level())
            value = counters[referenced] if counters[referenced] is not None else shown.start
            text = text.replace(placeholder, format_number(value, "decimal" if level.legal else shown.number_format))
        if text and level.separator != "nothing" and text[-1].isascii() and text[-1].isalnum():
            text += " "                                      # "1 全年…": a bare number stays apart from the text
        return text
