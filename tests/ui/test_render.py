"""HTML rendering: text is escaped before highlighting, answer spans and terms land on the right characters."""
from html.parser import HTMLParser

import pytest

from retrieval.types import Answer, AskResult, Chunk, Document, DocumentMeta, Hit, QueryAnalysis
from ui import render

DOC_TEXT = (
    "吴淞街道党工委、办事处2021年工作要点\n"
    "二、立足新要求，高标准推进城市治理\n"
    "（一）聚焦重点难点，持续推进拆违整治。全年拆除违法建筑3万平方米，确保无违建居村创建全覆盖。\n"
    "（二）推进垃圾分类。\n"
)
PASSAGE = "（一）聚焦重点难点，持续推进拆违整治。全年拆除违法建筑3万平方米，确保无违建居村创建全覆盖。"
PASSAGE_START = DOC_TEXT.index(PASSAGE)
SENTENCE = "全年拆除违法建筑3万平方米"
ANSWER_START = DOC_TEXT.index(SENTENCE)

META = DocumentMeta(
    doc_id="吴淞街道2021年工作要点.txt", title="吴淞街道党工委、办事处2021年工作要点", org="吴淞",
    aliases=("吴淞街道",), years=(2021,), kind="要点", sha256="0" * 64,
)
DOCUMENT = Document(META, DOC_TEXT)
CHUNK = Chunk(
    chunk_id="c-wusong-1", doc_id=META.doc_id,
    section_path=("二、立足新要求，高标准推进城市治理", "（一）聚焦重点难点，持续推进拆违整治"),
    char_span=(PASSAGE_START, PASSAGE_START + len(PASSAGE)), text=PASSAGE,
)
OTHER_CHUNK = Chunk("c-wusong-2", META.doc_id, ("二、立足新要求，高标准推进城市治理",), (0, 5), DOC_TEXT[:5])
ANSWER = Answer(SENTENCE, CHUNK.chunk_id, (ANSWER_START, ANSWER_START + len(SENTENCE)), 0.9, fact="3万平方米")
HIT = Hit(CHUNK.chunk_id, 0.0325, 1, (("bm25", 3), ("dense", 1)), ("拆违", "平方米"))

MALICIOUS = '<script>alert(1)</script> <img src=x onerror="alert(2)"> "quoted" & \'single\''


