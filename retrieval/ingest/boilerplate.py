"""Web page boilerplate around a document (breadcrumbs, navigation, 索引号/发布时间 blocks, document-site text,
watermarks, repeated titles): which lines to drop, and the page fields read off them.

Lines are judged by general signals: their shape (label: value pairs, `>` paths, words of navigation
only), the label vocabulary of Chinese government and document-sharing pages, their position (the
header before the first paragraph, the footer after the last one) and repetition. A line that only
mentions a label word inside a sentence is content and stays.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.ingest.headings import match_marker
from retrieval.ingest.repair import SPACE

_SENTENCE_PUNCTUATION = "。！？；!?"

# ---- page labels ---------------------------------------------------------------------------

# Field a label's value goes to; None: the label is dropped with its value and gives no field.
# The published date prefers the document's own date (发文/成文/印发) over the page's (发布/更新).
_LABEL_FIELDS: dict[str, str | None] = {
    "索引号": "index_number",
    "发布机构": "issuer", "发文机构": "issuer", "发文机关": "issuer", "发布单位": "issuer",
    "信息来源": "issuer", "来源单位": "issuer", "发文单位": "issuer", "制发机关": "issuer",
    "来源": "source", "文章来源": "source", "稿件来源": "source",
    "文号": "doc_number", "发文字号": "doc_number", "文件编号": "doc_number", "发文编号": "doc_number",
    "发文日期": "published_document", "成文日期": "published_document", "印发日期": "published_document",
    "发布日期": "published_page", "发布时间": "published_page", "公开日期": "published_page",
    "更新时间": "published_page", "更新日期": "published_page", "日期": "published_page",
    "时间": "published_page",
    **dict.fromkeys((
        "主题分类", "体裁分类", "组配分类", "服务对象分类", "信息分类", "分类", "主题词", "关键词", "公开方式",
        "公开范围", "公开目录", "公开时限", "公开形式", "有效性", "时效性", "效力状态", "所属主题", "信息类别",
        "阅读次数", "浏览次数", "访问次数", "点击次数", "点击数", "点击量", "浏览量", "阅读量", "访问量",
        "累计次数", "累计访问", "字体", "字号", "字体大小", "作者", "编辑", "责任编辑", "供稿", "审核",
    )),
}
# Labels that also begin ordinary lines of a document ("时间：…" in a notice): dropped only in the
# page header or footer, or together with other labels on one line.
_WEAK_LABELS = frozenset({"来源", "日期", "时间", "作者", "编辑", "分类", "关键词", "审核", "供稿"})


def _spaced(word: str) -> str:
    """A pattern for a label that pages also print with spaces between its characters ("索 引 号")."""
    return r"\s*".join(map(re.escape, word))


_LABEL_ALTERNATION = "|".join(_spaced(label) for label in sorted(_LABEL_FIELDS, key=len, reverse=True))
_LABEL = re.compile(rf"(?:^|(?<=\s))({_LABEL_ALTERNATION})\s*([:：])?")
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?")
_BULLET = re.compile(r"^[\s\-*•·●◆■]+")
_TABLE_CHARS = re.compile(r"[\[\]【】|｜]")
_BRACKETED = re.compile(r"[\[【][^\]】]{1,10}[\]】]")     # "[ 索引号 ]": a cell of a page's label table
MAX_VALUE_CHARS = 50
# Fields a label line keeps its place in the text for (the rest of the label lines go).
INFO_FIELDS = frozenset({"published_document", "published_page", "issuer", "doc_number"})
_BUTTONS = re.compile(r"[\[【]?\s*(?:打印|关闭|分享|收藏|我要纠错)(?:本页|此文|窗口)?\s*[\]】]?")
# A 文号 names its year in brackets or ends in 号: 某府发〔2023〕5号, 某办〔2023〕15号.
_DOC_NUMBER = re.compile(r"[〔\[［(（]\s*\d{4}\s*[〕\]］)）]|\d+\s*号$")


def parse_date(text: str) -> str | None:
    """The first date in text as YYYY-MM-DD ("2021年02月26日", "2023-03-01 09:30"), None when there is none."""
    for match in _DATE.finditer(text):
        year, month, day = (int(part) for part in match.groups())
        if 1 <= month <= 12 and 1 <= day <= 31:
            return f"{year:04d}-{month:02d}-{day:02d}"
    return None


def starts_with_label(text: str) -> bool:
    """Whether text (after spaces) opens with a page label: where a new label/value pair begins."""
    return bool(_LABEL.match(text.lstrip(SPACE)))


def info_line_noise(line: str) -> list[tuple[int, int]]:
    """[start, end) spans of a kept information line that are page furniture: the pairs whose label gives no
    field (公开方式: 主动公开, 浏览次数: 358, 字体: [大 中 小], [ 有效性 ] | |) and print/close buttons."""
    matches = list(_LABEL.finditer(line))
    spans = []
    for index, match in enumerate(matches):
        if _LABEL_FIELDS[_canonical_label(match.group(1))] is not None:
            continue
        start = match.start()
        bracket = line.rfind("[", 0, start), line.rfind("【", 0, start)
        opening = max(bracket)
        if opening >= 0 and not line[opening + 1:start].strip(SPACE):
            start = opening
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        if index + 1 < len(matches):
            following = max(line.rfind("[", start, end), line.rfind("【", start, end))
            if following > match.end() and not line[following + 1:end].strip(SPACE):
                end = following
        spans.append((start, end))
    spans += [m.span() for m in _BUTTONS.finditer(line)]
    return spans


def _canonical_label(matched: str) -> str:
    return re.sub(r"\s+", "", matched)


@dataclass(frozen=True)
class _LabelLine:
    """A line made of page labels and their values: [(label, value), …], and how sure we are."""

    pairs: tuple[tuple[str, str], ...]
    strong: bool              # drop it wherever it stands
    date_prefix: str | None   # a date standing before the first label ("2021年02月26日 来源: …")


def _label_line(line: str) -> _LabelLine | None:
    """Read a line as `label: value label: value …` (also `[ label ] | value |` and `- label`), or None."""
    has_bullet = line.lstrip(SPACE)[:1] in "-*•·●◆■"
    body = _BULLET.sub("", line)
    bracketed = bool(_BRACKETED.search(body))
    body = _TABLE_CHARS.sub(" ", body).strip(SPACE)
    if not body or len(body) > 200:
        return None
    matches = list(_LABEL.finditer(body))
    if not matches:
        return None
    prefix = body[:matches[0].start()].strip(SPACE)
    date_prefix = parse_date(prefix) if prefix else None
    if prefix and (date_prefix is None or len(prefix) > 25):
        return None
    pairs = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(body)
        value = body[match.end():end].strip(SPACE + ":：")
        label = _canonical_label(match.group(1))
        has_colon = match.group(2) is not None
        alone = index == 0 and not value and len(matches) == 1
        if not (has_colon or bracketed or has_bullet or alone):
            return None
        if len(value) > MAX_VALUE_CHARS or any(p in value for p in _SENTENCE_PUNCTUATION):
            return None
        pairs.append((label, value))
    labels = {label for label, _ in pairs}
    strong = len(labels) >= 2 or any(label not in _WEAK_LABELS for label in labels)
    return _LabelLine(tuple(pairs), strong, date_prefix)


# ---- other kinds of boilerplate lines ------------------------------------------------------

_BREADCRUMB_LABEL = re.compile(r"^(?:您|你)?(?:的|当前|现在|目前|所在)+位置\s*[:：]")
_PATH_SEPARATOR = re.compile(r"\s*(?:>|»|›|≫)\s*")
_HOME_WORDS = ("首页", "网站首页", "主页", "返回首页")
MAX_CRUMB_CHARS = 30

# Words of page navigation and tools: a line made only of these is no part of the document.
_NAVIGATION_WORDS = frozenset({
    "首页", "网站首页", "主页", "返回首页", "选择语言", "语言", "简体", "繁体", "简体中文", "繁體", "english",
    "无障碍", "无障碍阅读", "长者模式", "关怀版", "打印", "打印本页", "打印此页", "打印文章", "关闭", "关闭窗口",
    "关闭本页", "分享", "分享到", "收藏", "加入收藏", "我要纠错", "纠错", "返回", "返回顶部", "返回列表",
    "上一篇", "下一篇", "字体", "字号", "字体大小", "大", "中", "小", "默认", "扫一扫", "扫一扫在手机打开当前页",
    "手机版", "登录", "注册", "网站地图", "搜索", "放大", "缩小", "复位", "视力保护色", "微信", "微博",
    "文档介绍", "文档简介", "展开全文", "查看更多", "下载文档", "立即下载", "免费下载", "举报", "相关文档",
})
_NAVIGATION_MAX_WORD = max(map(len, _NAVIGATION_WORDS))
MAX_NAVIGATION_LINE = 80
_NAVIGATION_PUNCTUATION = re.compile(r"[\s\[\]【】()（）|｜:：/·•\-]+")

# Lines a document-sharing site puts around a document: upload date, size, pages, counts, disclaimer.
_SHARING_LINES = (
    re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\s*(?:发布|上传|更新)$"),
    re.compile(r"^[\d.]+\s*[KMG]B$", re.IGNORECASE),
    re.compile(r"^共?\s*\d+\s*页$"),
    re.compile(r"^\d+\s*(?:次)?(?:下载|阅读|浏览|收藏|人已下载)$"),
    re.compile(r"^(?:下载|阅读|浏览)(?:次数)?\s*[:：]?\s*\d+\s*次?$"),
)
_DISCLAIMER = re.compile(r"^(?:申明敬告|免责声明|版权声明|特别声明|声明)\s*[:：].*(?:本站|本网站|本网|本平台)")
# Page numbers a printed document repeats on every page: "- 3 -", "—3—", "第 3 页 共 11 页".
_PAGE_NUMBER = re.compile(r"^(?:[-—–]\s*\d{1,3}\s*[-—–]|第\s*\d{1,3}\s*页(?:\s*[,，/]?\s*共\s*\d{1,3}\s*页)?)$")
# What a browser prints on every page of a saved PDF: the time stamp and the page's address with "1/3".
_PRINT_STAMP = re.compile(r"^(?:\d{1,2}/\d{1,2}/\d{2,4},?\s+\d{1,2}:\d{2}(?:\s*[AP]M)?|"
                          r"(?:file|https?)://\S+(?:\s+\d{1,3}/\d{1,3})?)$", re.IGNORECASE)
# Site footers: ownership, hosting, registration, contact.
_FOOTER = re.compile(r"^(?:版权所有|主办单位|主办|承办单位|承办|协办|技术支持|运维单位|网站标识码|网站识别码|"
                     r"ICP|[\u4e00-\u9fff]ICP备|备案号|[\u4e00-\u9fff]?公网安备|Copyright|©)", re.IGNORECASE)
WATERMARK_MAX_CHARS = 30
WATERMARK_MIN_REPEATS = 3
PROSE_MIN_CHARS = 30


def _squash(text: str) -> str:
    return re.sub(rf"[{SPACE}]+", "", text)


def _segments_into(word: str, vocabulary: frozenset[str], longest: int) -> bool:
    """True when word is a concatenation of vocabulary words ("打印关闭")."""
    reachable = [True] + [False] * len(word)
    for end in range(1, len(word) + 1):
        reachable[end] = any(reachable[start] and word[start:end].lower() in vocabulary
                             for start in range(max(0, end - longest), end))
    return reachable[-1]


def _is_navigation(line: str) -> bool:
    if len(line) > MAX_NAVIGATION_LINE:
        return False
    words = [w for w in _NAVIGATION_PUNCTUATION.split(line) if w]
    return bool(words) and all(_segments_into(w, _NAVIGATION_WORDS, _NAVIGATION_MAX_WORD) for w in words)


def _breadcrumb(line: str) -> tuple[list[str], bool] | None:
    """The path of a breadcrumb line ("当前位置：首页 > 信息公开 > 规划计划") and whether it is sure to be one
    (labelled, or opening at the home page or a separator); None for other lines."""
    labelled = _BREADCRUMB_LABEL.match(line)
    body = line[labelled.end():] if labelled else line
    parts = [part.strip(SPACE) for part in _PATH_SEPARATOR.split(body.strip(SPACE))]
    separators = len(parts) - 1
    if separators < 1 and not labelled:
        return None
    crumbs = [part for part in parts if part]
    if not crumbs or any(len(c) > MAX_CRUMB_CHARS or any(p in c for p in _SENTENCE_PUNCTUATION + "，,")
                         for c in crumbs):
        return None
    opens_as_path = bool(labelled) or not parts[0] or parts[0] in _HOME_WORDS
    if not (opens_as_path or separators >= 3):
        return None
    return [c for c in crumbs if c not in _HOME_WORDS], opens_as_path


def _is_sharing_or_page_line(line: str) -> bool:
    body = _BULLET.sub("", line).strip(SPACE + "|｜")
    return (any(p.match(body) for p in _SHARING_LINES) or bool(_DISCLAIMER.match(body))
            or bool(_PAGE_NUMBER.match(line.strip(SPACE))) or bool(_PRINT_STAMP.match(line.strip(SPACE))))


def _is_prose(line: str) -> bool:
    """A paragraph of the document: long, or a sentence (a heading line also ends the page header)."""
    squashed = _squash(line)
    return len(squashed) >= PROSE_MIN_CHARS or bool(match_marker(squashed, 0)) or (
        len(squashed) >= 12 and any(p in squashed for p in "，,。"))


# ---- the whole page ------------------------------------------------------------------------

@dataclass
class PageBoilerplate:
    """Which lines to keep, and the fields read off the dropped ones (see `CleanedText.fields`)."""

    keep: list[int]
    fields: dict[str, str] = field(default_factory=dict)
    # Kept label lines that carry what people ask about (发布时间, 发文日期, 发布机构, 文号): the page's
    # information block stays in the text, so "这份计划哪天发布的" can be answered and cited from it.
    info: set[int] = field(default_factory=set)


class _Fields:
    """Page fields, first value of each kind winning; the document's date beats the page's."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, key: str | None, value: str) -> None:
        value = value.strip(SPACE + ":：-|")
        if key is None or not value:
            return
        if key.startswith("published"):
            value = parse_date(value) or ""
            if not value:
                return
        elif key == "doc_number" and not _DOC_NUMBER.search(value):
            return
        self.values.setdefault(key, value)

    def result(self) -> dict[str, str]:
        out = {k: v for k, v in self.values.items() if not k.startswith("published")}
        published = self.values.get("published_document") or self.values.get("published_page")
        if published:
            out["published"] = published
        return out


