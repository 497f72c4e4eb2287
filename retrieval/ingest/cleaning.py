"""Cleaning of extracted text: drop page boilerplate, repair characters and broken lines, restore line breaks.

Every character of the cleaned text maps back to the raw text (`CleanedText.raw_offsets`), and
no word of content is removed: only whitespace, page boilerplate (see `boilerplate`), a repeated
title and markers go. Characters may change form (full-width digits, PDF radicals: see `repair`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.ingest.headings import POSSIBLE_MARKER, SENTENCE_END, Marker, OrdinalSequence, match_marker, starts_sentence
from retrieval.ingest.boilerplate import info_line_noise, page_boilerplate, starts_with_label
from retrieval.ingest.repair import SPACE, Char, join_hard_wraps, normalise_characters, remove_layout_whitespace

# Inline markers: Word bookmarks exported as text, and a sharing site's trailing "查看更多".
INLINE_ARTIFACTS = re.compile(r"\[bookmark:[^\]\n]*\]|查看更多\s*$")
HEADING_WITH_BODY_MAX = 50     # a heading that runs into its body ends within this many characters
TITLE_MAX = 60
# Words that close the title of a 公文 (its kind); a title glued to its body ends after one of them.
TITLE_KIND_WORDS = ("报告", "计划", "总结", "要点", "规划", "思路", "方案", "意见", "纲要", "安排")
TITLE_CONTINUES = "和及与暨、"


@dataclass(frozen=True)
class CleanedText:
    """Cleaned text plus, for each of its characters, the index of the raw character it came from."""

    text: str
    raw_offsets: tuple[int, ...]
    # Page metadata read off the page's label lines (those about publication, issuer and 文号 stay in the
    # text as its information block; the rest are removed): "published" (YYYY-MM-DD), "issuer",
    # "doc_number" (文号), "index_number" (索引号), "source" (来源), "breadcrumb" (the page's path,
    # "信息公开 > 规划计划"). Only keys that were found.
    fields: dict[str, str] = field(default_factory=dict)


def clean_text(raw: str) -> CleanedText:
    """Clean raw extracted text; see the module docstring for what is removed."""
    chars = normalise_characters([(ch, i) for i, ch in enumerate(raw)])
    lines = _split_lines(chars)
    page = page_boilerplate(["".join(ch for ch, _ in line) for line in lines])
    lines = [_without_noise(lines[i]) if i in page.info else lines[i] for i in page.keep]
    # The page-information lines stand on their own: never joined to a neighbour as a wrapped line.
    info_starts = {lines_index[0][1] for lines_index in (lines[j] for j, i in enumerate(page.keep) if i in page.info)
                   if lines_index}
    lines = _without_title_repeat(lines)
    lines = [_drop_inline_artifacts(line, is_last=i == len(lines) - 1) for i, line in enumerate(lines)]
    lines = join_hard_wraps([line for line in lines if _has_text(line)],
                            keep_apart=lambda line: bool(line) and line[0][1] in info_starts)
    joined: list[Char] = []
    for line in lines:
        if joined:
            joined.append(("\n", line[0][1]))
        joined.extend(line)
    joined = _restore_line_breaks(joined)
    joined = remove_layout_whitespace(joined)
    text = "".join(ch for ch, _ in joined)
    return CleanedText(text=text, raw_offsets=tuple(offset for _, offset in joined), fields=page.fields)


def _split_lines(chars: list[Char]) -> list[list[Char]]:
    lines: list[list[Char]] = [[]]
    for ch, offset in chars:
        if ch == "\n":
            lines.append([])
        elif ch != "\r":
            lines[-1].append((ch, offset))
    return lines


def _has_text(line: list[Char]) -> bool:
    return any(ch not in SPACE for ch, _ in line)


def _squash(text: str) -> str:
    return re.sub(rf"[{SPACE}]+", "", text)


def _without_title_repeat(lines: list[list[Char]]) -> list[list[Char]]:
    """A page that repeats the title as the first words of the body keeps the title line and drops
    the repetition from the body line."""
    if len(lines) < 2:
        return lines
    title = _squash("".join(ch for ch, _ in lines[0]))
    body = lines[1]
    body_squashed = _squash("".join(ch for ch, _ in body))
    if len(title) >= 6 and body_squashed.startswith(title) and len(body_squashed) > len(title):
        matched, cut = 0, 0
        while cut < len(body) and matched < len(title):
            if body[cut][0] not in SPACE:
                matched += 1
            cut += 1
        return [lines[0], body[cut:], *lines[2:]]
    return lines


def _without_noise(line: list[Char]) -> list[Char]:
    """A kept page-information line without its view counter, font-size and print buttons, its label/value
    pairs separated by "；" (layout spaces between them would otherwise vanish and glue 本网发布时间)."""
    text = "".join(ch for ch, _ in line)
    removed: set[int] = set()
    for start, end in info_line_noise(text):
        removed.update(range(start, end))
    kept = [item for i, item in enumerate(line) if i not in removed]
    while kept and (kept[0][0] in SPACE or kept[0][0] in "-*•·●◆■"):
        kept.pop(0)                                    # a list bullet ("- 发文机构")
    out: list[Char] = []
    for index, (ch, offset) in enumerate(kept):
        if ch in SPACE:
            if out and out[-1][0] in (" ", "；"):
                continue
            before = out[-1][0] if out else ""
            after = next((c for c, _ in kept[index + 1:] if c not in SPACE), "")
            if before.isdigit() and after.isdigit():
                out.append((" ", offset))              # 2023-03-01 09:30:00
            elif before and after and before not in "|[]【】:：；" and after not in "|[]【】:：；" \
                    and starts_with_label("".join(c for c, _ in kept[index:])):
                out.append(("；", offset))             # 来源:本网；发布时间:…
            continue
        out.append((ch, offset))
    while out and (out[-1][0] in "；|" or out[-1][0] in SPACE):
        out.pop()
    return out


def _drop_inline_artifacts(line: list[Char], is_last: bool) -> list[Char]:
    text = "".join(ch for ch, _ in line)
    removed: set[int] = set()
    for match in INLINE_ARTIFACTS.finditer(text):
        if match.group().startswith("查看更多") and not is_last:
            continue
        removed.update(range(match.start(), match.end()))
    return [item for i, item in enumerate(line) if i not in removed]


def _restore_line_breaks(chars: list[Char]) -> list[Char]:
    """Insert line breaks before headings that stand mid-line and between a heading and its body.

    Seed 003 has no line breaks at all ("…各项工作。一、慎终如始，把好…关口认清…"); PDF text such
    as seed 004 has a heading followed by its paragraph on one line.
    """
    text = "".join(ch for ch, _ in chars)
    breaks: set[int] = set()
    sequence = OrdinalSequence()
    pos = 0
    while pos < len(text):
        possible = POSSIBLE_MARKER.search(text, pos)
        if possible is None:
            break
        pos = possible.start()
        at_line_start = pos == 0 or text[pos - 1] == "\n"
        marker = match_marker(text, pos, levels=(1, 2, 3, 4) if at_line_start else (1, 2))
        if marker and (at_line_start or (starts_sentence(text, pos) and sequence.accepts(marker))):
            sequence.accept(marker)
            if not at_line_start:
                breaks.add(pos)
            heading_end = _heading_end(text, marker, mid_line=not at_line_start)
            if heading_end is not None:
                breaks.add(heading_end)
            pos = marker.end
            continue
        pos += 1
    breaks.update(_title_end(text))
    out: list[Char] = []
    for index, item in enumerate(chars):
        if index in breaks and out and out[-1][0] != "\n":
            out.append(("\n", item[1]))
        out.append(item)
    return out


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _heading_end(text: str, marker: Marker, mid_line: bool) -> int | None:
    """Where a heading that runs into its body ends, when no line break says so.

    Returns None when the heading is a line of its own, or ends at its first sentence end
    (the chunker reads those). Only headings found mid-line get the phrase-level guess.
    """
    line_end = _line_end(text, marker.end)
    if line_end - marker.end <= HEADING_WITH_BODY_MAX:
        return None
    window = text[marker.end:marker.end + HEADING_WITH_BODY_MAX]
    first_stop = next((i for i, ch in enumerate(window) if ch in SENTENCE_END), len(window))
    # PDF text keeps a space between a heading and its body ("一、2020 年度工作总结 今年以来").
    for i, ch in enumerate(window[:min(40, first_stop)]):
        if ch in SPACE and i > 1 and not window[i - 1].isdigit() and window[i - 1] not in SPACE:
            return marker.end + i
    if not mid_line:
        return None
    opening = _BODY_TIME_OPENING.search(window[:first_stop], MIN_HEADING_CHARS)
    comma = next((i for i, ch in enumerate(window[:13]) if ch in "，,"), -1)
    if opening and (comma < 0 or opening.start() < comma):
        return marker.end + opening.start()
    if comma < 0 or first_stop < comma:
        return None
    split = _split_heading_from_body(window[:first_stop], comma)
    return None if split is None else marker.end + split


MIN_HEADING_CHARS = 4
# A body that opens with its time ("2022年以来，", "今年以来，") right after a heading's last word.
_BODY_TIME_OPENING = re.compile(r"(?<=[\u4e00-\u9fff])(?:\d{4}年|今年|去年|近年|一年)(?:以来|来|上半年|下半年)?[，,]")

# Part-of-speech shape of a 公文 heading "四字，verb + object": the object ends with a noun-like word
# (jieba tags n…, vn, an, a), and the body opens with a verb, adverb, preposition, conjunction, time
# word or pronoun. "j" (abbreviation) opens bodies (党建引领…) but ends no heading (jieba tags verbs as j too).
_HEADING_END_TAGS = ("n", "vn", "an", "a")
_BODY_OPENING_TAGS = {"v", "vd", "vi", "d", "ad", "p", "c", "j", "t", "r"}
_ADVERB_TAGS = {"d", "ad"}
# Manner adverbs that jieba's dictionary tags as nouns; before a verb they open a clause (全面排查…).
_ADVERBS_TAGGED_AS_NOUNS = frozenset({"全面", "着力", "大力", "全力", "有序", "精准", "依法", "重点"})
_OPENING_QUOTES = "“‘《"


def _tag(word) -> str:
    return "d" if word.word in _ADVERBS_TAGGED_AS_NOUNS else word.flag


def _split_heading_from_body(window: str, comma: int) -> int | None:
    """Guess where "慎终如始，把好…关口认清…" turns from heading into body.

    Candidates are word ends 6–18 characters after the comma where a noun-like word is followed by
    a word that opens a clause (see the tags above). A following adverb is the surest sign, then a
    verb; a following noun means the noun phrase goes on. Among equals the later one wins, so a
    phrase like "机制联动成效" is kept whole.
    """
    from retrieval.text.tokenizer import part_of_speech_cut  # only documents without line breaks need part-of-speech tags

    words = list(part_of_speech_cut(window[comma + 1:]))
    best: tuple[float, int] | None = None
    length = 0
    for index, word in enumerate(words[:-1]):
        length += len(word.word)
        following = words[index + 1]
        if not 6 <= length <= 18 or not _tag(word).startswith(_HEADING_END_TAGS):
            continue
        if following.flag == "x" and following.word not in _OPENING_QUOTES:
            continue
        following_tag = _tag(following)
        after_following = words[index + 2].word if index + 2 < len(words) else ""
        opens = following_tag in _BODY_OPENING_TAGS or following.word in _OPENING_QUOTES
        score = 1.0 + opens + 0.5 * (following_tag in _ADVERB_TAGS) + 0.01 * length
        if following_tag.startswith(_HEADING_END_TAGS):
            score -= 0.5            # 治理|体系, 安全|稳定: the noun phrase goes on
        if after_following[:1] in "，,。；;":
            score -= 1.0            # a body does not open with one word and a comma
        if best is None or score > best[0]:
            best = (score, comma + 1 + length)
    return None if best is None else best[1]


def _title_end(text: str) -> list[int]:
    """Line breaks for a first line that runs on into the body: after the title, and after a salutation.

    "2020年街道下半年工作计划 2020年是…" ends its title at the space; "某镇2023年度政府工作报告各位代表：现在…"
    after the word naming the document's kind, then after the salutation "各位代表：".
    """
    first_line = text[:_line_end(text, 0)]
    if len(first_line) <= TITLE_MAX:
        return []
    for i, ch in enumerate(first_line[:TITLE_MAX]):
        if ch in SPACE and i >= 4 and not first_line[i - 1].isdigit():
            return [i]
    for match in re.finditer("|".join(TITLE_KIND_WORDS), first_line[:TITLE_MAX]):
        end = match.end()
        if any(p in first_line[:end] for p in "，,。；;：:"):
            break
        if end < 6 or first_line[end] in TITLE_CONTINUES or not _is_cjk(first_line[end]):
            continue
        # A sentence may name a plan too ("按照年度工作计划推进…"): a title names its year, or a salutation follows.
        salutation = _SALUTATION.match(first_line, end)
        if salutation:
            return [end, salutation.end()]
        if re.search(r"\d{4}年", first_line[:end]):
            return [end]
    return []


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


_SALUTATION = re.compile(r"[^，,。；;：:\s]{2,12}[：:]")