class _Collect(HTMLParser):
    """Collects the tags, attributes and text content of an HTML fragment."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]

    def handle_data(self, data):
        self.text.append(data)


def parse(fragment):
    collector = _Collect()
    collector.feed(fragment)
    collector.close()
    return collector


def marked(fragment, css_class):
    """The text of every <mark> carrying css_class, in order (marks never nest)."""
    parser = _MarkText(css_class)
    parser.feed(fragment)
    return parser.found


class _MarkText(HTMLParser):
    def __init__(self, css_class):
        super().__init__(convert_charrefs=True)
        self.css_class, self.inside, self.found = css_class, False, []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "mark" and self.css_class in classes:
            self.inside = True
            self.found.append("")

    def handle_endtag(self, tag):
        if tag == "mark":
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.found[-1] += data


def test_highlight_escapes_markup_and_keeps_the_text():
    fragment = render.highlight(MALICIOUS, [(0, 8, render.ANSWER)], terms=["alert"])
    parsed = parse(fragment)
    assert set(parsed.tags) == {"mark"}
    assert "".join(parsed.text) == MALICIOUS
    assert "<script" not in fragment and "<img" not in fragment
    assert marked(fragment, "term") == ["alert", "alert"]


def test_highlight_marks_the_exact_characters_and_merges_overlaps_without_nesting():
    text = "全年拆除违法建筑3万平方米"
    fragment = render.highlight(text, [(8, 13, render.ANSWER), (8, 10, render.FACT)], terms=["违法"])
    assert marked(fragment, "answer") == ["3万", "平方米"]
    assert marked(fragment, "fact") == ["3万"]
    assert marked(fragment, "term") == ["违法"]
    assert '<mark class="answer fact">3万</mark>' in fragment


def test_term_spans_prefer_longer_terms_and_skip_single_characters():
    assert render.term_spans("拆违拆除违法建筑", ["拆", "拆违", "违法建筑", "违法"]) == [(0, 2), (4, 8)]


def test_breadcrumb_joins_sections_and_escapes_them():
    crumb = render.breadcrumb(("二、立足新要求", "（一）<b>聚焦</b>"))
    assert "".join(parse(crumb).text) == "二、立足新要求 › （一）<b>聚焦</b>"
    assert "<b>" not in crumb


def test_citation_marks_answer_fact_and_matched_terms_in_the_passage():
    citation = render.Citation(1, CHUNK, META, HIT, ANSWER)
    card = render.citation_card(citation, turn=0)
    assert marked(card, "answer") == [SENTENCE[:8], "3万", "平方米"]     # 平方米 is also a matched term
    assert "".join(marked(card, "fact")) == "3万平方米"
    assert "拆违" in marked(card, "term")
    text = "".join(parse(card).text)
    assert "[1]" in text and META.title in text and "吴淞 · 2021年 · 要点" in text
    assert "二、立足新要求，高标准推进城市治理 › （一）聚焦重点难点，持续推进拆违整治" in text
    assert 'data-open-chunk="c-wusong-1"' in card


def test_explain_shows_each_legs_rank_and_the_fused_score():
    citation = render.Citation(1, CHUNK, META, HIT, None)
    assert "BM25 第 3 名 · 向量 第 1 名 · 融合分 0.0325" in render.citation_card(citation, 0, explain=True)
    assert "融合分" not in render.citation_card(citation, 0, explain=False)
    bm25_only = Hit("x", 0.5, 2, (("bm25", 2),))
    assert render.rank_line(bm25_only) == "BM25 第 2 名 · 向量 未检出 · 融合分 0.5000"


def test_answer_block_puts_the_fact_first():
    citations = (render.Citation(1, CHUNK, META, HIT, ANSWER),)
    block = render.answer_block(ANSWER, citations)
    assert marked(block, "fact")[0] == "3万平方米"
    assert block.index("3万平方米") < block.index("全年拆除")
    assert "[1]" in "".join(parse(block).text)


def test_no_answer_says_not_found_and_what_to_do():
    block = render.answer_block(None, (render.Citation(1, CHUNK, META, HIT),))
    text = "".join(parse(block).text)
    assert "未找到" in text and "最接近的段落" in text and "换个说法" in text


def test_build_citations_puts_the_answer_passage_first_and_skips_deleted_chunks():
    hits = (
        Hit("gone", 0.05, 1),
        Hit(OTHER_CHUNK.chunk_id, 0.04, 2),
        Hit(CHUNK.chunk_id, 0.03, 3),
    )
    result = AskResult("q", QueryAnalysis("q"), ANSWER, hits)
    citations = render.build_citations(
        result, {META.doc_id: DOCUMENT}, {CHUNK.chunk_id: CHUNK, OTHER_CHUNK.chunk_id: OTHER_CHUNK}
    )
    assert [(c.number, c.chunk.chunk_id, c.answer is not None) for c in citations] == [
        (1, CHUNK.chunk_id, True),
        (2, OTHER_CHUNK.chunk_id, False),
    ]
    assert citations[0].answer_span() == (PASSAGE.index(SENTENCE), PASSAGE.index(SENTENCE) + len(SENTENCE))


def test_turn_shows_the_resolved_question_only_when_it_differs():
    turn = render.render_turn(1, "那万里呢？", "万里今年拆违任务多少平方米", None, ())
    assert "按上一问理解为：万里今年拆违任务多少平方米" in turn
    assert "按上一问理解为" not in render.render_turn(0, "吴淞拆违", "吴淞拆违", None, ())


def test_turn_escapes_the_users_question():
    turn = render.render_turn(0, MALICIOUS, MALICIOUS, None, ())
    assert "<script" not in turn and "<img" not in turn
    assert MALICIOUS in "".join(parse(turn).text)


def test_document_view_marks_and_anchors_the_passage():
    view = render.render_document(DOCUMENT, CHUNK.char_span, ANSWER, terms=["拆违"])
    anchor = view.index('id="passage-anchor"')
    assert view.index("（一）聚焦重点难点") > anchor > view.index("二、立足新要求")
    assert "".join(marked(view, "passage")).startswith("（一）聚焦重点难点")
    assert "".join(marked(view, "fact")) == "3万平方米"
    assert "".join(parse(view).text).count("吴淞街道党工委、办事处2021年工作要点") == 2    # heading + body


@pytest.mark.parametrize("payload", [MALICIOUS, "<svg onload=alert(1)>", "</div><iframe src=javascript:alert(1)>"])
def test_document_view_of_a_malicious_document_shows_the_markup_literally(payload):
    text = f"恶意文档\n{payload}\n正文"
    meta = META.__class__(**{**META.__dict__, "doc_id": 'x"><img src=x onerror=alert(3)>.txt', "title": payload})
    view = render.render_document(Document(meta, text), (0, len(text)))
    parsed = parse(view)
    assert set(parsed.tags) <= {"div", "span", "mark"}
    assert not [name for name in parsed.attributes if name.startswith("on")]
    assert payload in "".join(parsed.text)




OTHER_META = DocumentMeta("万里街道2021年工作计划.txt", "万里街道2021年工作计划", "万里", ("万里街道",), (2021,), "计划", "1" * 64)
OTHER_ORG_CHUNK = Chunk("c-wanli-1", OTHER_META.doc_id, ("一、城市管理",), (0, 20), "全年拆除违法建筑5万平方米。")


def test_a_scoped_not_found_says_why_and_labels_other_organisations_passages():
    """Asked about an organisation the corpus lacks: 未找到 with the note, the nearest passage tagged 其他单位."""
    analysis = QueryAnalysis("市桥街道今年拆违多少平方米", orgs=(), asked_org="市桥街道")
    other_hit = Hit(OTHER_ORG_CHUNK.chunk_id, 0.03, 1)
    result = AskResult(analysis.text, analysis, None, (other_hit,), scope_note="文档中没有市桥街道的这项数据")
    citations = render.build_citations(result, {OTHER_META.doc_id: Document(OTHER_META, "x" * 20)},
                                       {OTHER_ORG_CHUNK.chunk_id: OTHER_ORG_CHUNK})
    assert [c.other_org for c in citations] == [True]
    html = render.render_turn(0, analysis.text, analysis.text, None, citations, scope_note=result.scope_note)
    assert "未找到" in html and "文档中没有市桥街道的这项数据。" in html
    assert "其他单位" in "".join(parse(html).text) and 'class="cite other-org"' in html
    assert citations[0].answer is None and 'class="fact"' not in html       # its figure is never offered as the answer


def test_passages_of_the_named_organisation_are_not_labelled_other():
    analysis = QueryAnalysis("吴淞今年拆违多少平方米", orgs=(META.doc_id,), asked_org="吴淞")
    result = AskResult(analysis.text, analysis, ANSWER, (HIT,))
    [citation] = render.build_citations(result, {META.doc_id: DOCUMENT}, {CHUNK.chunk_id: CHUNK})
    assert not citation.other_org and citation.answer is ANSWER
    assert "其他单位" not in render.render_turn(0, analysis.text, analysis.text, ANSWER, [citation])


def test_pending_vectors_are_named_in_the_reply():
    html = render.render_turn(0, "问", "问", None, [], pending=("星河街道2022年工作计划",))
    assert "《星河街道2022年工作计划》正在建立向量索引" in html