def page_boilerplate(lines: list[str]) -> PageBoilerplate:
    """Judge every line of a page; see the module docstring. `lines` are the raw lines (blank ones too).

    Sure signs (navigation words only, sharing-site lines, page numbers, watermarks, label lines with a
    page-only label) drop a line wherever it stands; weaker ones (a single label that documents also
    use, an unanchored path, footer words) only in the page header before the first paragraph or the
    footer after the last one.
    """
    fields = _Fields()
    drop: set[int] = set()
    weak: dict[int, str] = {}                  # line → kind of boilerplate, if it stands in a margin
    label_lines: dict[int, _LabelLine] = {}
    crumb_paths: dict[int, list[str]] = {}
    watermarks = _watermarks(lines)

    for index, line in enumerate(lines):
        text = line.strip(SPACE)
        if not text:
            continue
        crumbs = _breadcrumb(text)
        if crumbs is not None:
            crumb_paths[index] = crumbs[0]
            if crumbs[1]:
                drop.add(index)
            else:
                weak[index] = "breadcrumb"
        elif _is_navigation(text) or _is_sharing_or_page_line(text) or index in watermarks:
            drop.add(index)
            if _SHARING_LINES[0].match(_BULLET.sub("", text).strip(SPACE + "|")):
                fields.add("published_page", parse_date(text) or "")
        elif (parsed := _label_line(text)) is not None:
            label_lines[index] = parsed
            if not parsed.strong:
                weak[index] = "labels"
        elif _FOOTER.match(text):
            weak[index] = "footer"

    content = [i for i, line in enumerate(lines) if line.strip(SPACE) and i not in drop and i not in label_lines
               and i not in weak]
    prose = [i for i in content if _is_prose(lines[i])]
    header_end = prose[0] if prose else len(lines)
    footer_start = prose[-1] + 1 if prose else len(lines)

    def in_margin(i: int) -> bool:
        return i < header_end or i >= footer_start

    drop.update(i for i, kind in weak.items() if in_margin(i) and (kind != "footer" or i >= footer_start))
    for index, crumbs in crumb_paths.items():
        if index in drop and crumbs:
            fields.add("breadcrumb", " > ".join(crumbs))

    info: set[int] = set()
    index = 0
    while index < len(lines):
        parsed = label_lines.get(index)
        if parsed is None or index not in drop and not parsed.strong:
            index += 1
            continue
        asked_about = any(value and _LABEL_FIELDS[label] in INFO_FIELDS for label, value in parsed.pairs) \
            or bool(parsed.date_prefix)
        if asked_about and in_margin(index):
            info.add(index)
        else:
            drop.add(index)
        if parsed.date_prefix:
            fields.add("published_page", parsed.date_prefix)
        for label, value in parsed.pairs:
            fields.add(_LABEL_FIELDS[label], value)
        # A label on a line of its own ("- 索引号") has its value on the next line ("- 0152…").
        label, value = parsed.pairs[0]
        following = index + 1
        if len(parsed.pairs) == 1 and not value and following < len(lines) and following not in label_lines \
                and following not in drop and in_margin(following):
            candidate = _BULLET.sub("", lines[following]).strip(SPACE)
            if candidate and len(candidate) <= MAX_VALUE_CHARS and not any(p in candidate for p in _SENTENCE_PUNCTUATION):
                if _LABEL_FIELDS[label] in INFO_FIELDS:
                    drop.discard(index)
                    info.update((index, following))
                else:
                    drop.add(following)
                fields.add(_LABEL_FIELDS[label], candidate)
                index = following
        index += 1

    _drop_repeated_titles(lines, drop, header_end)
    keep = [i for i, line in enumerate(lines) if i not in drop and line.strip(SPACE)]
    return PageBoilerplate(keep=keep, fields=fields.result(), info=info - drop)


