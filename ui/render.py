"""Pure HTML rendering of answers, citations and documents: escape every text first, then highlight."""
from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from retrieval.serialize import BREADCRUMB_SEPARATOR
from retrieval.types import Answer, AskResult, Chunk, Document, DocumentMeta, Hit

MAX_HEADING_CHARS = 40          # longer section headings are cut in the breadcrumb; the full text is its tooltip
MIN_TERM_CHARS = 2              # single characters ("年", "多") would light up half a passage
LEG_NAMES = {"bm25": "BM25", "dense": "向量"}

# Highlight classes, in the order they are listed inside one <mark class="...">.
PASSAGE, ANSWER, FACT, TERM = "passage", "answer", "fact", "term"
_CLASS_ORDER = (PASSAGE, ANSWER, FACT, TERM)


def escape(text: object) -> str:
    """HTML-escape text for element content and quoted attribute values alike."""
    return html.escape(str(text), quote=True)


def term_spans(text: str, terms: Iterable[str], min_chars: int = MIN_TERM_CHARS) -> list[tuple[int, int]]:
    """Non-overlapping spans of the terms in text, longest term first so "拆违" beats "拆"."""
    wanted = sorted({term for term in terms if term and len(term.strip()) >= min_chars}, key=len, reverse=True)
    taken = [False] * len(text)
    spans = []
    for term in wanted:
        start = text.find(term)
        while start != -1:
            end = start + len(term)
            if not any(taken[start:end]):
                taken[start:end] = [True] * (end - start)
                spans.append((start, end))
            start = text.find(term, start + 1)
    return sorted(spans)


def highlight(text: str, spans: Iterable[tuple[int, int, str]] = (), terms: Iterable[str] = ()) -> str:
    """Escape text and wrap the given spans (and every occurrence of the terms) in <mark> elements.

    Spans are [start, end) offsets into the raw text with a class name; they may overlap. Each
    stretch of text covered by the same set of classes becomes one <mark class="a b">, so marks
    never nest and never cut through an escaped entity (offsets are applied before escaping).

    Returns:
        Safe HTML: nothing of `text` can open a tag or an attribute.
    """
    classed = [(max(0, start), min(len(text), end), name) for start, end, name in spans]
    classed += [(start, end, TERM) for start, end in term_spans(text, terms)]
    classed = [(start, end, name) for start, end, name in classed if start < end]
    cuts = sorted({0, len(text), *(start for start, _, _ in classed), *(end for _, end, _ in classed)})
    pieces = []
    for start, end in zip(cuts, cuts[1:]):
        active = {name for span_start, span_end, name in classed if span_start <= start and end <= span_end}
        segment = escape(text[start:end])
        if active:
            names = " ".join(name for name in _CLASS_ORDER if name in active)
            names += "".join(f" {name}" for name in sorted(active - set(_CLASS_ORDER)))
            pieces.append(f'<mark class="{escape(names)}">{segment}</mark>')
        else:
            pieces.append(segment)
    return "".join(pieces)


def short(text: str, limit: int) -> str:
    """text cut to `limit` characters with an ellipsis (for echoing user input in messages)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_short = short
AUDIT_ACTIONS = {"upload": "上传", "replace": "替换", "delete": "删除", "restore": "恢复", "metadata": "修改别名/年份",
                 "purge": "回收站到期清理"}
_DETAIL_NAMES = {"replaced": "替换了", "trash": "回收站编号", "aliases": "别名", "years": "年份", "size": "字节",
                 "cancelled_job": "取消的索引任务", "replaced_into_trash": "当前版本移入回收站"}


def local_time(iso: str) -> str:
    """An ISO 8601 time as "2024-03-01 18:15" in the server's local time zone ("" stays "")."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return str(iso or "")


def audit_detail(detail: Mapping) -> str:
    """An audit entry's details as one readable line; hashes and before-values are left to the log file."""
    parts = []
    for key, value in detail.items():
        if key not in _DETAIL_NAMES or value in ("", None, [], {}):
            continue
        shown = "、".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        parts.append(f"{_DETAIL_NAMES[key]}：{shown}")
    return "；".join(parts)


def breadcrumb(section_path: Sequence[str]) -> str:
    """The section path as escaped HTML, headings joined by " › ", each with its full text as a tooltip."""
    if not section_path:
        return '<span class="crumb">（正文开头）</span>'
    crumbs = [
        f'<span class="crumb" title="{escape(heading)}">{escape(_short(heading, MAX_HEADING_CHARS))}</span>'
        for heading in section_path
    ]
    return escape(BREADCRUMB_SEPARATOR).join(crumbs)


