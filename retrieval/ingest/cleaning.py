"""Cleaning of extracted text: drop web and Word artifacts, join PDF-broken words, restore line breaks.

Every character of the cleaned text maps back to the raw text (`CleanedText.raw_offsets`), and
no word of content is removed: only whitespace, known artifact lines and markers go.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.headings import SENTENCE_END, Marker, OrdinalSequence, match_marker, starts_sentence

# Lines that a document-sharing web page wraps around the real document (seen around seed 004).
ARTIFACT_LINES = (
    re.compile(r"^-?\s*\d{4}-\d{1,2}-\d{1,2}\s*发布\s*\|?\s*$"),
    re.compile(r"^-?\s*[\d.]+\s*[KMG]B\s*\|?\s*$", re.IGNORECASE),
    re.compile(r"^-?\s*\d+\s*页\s*$"),
    re.compile(r"^申明敬告[:：]"),
    re.compile(r"^(文档介绍|文档简介|查看更多|展开全文|下载文档|收藏|分享)\s*$"),
)
# Inline markers: Word bookmarks exported as text, and the web page's trailing "查看更多".
INLINE_ARTIFACTS = re.compile(r"\[bookmark:[^\]\n]*\]|查看更多\s*$")
SPACE = " \t\u3000\xa0\u2002\u2003\u2009\u200b\ufeff"
HEADING_WITH_BODY_MAX = 50     # a heading that runs into its body ends within this many characters
TITLE_MAX = 60


@dataclass(frozen=True)
class CleanedText:
    """Cleaned text plus, for each of its characters, the index of the raw character it came from."""

    text: str
    raw_offsets: tuple[int, ...]
    # Page metadata read off the boilerplate that cleaning removes: "published" (YYYY-MM-DD), "issuer",
    # "doc_number" (文号), "index_number" (索引号), "source" (来源). Only keys that were found.
    fields: dict[str, str] = field(default_factory=dict)


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def clean_text(raw: str) -> CleanedText:
    """Clean raw extracted text; see the module docstring for what is removed."""
    lines = _content_lines(raw)
    chars: list[tuple[str, int]] = []
    for line_index, (start, line) in enumerate(lines):
        if line_index:
            chars.append(("\n", start))
        kept = _drop_inline_artifacts(line, start, is_last=line_index == len(lines) - 1)
        chars.extend(kept)
    chars = _restore_line_breaks(chars)
    chars = _remove_layout_whitespace(chars)
    text = "".join(ch for ch, _ in chars)
    return CleanedText(text=text, raw_offsets=tuple(offset for _, offset in chars))


def _content_lines(raw: str) -> list[tuple[int, str]]:
    """Lines with their raw start offsets, without artifact lines, blank lines or a doubled title."""
    lines: list[tuple[int, str]] = []
    offset = 0
    for line in raw.split("\n"):
        stripped = line.strip(SPACE + "\r")
        if stripped and not any(p.search(stripped) for p in ARTIFACT_LINES):
            lines.append((offset, line.rstrip("\r")))
        offset += len(line) + 1
    # A web page repeats the title as the first words of the document body: keep the title line
    # and drop the repetition from the body line.
    if len(lines) >= 2:
        title = _squash(lines[0][1])
        start, body = lines[1]
        if len(title) >= 6 and _squash(body).startswith(title) and len(_squash(body)) > len(title):
            matched, cut = 0, 0
            while cut < len(body) and matched < len(title):
                if body[cut] not in SPACE:
                    matched += 1
                cut += 1
            lines[1] = (start + cut, body[cut:])
    return lines


def _squash(text: str) -> str:
    return re.sub(rf"[{SPACE}]+", "", text)


def _drop_inline_artifacts(line: str, start: int, is_last: bool) -> list[tuple[str, int]]:
    removed: set[int] = set()
    for match in INLINE_ARTIFACTS.finditer(line):
        if match.group().startswith("查看更多") and not is_last:
            continue
        removed.update(range(match.start(), match.end()))
    return [(ch, start + i) for i, ch in enumerate(line) if i not in removed]


def _restore_line_breaks(chars: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Insert line breaks before headings that stand mid-line and between a heading and its body.

    Seed 003 has no line breaks at all ("…各项工作。一、慎终如始，把好…关口认清…"); PDF text such
    as seed 004 has a heading followed by its paragraph on one line.
    """
    text = "".join(ch for ch, _ in chars)
    breaks: set[int] = set()
    sequence = OrdinalSequence()
    pos = 0
    while pos < len(text):
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
    title_end = _title_end(text)
    if title_end is not None:
        breaks.add(title_end)
    out: list[tuple[str, int]] = []
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
    (the chunker reads those). Only headings found mid-line get the word-level guess.
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
    comma = next((i for i, ch in enumerate(window[:13]) if ch in "，,"), -1)
    if comma < 0 or first_stop < comma:
        return None
    split = _split_heading_from_body(window[:first_stop], comma)
    return None if split is None else marker.end + split


