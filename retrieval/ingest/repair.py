"""Text repair of extracted characters: Unicode forms, PDF radical code points, hard line breaks, layout spaces.

Everything here works on characters paired with the raw offset they came from, so cleaned text can
always be traced back to the raw text.
"""
from __future__ import annotations

import functools
import unicodedata

from retrieval.ingest.headings import RUN_IN_PATTERN, match_marker

Char = tuple[str, int]          # a cleaned character and the raw offset it came from

SPACE = " \t\u3000\xa0\u2002\u2003\u2009\u200b\ufeff"

# NFKC would turn these into ASCII or spell them out; Chinese text keeps them as they are:
# full-width punctuation, the ellipsis, circled numbers (list markers), squared units and superscripts.
_KEEP_AS_IS = frozenset("，。：；！？（）“”‘’…、") | frozenset(chr(c) for c in range(0x2460, 0x2474)) \
    | frozenset(chr(c) for c in range(0x3251, 0x3260)) | frozenset(chr(c) for c in range(0x32B1, 0x32C0)) \
    | frozenset(chr(c) for c in range(0x3380, 0x3400)) | frozenset("¹²³")

# Kangxi Radicals and CJK Radicals Supplement: PDF printers (Chromium among them) map a glyph shared
# by a character and its radical to the radical's code point. NFKC gives the character for Kangxi
# radicals, in its traditional form (⼾ → 戶), hence the t2s step. The supplement's simplified radicals
# have no NFKC form; these stand alone as characters (Unicode names C-SIMPLIFIED SEE, SHELL, CART, …).
_RADICAL_BLOCKS = ((0x2E80, 0x2EFF), (0x2F00, 0x2FDF))
_SIMPLIFIED_RADICALS = {
    "⻅": "见", "⻉": "贝", "⻋": "车", "⻓": "长", "⻔": "门", "⻙": "韦", "⻚": "页", "⻛": "风",
    "⻜": "飞", "⻢": "马", "⻥": "鱼", "⻦": "鸟", "⻧": "卤", "⻨": "麦", "⻩": "黄", "⻪": "黾",
    "⻬": "齐", "⻮": "齿", "⻰": "龙", "⻆": "角", "⺠": "民", "⻄": "西", "⻘": "青", "⻝": "食",
}


def _is_radical(ch: str) -> bool:
    return any(low <= ord(ch) <= high for low, high in _RADICAL_BLOCKS)


@functools.lru_cache(maxsize=1)
def _traditional_to_simplified():
    import opencc  # loaded only when a radical code point is met

    return opencc.OpenCC("t2s")


@functools.lru_cache(maxsize=4096)
def normal_form(ch: str) -> str:
    """The character as cleaned text carries it: NFKC (full-width digits and letters to ASCII),
    radicals to ordinary simplified characters, the punctuation in `_KEEP_AS_IS` unchanged."""
    if ch.isascii() or ch in _KEEP_AS_IS:
        return ch
    if _is_radical(ch):
        if ch in _SIMPLIFIED_RADICALS:
            return _SIMPLIFIED_RADICALS[ch]
        form = unicodedata.normalize("NFKC", ch)
        return _traditional_to_simplified().convert(form) if form != ch else ch
    return unicodedata.normalize("NFKC", ch)


def normalise_characters(chars: list[Char]) -> list[Char]:
    """Each character in its `normal_form`; a character that expands (㈠ → (一)) keeps its offset."""
    out: list[Char] = []
    for ch, offset in chars:
        form = normal_form(ch)
        if form == ch:
            out.append((ch, offset))
        else:
            out.extend((part, offset) for part in form)
    return out


# ---- hard line breaks ------------------------------------------------------------------------

# A line that ends with one of these ends a sentence or introduces what follows: never joined on.
_LINE_FINAL = "。！？；;!?：:…”’」』》)）】]"
# A line opening with one of these starts an item, a note or a dash line of its own.
_ITEM_START = "（(【[《<—-－•·●◆■□▲△○◎※*#→"
_CLAUSE_MARKS = "，,、"
_SENTENCE_FINAL = "。！？；;!?…”’」』"
MIN_WRAPPED_LINE = 12          # shorter lines are titles, names, dates: never joined
MAX_WRAPPED_RUN = 30           # lines of one wrapped paragraph looked at for its end
WRAP_LENGTH_SLACK = 1.15       # a wrapped line's continuation is at most about as long as the line itself


def _text(line: list[Char]) -> str:
    return "".join(ch for ch, _ in line).strip(SPACE)


def _starts_heading(text: str) -> bool:
    return bool(match_marker(text, 0) or RUN_IN_PATTERN.match(text))


_MID_SENTENCE = "，、,"