def _watermarks(lines: list[str]) -> set[int]:
    """Lines of a short text injected several times into running text (a watermark, a page's running header).

    Numbered headings are never watermarks, nor are values repeated inside a table: most copies of a
    watermark stand next to a paragraph, where a table cell stands among other short cells.
    """
    squashed = [_squash(line) for line in lines]
    nonblank = [i for i, s in enumerate(squashed) if s]
    copies: dict[str, list[int]] = {}
    for position, index in enumerate(nonblank):
        text = squashed[index]
        if len(text) <= WATERMARK_MAX_CHARS and not match_marker(text, 0):
            copies.setdefault(text, []).append(position)
    found: set[int] = set()
    for positions in copies.values():
        if len(positions) < WATERMARK_MIN_REPEATS:
            continue
        beside_prose = sum(
            any(0 <= p < len(nonblank) and len(squashed[nonblank[p]]) >= PROSE_MIN_CHARS for p in (at - 1, at + 1))
            for at in positions)
        if 2 * beside_prose > len(positions):
            found.update(nonblank[at] for at in positions)
    return found


_SECTION_TAG = re.compile(r"^[【\[][^】\]]{1,12}[】\]]")


def _drop_repeated_titles(lines: list[str], drop: set[int], header_end: int) -> None:
    """A page header that shows the title two or three times keeps one: the copy without a column tag
    ("【某街道】 标题"), else the first."""
    seen: dict[str, int] = {}
    for index in range(min(header_end, len(lines))):
        if index in drop or not lines[index].strip(SPACE):
            continue
        squashed = _squash(lines[index])
        tagged = _SECTION_TAG.match(squashed)
        key = squashed[tagged.end():] if tagged else squashed
        if len(key) < 4:
            continue
        if key not in seen:
            seen[key] = index
            continue
        earlier = seen[key]
        if _SECTION_TAG.match(_squash(lines[earlier])) and not tagged:
            drop.add(earlier)
            seen[key] = index
        else:
            drop.add(index)