def years_label(years: Sequence[int]) -> str:
    if not years:
        return "年份不详"
    if len(years) == 1:
        return f"{years[0]}年"
    return f"{years[0]}–{years[-1]}年"


def document_label(meta: DocumentMeta) -> str:
    """One line naming a document: organisation · years · kind."""
    return " · ".join(part for part in (meta.org, years_label(meta.years), meta.kind) if part)


@dataclass(frozen=True)
class Citation:
    """One numbered source of an answer, copied out of the engine so a later deletion cannot break it."""

    number: int
    chunk: Chunk
    meta: DocumentMeta
    hit: Hit
    answer: Answer | None = None        # set on the citation that holds the answer
    other_org: bool = False             # from another organisation than the one the question names

    def answer_span(self) -> tuple[int, int] | None:
        """The answer's [start, end) inside this passage's text, or None."""
        if self.answer is None:
            return None
        offset = self.chunk.char_span[0]
        start, end = self.answer.char_span[0] - offset, self.answer.char_span[1] - offset
        start, end = max(0, start), min(len(self.chunk.text), end)
        return (start, end) if start < end else None


def build_citations(
    result: AskResult,
    documents: Mapping[str, Document],
    chunks: Mapping[str, Chunk],
    limit: int = 3,
) -> tuple[Citation, ...]:
    """Number the passages to show: the answer's passage first, then the best other hits.

    Hits whose chunk or document is gone (deleted meanwhile) are skipped. When the question names an
    organisation, passages of other organisations are marked `other_org` and never carry the answer.
    """
    hits = list(result.hits)
    answer = result.answer
    if answer is not None:
        answer_hits = [hit for hit in hits if hit.chunk_id == answer.chunk_id]
        if answer_hits:
            hits.remove(answer_hits[0])
            hits.insert(0, answer_hits[0])
        else:               # the answer passage fell outside the ranking that was returned
            hits.insert(0, Hit(chunk_id=answer.chunk_id, score=0.0, rank=0))
    asked_org = getattr(result.analysis, "asked_org", "")
    own_docs = set(result.analysis.orgs)
    citations = []
    for hit in hits:
        chunk = chunks.get(hit.chunk_id)
        document = documents.get(chunk.doc_id) if chunk else None
        if chunk is None or document is None:
            continue
        other_org = bool(asked_org) and chunk.doc_id not in own_docs
        is_answer = answer is not None and hit.chunk_id == answer.chunk_id and not other_org
        citations.append(Citation(len(citations) + 1, chunk, document.meta, hit, answer if is_answer else None, other_org))
        if len(citations) == limit:
            break
    return tuple(citations)


def fact_span(answer: Answer) -> tuple[int, int] | None:
    """Where the short fact sits inside the answer text, or None."""
    if not answer.fact:
        return None
    start = answer.text.find(answer.fact)
    return (start, start + len(answer.fact)) if start != -1 else None


def passage_spans(citation: Citation) -> list[tuple[int, int, str]]:
    """Answer and fact spans inside the citation's passage text."""
    span = citation.answer_span()
    if span is None:
        return []
    spans = [(span[0], span[1], ANSWER)]
    fact = fact_span(citation.answer)
    if fact is not None:
        spans.append((span[0] + fact[0], span[0] + fact[1], FACT))
    return spans


def rank_line(hit: Hit) -> str:
    """The explainability line of one hit: its rank in each leg and the fused score."""
    parts = []
    for leg, name in LEG_NAMES.items():
        rank = hit.leg_rank(leg)
        parts.append(f"{name} 第 {rank} 名" if rank is not None else f"{name} 未检出")
    parts.append(f"融合分 {hit.score:.4f}")
    return " · ".join(parts)