def is_hard_wrap(line: str, following: str, rest: list[str] = ()) -> bool:
    """True when `following` continues `line` that a hard line break cut mid-sentence or mid-number.

    A number cut in two ("培训3" + "0场") is joined whatever the lengths. Otherwise the line must be
    prose (it has a clause mark) that ends no sentence, the continuation no longer than it (a printed
    page wraps a paragraph at one width), and either the break cuts a word in two ("优化和调" + "整")
    or the paragraph goes on at that width to a line that ends a sentence (`rest`: the lines after
    `following`). Unpunctuated list items therefore stay apart. Headings (numbered lines), titles
    and short lines are never joined to their neighbours.
    """
    if len(line) < MIN_WRAPPED_LINE or not following:
        return False
    if following[0] in _ITEM_START or _starts_heading(following):
        return False
    if line[-1] in _MID_SENTENCE:
        return True                 # "…培训30场次，" + "服务企业…": a line ending on a comma goes on, item lines too
    if line[-1] in _LINE_FINAL:
        return False
    if _starts_heading(line) and not any(mark in line for mark in _CLAUSE_MARKS):
        return False                # a heading; a numbered item that is prose may wrap like any paragraph
    if line[-1].isdigit() and following[0].isdigit():
        return True
    if not any(mark in line for mark in _CLAUSE_MARKS) or not _fits_width(following, line):
        return False
    return _cuts_a_word(line, following) or _paragraph_ends_at_width(line, [following, *rest])


def _fits_width(line: str, width_line: str) -> bool:
    return len(line) <= len(width_line) * WRAP_LENGTH_SLACK + 2


def _paragraph_ends_at_width(first: str, lines: list[str]) -> bool:
    """True when lines, each no longer than `first`, run on to one ending a sentence."""
    for line in lines[:MAX_WRAPPED_RUN]:
        if not line or not _fits_width(line, first) or _starts_heading(line) or line[0] in _ITEM_START:
            return False
        if line[-1] in _SENTENCE_FINAL:
            return True
        if len(line) < len(first) / WRAP_LENGTH_SLACK - 2:
            return False            # a short line that ends no sentence: not a wrapped paragraph
    return False


def _cuts_a_word(line: str, following: str) -> bool:
    """True when a dictionary word spans the break ("优化和调" + "整农业" → 调整)."""
    from retrieval.text.tokenizer import default_cut  # loaded only for lines that may have been cut

    tail, head = line[-3:], following[:3]
    if not (_is_cjk(tail[-1]) and _is_cjk(head[0])):
        return False
    position = 0
    for word in default_cut(tail + head, hmm=False):
        if position < len(tail) < position + len(word):
            return True
        position += len(word)
    return False


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def join_hard_wraps(lines: list[list[Char]], first_joinable: int = 1,
                    keep_apart: Callable[[list[Char]], bool] | None = None) -> list[list[Char]]:
    """Join lines cut by hard line breaks (see `is_hard_wrap`); lines before `first_joinable`
    (the title) and lines `keep_apart` says stand alone are left alone. A break between two Latin words
    becomes a space."""
    texts = [_text(line) for line in lines]
    apart = [bool(keep_apart and keep_apart(line)) for line in lines]
    out: list[list[Char]] = []
    for index, line in enumerate(lines):
        if out and index >= first_joinable + 1 and not apart[index] and not apart[index - 1] and is_hard_wrap(texts[index - 1], texts[index],
                                                                texts[index + 1:index + MAX_WRAPPED_RUN]):
            previous = out[-1]
            while previous and previous[-1][0] in SPACE:
                previous.pop()
            body = list(line)
            while body and body[0][0] in SPACE:
                body.pop(0)
            if previous and body and previous[-1][0].isascii() and previous[-1][0].isalpha() \
                    and body[0][0].isascii() and body[0][0].isalpha():
                previous.append((" ", body[0][1]))
            previous.extend(body)
        else:
            out.append(list(line))
    return out


# ---- layout whitespace -----------------------------------------------------------------------

def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def remove_layout_whitespace(chars: list[Char]) -> list[Char]:
    """Drop spaces that layout put between Chinese characters ("食品药 品安全", "政 府 工 作"), between a
    number and its unit ("5.17 亿元") or before punctuation; keep one space between Latin words or numbers.
    No line starts or ends with a space, and no blank lines remain."""
    out: list[Char] = []
    index = 0
    while index < len(chars):
        ch, offset = chars[index]
        if ch not in SPACE:
            out.append((ch, offset))
            index += 1
            continue
        run_end = index
        while run_end < len(chars) and chars[run_end][0] in SPACE:
            run_end += 1
        before = out[-1][0] if out else "\n"
        after = chars[run_end][0] if run_end < len(chars) else "\n"
        if _is_ascii_alnum(before) and _is_ascii_alnum(after):
            out.append((" ", offset))
        index = run_end
    lines: list[list[Char]] = [[]]
    for item in out:
        if item[0] == "\n":
            lines.append([item])
        else:
            lines[-1].append(item)
    result: list[Char] = []
    for line in lines:
        body = [item for item in line if item[0] != "\n"]
        if not body:
            continue
        if result:
            result.append(("\n", line[0][1] if line[0][0] == "\n" else body[0][1]))
        result.extend(body)
    return result