# Words that close a 公文 heading's "verb + object" half: 把好…关口, 完善…体系, 提高…水平.
HEADING_FINAL_WORDS = (
    "关口", "体系", "成效", "能级", "水平", "稳定", "品牌", "建设", "发展", "机制", "格局", "环境",
    "质量", "能力", "工作", "服务", "治理", "保障", "活力", "作用", "品质", "效能", "新局", "产业",
    "安全", "防线", "基础", "底线", "合力", "优势", "短板", "力度", "精度", "强度", "温度", "高度",
    "满意度", "获得感", "幸福感", "安全感", "文明", "形象", "动能", "平台", "阵地", "队伍", "作风",
    "任务", "目标", "大局", "氛围", "生活", "民生", "需求", "更新", "融合", "提升", "管理", "新篇章",
)
_VERB_LIKE = {"v", "d", "p", "c", "j", "vd", "ad"}


def _split_heading_from_body(window: str, comma: int) -> int | None:
    """Guess where "慎终如始，把好…关口认清…" turns from heading into body.

    A 公文 heading is "四字，verb + object"; its object ends with a word like 关口/体系/水平 and
    the body opens with a verb. Candidates are such word ends 6–18 characters after the comma;
    one followed by a verb wins over one followed by a noun (治理|体系 is still one phrase), and
    among equals the later one.
    """
    import jieba
    import jieba.posseg as posseg  # only documents without line breaks need part-of-speech tags

    jieba.setLogLevel(60)

    words = list(posseg.cut(window[comma + 1:]))
    best: tuple[float, int] | None = None
    length = 0
    for index, word in enumerate(words[:-1]):
        length += len(word.word)
        following = words[index + 1]
        if not 6 <= length <= 18 or not word.word.endswith(HEADING_FINAL_WORDS):
            continue
        if following.flag == "x" and following.word not in "“‘《":
            continue
        after_following = words[index + 2].word if index + 2 < len(words) else ""
        score = 1.0 + (following.flag in _VERB_LIKE or following.word in "“‘《") + 0.01 * length
        if following.flag.startswith(("n", "a", "i", "l")):
            score -= 0.5            # 治理|体系, 安全|稳定: the noun phrase goes on
        if after_following[:1] in "，,。；;":
            score -= 1.0            # a body does not open with one word and a comma
        if best is None or score > best[0]:
            best = (score, comma + 1 + length)
    return None if best is None else best[1]


def _title_end(text: str) -> int | None:
    """A first line that runs on into the body ("2020年街道下半年工作计划 2020年是…"): end the title at the space."""
    first_line = text[:_line_end(text, 0)]
    if len(first_line) <= TITLE_MAX:
        return None
    for i, ch in enumerate(first_line[:TITLE_MAX]):
        if ch in SPACE and i >= 4 and not first_line[i - 1].isdigit():
            return i
    return None


def _remove_layout_whitespace(chars: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Drop spaces that layout put between Chinese characters ("食品药 品安全"); keep one between Latin words."""
    out: list[tuple[str, int]] = []
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
    # No line starts or ends with a space, and no blank lines remain.
    lines: list[list[tuple[str, int]]] = [[]]
    for item in out:
        if item[0] == "\n":
            lines.append([item])
        else:
            lines[-1].append(item)
    result: list[tuple[str, int]] = []
    for line in lines:
        body = [item for item in line if item[0] != "\n"]
        if not body:
            continue
        if result:
            result.append(("\n", line[0][1] if line[0][0] == "\n" else body[0][1]))
        result.extend(body)
    return result