def citation_card(citation: Citation, turn: int, explain: bool = False) -> str:
    """One numbered citation: title, organisation and year, breadcrumb, highlighted passage, open button."""
    meta, chunk = citation.meta, citation.chunk
    open_attrs = f'data-open-chunk="{escape(chunk.chunk_id)}" data-turn="{turn}"'
    classes = "cite is-answer" if citation.answer is not None else "cite"
    if citation.other_org:
        classes += " other-org"
    other_html = '<span class="other-org-tag">其他单位</span> ' if citation.other_org else ""
    explain_html = f'<div class="cite-rank">{escape(rank_line(citation.hit))}</div>' if explain else ""
    return (
        f'<div class="{classes}" data-chunk-id="{escape(chunk.chunk_id)}" data-doc-id="{escape(meta.doc_id)}">'
        f'<div class="cite-head"><span class="cite-num">[{citation.number}]</span> {other_html}'
        f'<a href="#" class="cite-title" {open_attrs}>{escape(meta.title)}</a> '
        f'<span class="cite-meta">{escape(document_label(meta))}</span></div>'
        f'<div class="cite-path">{breadcrumb(chunk.section_path)}</div>'
        f'<div class="cite-text">{highlight(chunk.text, passage_spans(citation), citation.hit.matched_terms)}</div>'
        f"{explain_html}"
        f'<button type="button" class="open-doc" {open_attrs}>查看原文 [{citation.number}]</button>'
        "</div>"
    )


def answer_block(answer: Answer | None, citations: Sequence[Citation], scope_note: str = "") -> str:
    """The fact first (highlighted), then the sentence it comes from with its citation number.

    When there is no answer the block says 未找到 plainly, why when the question's organisation or
    year lacks the fact (scope_note), and what to try next.
    """
    if answer is None:
        if any(c.other_org for c in citations):
            nearest = "下面列出的是其他单位的段落，只供参考，不是这个问题的答案。"
        else:
            nearest = "下面是最接近的段落，可能有帮助。" if citations else "也没有相关段落。"
        note = scope_note if not scope_note or scope_note.endswith("。") else scope_note + "。"
        reason = f'<p class="scope-note">{escape(note)}</p>' if note else ""
        lead = "" if scope_note else "文档里没有找到这个问题的答案。"
        return (
            '<div class="answer-block not-found"><span class="verdict">未找到</span>'
            f"{reason}<p>{lead}{nearest}可以换个说法，或在上方选择街道和年份后再问。</p></div>"
        )
    number = next((c.number for c in citations if c.answer is not None), None)
    cite = f' <span class="answer-cite">[{number}]</span>' if number else ""
    fact = fact_span(answer)
    if fact is not None:
        headline = f'<div class="answer-fact"><mark class="fact">{escape(answer.fact)}</mark></div>'
        sentence = highlight(answer.text, [(fact[0], fact[1], FACT)])
    else:
        # No fact passed its gate (retrieval.answer.facts): the sentence, highlighted, without a big fact.
        headline = ""
        sentence = f'<mark class="{ANSWER}">{escape(answer.text)}</mark>'
    shown = "1" if fact is not None else "0"
    return (f'<div class="answer-block found" data-fact-shown="{shown}">{headline}'
            f'<div class="answer-text">{sentence}{cite}</div></div>')


def render_turn(
    turn: int,
    question: str,
    asked: str,
    answer: Answer | None,
    citations: Sequence[Citation],
    explain: bool = False,
    filters: str = "",
    scope_note: str = "",
    pending: Sequence[str] = (),
    older_versions: Sequence[str] = (),
) -> str:
    """One question and its reply: answer block, then citations [1] [2] [3].

    `pending` names documents whose vectors are still being encoded: they were searched by keywords only.
    `older_versions` names older versions of the answer's document: the answer cites the newer one.
    """
    understood = (
        f'<div class="asked">按上一问理解为：{escape(asked)}</div>' if asked.strip() != question.strip() else ""
    )
    filter_note = f'<div class="asked">筛选：{escape(filters)}</div>' if filters else ""
    pending_note = (
        f'<div class="pending-note">{escape("、".join(f"《{title}》" for title in pending))}正在建立向量索引，'
        "这次只按关键词检索了它们；稍后再问，结果可能更全。</div>" if pending else ""
    )
    version_note = (
        f'<div class="version-note">另有旧版本：{escape("、".join(older_versions))}。这里引用的是较新的版本。</div>'
        if older_versions and answer is not None else ""
    )
    cards = "".join(citation_card(citation, turn, explain) for citation in citations)
    heading = "出处" if answer is not None else "最接近的段落"
    sources = f'<div class="citations"><div class="citations-title">{heading}</div>{cards}</div>' if cards else ""
    return (
        f'<div class="turn" data-turn="{turn}">'
        f'<div class="user-msg"><span class="who">问</span>{escape(question)}</div>'
        f'<div class="bot-msg">{understood}{filter_note}{answer_block(answer, citations, scope_note)}{version_note}{pending_note}{sources}</div>'
        "</div>"
    )


def render_transcript(turn_htmls: Sequence[str]) -> str:
    """The whole chat; an empty chat says how to start."""
    if not turn_htmls:
        return (
            '<div class="chat-empty">还没有提问。在下方输入问题后按回车或点「提问」，也可以点一个示例问题。</div>'
        )
    return '<div class="chat">' + "".join(turn_htmls) + "</div>"


def render_document(
    document: Document,
    passage_span: tuple[int, int] | None = None,
    answer: Answer | None = None,
    terms: Iterable[str] = (),
) -> str:
    """The whole document, escaped; the cited passage marked and anchored so the view can scroll to it."""
    meta, text = document.meta, document.text
    spans: list[tuple[int, int, str]] = []
    anchor_at = None
    if passage_span is not None:
        start, end = max(0, passage_span[0]), min(len(text), passage_span[1])
        if start < end:
            spans.append((start, end, PASSAGE))
            # Query terms are marked inside the cited passage only; across the whole document they are noise.
            spans += [(start + s, start + e, TERM) for s, e in term_spans(text[start:end], terms)]
            anchor_at = start
    if answer is not None:
        spans.append((answer.char_span[0], answer.char_span[1], ANSWER))
        fact = fact_span(answer)
        if fact is not None:
            spans.append((answer.char_span[0] + fact[0], answer.char_span[0] + fact[1], FACT))
    if anchor_at is None:
        body = highlight(text, spans)
    else:
        # The anchor goes between two highlighted halves so it never sits inside a <mark>.
        before = highlight(text[:anchor_at], _shift(spans, 0, anchor_at))
        after = highlight(text[anchor_at:], _shift(spans, anchor_at, len(text)))
        body = f'{before}<span id="passage-anchor" class="passage-anchor"></span>{after}'
    aliases = "、".join(meta.aliases)
    alias_html = f'<span class="doc-aliases">别名：{escape(aliases)}</span>' if aliases else ""
    level = level_label(meta)
    alias_html += f' <span class="doc-level">级别：{escape(level)}</span>' if level else ""
    return (
        f'<div class="doc-view" data-doc-id="{escape(meta.doc_id)}">'
        f'<div class="doc-head"><div class="doc-title">{escape(meta.title)}</div>'
        f'<div class="doc-meta">{escape(document_label(meta))} · 文件 {escape(meta.doc_id)} {alias_html}</div></div>'
        f'<div class="doc-body">{body}</div></div>'
    )


def _shift(spans: Sequence[tuple[int, int, str]], offset: int, limit: int) -> list[tuple[int, int, str]]:
    """Spans clipped to [offset, limit) and moved to start at 0."""
    shifted = []
    for start, end, name in spans:
        start, end = max(start, offset), min(end, limit)
        if start < end:
            shifted.append((start - offset, end - offset, name))
    return shifted


def render_message(text: str, kind: str = "info") -> str:
    """A short status line (escaped) for panels such as the document view."""
    return f'<div class="panel-msg {escape(kind)}">{escape(text)}</div>'


JOB_KINDS = {"add": "加入", "replace": "替换", "delete": "删除", "rebuild": "重建索引", "encode": "续编向量",
             "sync": "补上停机期间的变化"}
JOB_STATES = {"queued": "排队中", "chunking": "切分段落", "encoding": "编码向量", "done": "完成", "failed": "失败",
              "cancelled": "已取消"}
ACTIVE_JOB_STATES = ("queued", "chunking", "encoding")


def indexing_html(jobs: Sequence) -> str:
    """Background indexing jobs (newest first) with a progress bar for the running ones."""
    if not jobs:
        return render_message("没有索引任务。上传、替换、删除或恢复文档后，索引在后台更新，进度显示在这里。")
    rows = []
    for job in jobs:
        active = job.state in ACTIVE_JOB_STATES
        percent = max(0, min(100, round(job.progress * 100)))
        bar = (f'<progress max="100" value="{percent}"></progress> {percent}%' if active else "")
        rows.append(
            f'<tr class="job job-{escape(job.state)}" data-job-id="{escape(job.job_id)}">'
            f"<td>{escape(JOB_KINDS.get(job.kind, job.kind))}</td><td>{escape(job.doc or '（整个语料库）')}</td>"
            f'<td class="job-state">{escape(JOB_STATES.get(job.state, job.state))}</td><td>{bar}</td>'
            f"<td>{escape(job.message)}</td><td>{escape(job.user)}</td></tr>"
        )
    return ('<table class="jobs"><thead><tr><th>操作</th><th>文档</th><th>状态</th><th>进度</th><th>说明</th><th>用户</th>'
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def comparison_label(cell, years_differ: bool) -> str:
    """A row's name in the chart and the CSV: the organisation, with the year when rows differ by year."""
    return f"{cell.organisation} {cell.year}年" if years_differ and cell.year else cell.organisation


def comparison_block(turn: int, comparison) -> str:
    """A comparison (retrieval.search.compare.Comparison) as a table: organisation, year, value (as written, 未找到 when
    the organisation's own documents lack it), target or result, source (document › section, the sentence) and
    a 查看原文 button that opens the passage like a citation does."""
    rows = []
    for cell in comparison.cells:
        state = "found" if cell.found else "missing"
        if cell.found:
            value = f'<mark class="fact">{escape(cell.value)}</mark>'
            sentence = highlight(cell.sentence, [(cell.sentence.find(cell.value), cell.sentence.find(cell.value)
                                                  + len(cell.value), FACT)] if cell.value in cell.sentence else [])
            source = (f'<div class="cmp-doc">{escape(cell.title)}</div>'
                      f'<div class="cite-path">{escape(cell.section) or "（正文开头）"}</div>'
                      f'<div class="cmp-sentence">{sentence}</div>')
            opener = (f'<button type="button" class="open-doc" data-open-chunk="{escape(cell.chunk_id)}" '
                      f'data-turn="{turn}">查看原文</button>')
        else:
            value = f'<span class="cmp-missing" title="{escape(cell.note)}">未找到</span>'
            source = f'<div class="cmp-note">{escape(cell.note)}</div>'
            opener = ""
        stance = escape(cell.stance_label)
        mismatch = ' class="cmp-mismatch"' if cell.stance_mismatch else ""
        rows.append(
            f'<tr class="cmp-row {state}" data-cell-state="{state}" data-organisation="{escape(cell.organisation)}" '
            f'data-year="{escape(cell.year or "")}">'
            f'<td class="cmp-org">{escape(cell.organisation)}</td><td>{escape(cell.year or "")}</td>'
            f'<td class="cmp-value">{value}</td><td{mismatch}>{stance}</td><td class="cmp-source">{source}</td>'
            f"<td>{opener}</td></tr>"
        )
    found = sum(cell.found for cell in comparison.cells)
    summary = (f"共 {len(comparison.cells)} 行，{found} 行在本单位本年度的文档中找到，"
               f"{len(comparison.cells) - found} 行未找到（不借用其他单位或年份的数据）。")
    order = "按数值从高到低排列。" if comparison.sorted_by_value and comparison.request.order != "asc" else (
        "按数值从低到高排列。" if comparison.sorted_by_value else "")
    note = f'<div class="cmp-top">{escape(comparison.note)}</div>' if comparison.note else ""
    return (
        f'<div class="compare-block" data-rows="{len(comparison.cells)}" data-found="{found}" '
        f'data-sorted="{str(comparison.sorted_by_value).lower()}">{note}'
        f'<div class="cmp-summary">{escape(summary + order)}</div>'
        '<table class="compare-table"><thead><tr><th>单位</th><th>年份</th><th>数值（原文）</th><th>目标/结果</th>'
        "<th>出处</th><th></th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def render_comparison_turn(turn: int, question: str, asked: str, comparison, filters: str = "") -> str:
    """One comparison question and its table."""
    understood = (
        f'<div class="asked">按上一问理解为：{escape(asked)}</div>' if asked.strip() != question.strip() else ""
    )
    filter_note = (f'<div class="asked">比较问题列出所有相关单位，上方的筛选（{escape(filters)}）未使用。</div>'
                   if filters else "")
    return (
        f'<div class="turn comparison" data-turn="{turn}">'
        f'<div class="user-msg"><span class="who">问</span>{escape(question)}</div>'
        f'<div class="bot-msg">{understood}{filter_note}{comparison_block(turn, comparison)}</div>'
        "</div>"
    )


def level_label(meta) -> str:
    """The organisation's level and parent chain: "街道（上海市 › 宝山区）", "省", "" when unknown."""
    level = getattr(meta, "level", "")
    parents = getattr(meta, "parents", ())
    if not level:
        return ""
    return f"{level}（{' › '.join(parents)}）" if parents else level
