"""Section-aware chunking: the heading tree of each seed (with topic phrases opening paragraphs as headings
below their numbered heading), run-in 一是/二是 items, heading spans, full coverage, chunk sizes and cut
points, and chunk ids that survive a rebuild."""
from __future__ import annotations

import re

import pytest

from retrieval.ingest.chunking import ChunkingConfig, chunk_document, parse_sections
from retrieval.ingest.cleaning import clean_text
from tests.seeds import read_seed, SEED_000, SEED_001, SEED_002, SEED_003, SEED_004, ALL_SEEDS

CONFIG = ChunkingConfig()


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    """Cleaned text of each seed."""
    return {name: clean_text(read_seed(name)).text for name in ALL_SEEDS}


@pytest.fixture(scope="module")
def chunks(texts):
    return {name: chunk_document(name, text) for name, text in texts.items()}


def distinct_paths(chunk_list) -> list[tuple[str, ...]]:
    """Section paths in document order, each once."""
    return list(dict.fromkeys(c.section_path for c in chunk_list))


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- the heading tree of each seed ----------------------------------------------------------------

A1, A2, A3 = ("一、立足新定位，高起点推进产城融合", "二、立足新要求，高标准推进人民城市建设",
              "三、立足新形势，高站位推进党建和干部队伍建设")
B21, B22, B23 = "（一）聚焦重点难点，提升公共管理强度。", "（二）聚焦民生需求，提升公共服务精度。", "（三）聚焦稳定大局，提升公共安全满意度。"
B32 = "（二）不断推动基层党建工作上新水平。"
EXPECTED_001 = [
    (),
    (A1,),
    (A1, "（一）全力服务科创中心主阵地建设。"),
    (A1, "（二）进一步打造优质营商环境。"),
    (A1, "（三）加快重点区域城市更新步伐。"),
    (A2,),
    (A2, B21, "一是加快城市数字化转型探索。"),
    (A2, B21, "二是巩固垃圾分类工作成果。"),
    (A2, B21, "三是提升老旧小区物业管理水平。"),
    (A2, B21, "四是补齐补好市容环境管理短板。"),
    (A2, B21, "五是加大生态环境治理。"),
    (A2, B22, "一是统筹抓好常态化疫情防控。"),
    (A2, B22, "二是因地制宜推进社区公共服务。"),
    (A2, B22, "三是持续激发社区自治活力。"),
    (A2, B22, "四是不断优化社区事务受理服务。"),
    (A2, B23, "一是不断深化“平安吴淞”建设。"),
    (A2, B23, "二是扎实开展安全生产监管。"),
    (A2, B23, "三是有序推进依法治理和信访工作。"),
    (A3,),
    (A3, "（一）切实加强街道党政班子自身建设。"),
    (A3, B32, "一是认真落实基层党建工作责任制。"),
    (A3, B32, "二是巩固“四史”学习教育成果。"),
    (A3, B32, "三是做优做强网格化党建。"),
    (A3, B32, "四是不断优化区域化党建项目。"),
    (A3, B32, "五是切实提升“两新”党建影响力。"),
    (A3, B32, "六是抓实支部规范化建设。"),
    (A3, "（三）着力打造高素质干部队伍。"),
    (A3, "（四）全面抓好党风廉政建设。"),
    (A3, "（五）认真落实宣传思想和统战工作任务。"),
    (A3, "（六）扎实做好人民武装和群团工作。"),
]
# 002 opens each paragraph with a short topic phrase ("全域全力全员服务经济。以招商…"): a heading one
# level below the (一) heading it stands in.
W1, W2, W3 = "(一)全力奋进,推动“高质量”经济发展", "(二)精细精准,实现“高品质”城市更新", "(三)落实落细,抓实“暖人心”民生改善"
W4, W5, W6 = "(四)多措并举,打造“高满意度”的安全社区", "(五)党建引领,激发“多元参与”自治共治活力", "(六)坚强有力,推进政府治理现代化"
EXPECTED_002 = [
    (),
    (W1, "全域全力全员服务经济。"),
    (W1, "持之以恒用“四到”换“四心”。"),
    (W2, "打造“一路一水两家园”空间格局。"),
    (W2, "全力打好创城双巩固攻坚战。"),
    (W2, "深入探索“两张网”建设。"),
    (W3, "提升社区服务的便利性。"),
    (W3, "提升民生服务的保障力。"),
    (W3, "提升公共文化服务精准性。"),
    (W4, "“平战结合”科学精准抓好疫情防控。"),
    (W4, "深入推进市域治理现代化和扫黑除恶专项斗争工作。"),
    (W4, "加强安全隐患排查整治。"),
    (W4, "抓好重要节点的安全稳控。"),
    (W5, "深化区域化党建工作。"),
    (W5, "提升社区治理能级。"),
    (W5, "拓展多元共治平台。"),
    (W6, "强化法治政府建设。"),
    (W6, "提升行政管理水平。"),
    (W6, "加强机关作风建设。"),
]
S1, S2 = "一、2020年度工作总结", "二、2021年工作思路"
EXPECTED_004 = [
    (S1,),
    (S1, "(一)全力保障经济企稳回升。"),
    (S1, "(二)全力拼抢招商引资引智。"),
    (S1, "(三)全力聚焦重大平台提质。"),
    (S1, "(四)全力加快产业转型增能。"),
    (S1, "(五)全面推进美丽区(街)建设。"),
    (S1, "(六)全力稳固社会治理体系。"),
    (S1, "(七)全面发挥党建引领作用。"),
    (S2,),
    (S2, "(一)危中寻机勇开新局。"),
    (S2, "(二)巩固基础做优产业。"),
    (S2, "(三)迎难而上拼抢招商。"),
    (S2, "(四)建好平台提质增能。"),
    (S2, "(五)强化整治提升品质。"),
    (S2, "(六)优化资源巩固平安。"),
    (S2, "(七)党建引领推动发展。"),
]
Y2 = "二、2021年重点工作安排"
EXPECTED_000 = [
    ("一、2021年工作思路",),
    (Y2,),
    (Y2, "（一）聚焦营商招商，激发活力永兴“新引擎”。", "优机制，整合服务资源。"),
    (Y2, "（二）主攻城市建管，打造活力永兴“新样板”。", "打好城建大会战。"),
    (Y2, "（三）倾力民生关怀，顺应活力永兴“新期待”", "惠民生，强保障。"),
    (Y2, "（四）强化党建引领，把舵活力永兴“新航标”’。", "释放党建引领新动能。"),       # the ’ is in the source
]
EXPECTED_003 = [
    (),
    ("一、慎终如始,把好防控常态化后的社区防疫关口",),
    ("二、融合发展,完善党建引领下的社会治理体系",),
    ("三、最优营商,扩大“两翼一体”机制联动成效", "党建引领,完善延伸服务机制。"),
    ("四、实战应用,提升城区精细管理能级", "加快“一网统管”建设。"),
    ("五、精准服务,提高民生保障水平", "推进“一网通办”建设。"),
    ("六、源头防范,维护社区安全稳定",),
    ("七、深化内涵,培育社区自治共治品牌",),
    ("八、宣传动员,推动新时代下的精神文明建设",),
]


@pytest.mark.parametrize("name, expected", [
    (SEED_000, EXPECTED_000), (SEED_001, EXPECTED_001), (SEED_002, EXPECTED_002), (SEED_004, EXPECTED_004),
])
def test_section_paths_of_each_seed(chunks, name, expected):
    assert distinct_paths(chunks[name]) == expected


def test_section_paths_of_seed_003(chunks):
    # Heading 六 is checked exactly in test_cleaning (where it is cut from its body); here only its start.
    paths = distinct_paths(chunks[SEED_003])
    assert len(paths) == len(EXPECTED_003)
    assert [p for i, p in enumerate(paths) if i != 6] == [p for i, p in enumerate(EXPECTED_003) if i != 6]
    assert paths[6][0].startswith(EXPECTED_003[6][0])


def test_demolition_fact_sits_under_its_run_in_item(chunks):
    holding = [c for c in chunks[SEED_001] if "完成3万平方米年度拆违任务" in c.text]
    assert len(holding) == 1
    assert holding[0].section_path == (A2, B21, "四是补齐补好市容环境管理短板。")


@pytest.mark.parametrize("name", ALL_SEEDS)
def test_seed_heading_spans_are_breadcrumb_titles_or_the_document_title(texts, chunks, name):
    """What a chunk marks as titles is exactly what names its sections (or the document): no fact is hidden."""
    document_title = texts[name].split("\n", 1)[0]
    for chunk in chunks[name]:
        for start, end in chunk.heading_spans:
            assert chunk.text[start:end] in chunk.section_path + (document_title,)
    assert any(chunk.heading_spans for chunk in chunks[name])


def test_demolition_fact_is_answerable_text(chunks):
    fact = "完成3万平方米年度拆违任务"
    [chunk] = [c for c in chunks[SEED_001] if fact in c.text]
    at = chunk.text.index(fact)
    assert not any(start < at + len(fact) and at < end for start, end in chunk.heading_spans)
    assert chunk.text[slice(*chunk.heading_spans[0])] == "四是补齐补好市容环境管理短板。"


def test_004_2020_facts_are_under_the_2020_part(chunks):
    holding = [c for c in chunks[SEED_004] if "规上工业总产值270亿元" in c.text]
    assert [c.section_path for c in holding] == [(S1, "(一)全力保障经济企稳回升。")]


# --- run-in items 一是 / 二是 ---------------------------------------------------------------------

RUN_IN_DOC = (
    "测试街道工作要点\n"
    "一、总体要求\n"
    "（一）抓好重点工作。一是加快城市数字化转型探索。推进数据治理，建设智能平台，完善运行机制。"
    "二是巩固垃圾分类工作成果。要求各方统一是非标准，持续开展宣传。四是跳过三的条目不算标题。"
    "三是提升老旧小区物业管理水平。推进物业服务全覆盖，提高居民满意度。\n"
    "（二）加强安全管理。\n一是落实安全生产责任。开展隐患排查。\n"
)


def test_run_in_items_are_numbered_in_order_at_sentence_starts():
    run_in = [s.path[2] for s in parse_sections(RUN_IN_DOC) if len(s.path) == 3]
    assert run_in == ["一是加快城市数字化转型探索。", "二是巩固垃圾分类工作成果。", "三是提升老旧小区物业管理水平。",
                      "一是落实安全生产责任。"]


def test_stray_numeral_before_shi_is_not_a_heading():
    """"统一是非" is inside a sentence, and "四是" right after "二是" skips 三: both stay body text of 二是."""
    sections = parse_sections(RUN_IN_DOC)
    second = next(s for s in sections if s.path and s.path[-1] == "二是巩固垃圾分类工作成果。")
    body = RUN_IN_DOC[second.start:second.end]
    assert "统一是非标准" in body
    assert "四是跳过三的条目不算标题。" in body
    assert not any("统一是" in p or p.startswith("四是") for s in sections for p in s.path)


def test_run_in_numbering_restarts_under_each_numbered_heading():
    sections = parse_sections(RUN_IN_DOC)
    first_items = [s.path for s in sections if s.path and s.path[-1].startswith("一是")]
    assert [p[1] for p in first_items] == ["（一）抓好重点工作。", "（二）加强安全管理。"]


# --- nothing lost, spans exact --------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL_SEEDS)
def test_chunks_cover_every_character_in_order(texts, chunks, name):
    text, chunk_list = texts[name], chunks[name]
    assert chunk_list
    position = 0
    for chunk in chunk_list:
        start, end = chunk.char_span
        assert chunk.text == text[start:end]
        assert chunk.doc_id == name
        assert start >= position, "chunks overlap or are out of order"
        assert text[position:start].strip() == "", f"text lost between chunks: {text[position:start]!r}"
        position = end
    assert text[position:].strip() == ""
    assert squash("".join(c.text for c in chunk_list)) == squash(text)


# --- sizes and cut points -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL_SEEDS)
def test_no_seed_chunk_exceeds_max_chars(chunks, name):
    assert max(len(c.text) for c in chunks[name]) <= CONFIG.max_chars


PREAMBLE = "为做好今年各项工作，现将全年重点任务安排如下，请各部门结合实际认真抓好落实，确保各项目标任务按期保质完成。" * 2


def document(*sections: tuple[str, str]) -> str:
    """A title, a preamble long enough to stay its own section, then the sections."""
    return "测试文档\n" + PREAMBLE + "\n" + "".join(f"{heading}\n{body}\n" for heading, body in sections)


def test_a_section_of_300_chars_is_one_chunk_and_301_is_split():
    heading = "一、总体要求"
    # Sentences of several clauses, so that no paragraph opens with a short topic phrase (a heading).
    body_300 = "推进项目，抓建设，确保如期完成。" * 18 + "加快推进。"      # heading + newline + body = 300 characters
    body_301 = "推进项目，抓建设，确保如期完成。" * 18 + "加快推进了。"
    assert len(heading) + 1 + len(body_300) == 300
    whole = [c for c in chunk_document("t.txt", document((heading, body_300), ("二、其他", "其他事项。" * 20)))
             if c.section_path == (heading,)]
    assert [c.text for c in whole] == [heading + "\n" + body_300]
    split = [c for c in chunk_document("t.txt", document((heading, body_301), ("二、其他", "其他事项。" * 20)))
             if c.section_path == (heading,)]
    assert len(split) >= 2
    assert all(c.text.endswith("。") for c in split)
    assert "\n".join(c.text for c in split).replace("\n", "") == (heading + body_301)


NUMBER = re.compile(r"\d+(?:\.\d+)?")


def assert_numbers_whole(text, chunk_list):
    """Every number of the text lies wholly inside one chunk."""
    for match in NUMBER.finditer(text):
        assert any(c.char_span[0] <= match.start() and match.end() <= c.char_span[1] for c in chunk_list), \
            f"number {match.group()!r} at {match.start()} is cut"


def test_long_section_is_cut_only_at_sentence_ends():
    sentences = [f"第{i}批项目完成投资9.06亿元，同比增长12.5%。" for i in range(1, 41)]
    text = document(("一、投资情况", "".join(sentences)))
    chunk_list = chunk_document("t.txt", text)
    section = [c for c in chunk_list if c.section_path == ("一、投资情况",)]
    assert len(section) >= 3
    for chunk in section:
        assert len(chunk.text) <= CONFIG.max_chars
        assert chunk.text.endswith("。"), f"cut inside a sentence: …{chunk.text[-15:]!r}"
    assert sum(c.text.count("9.06亿元") for c in section) == 40
    assert_numbers_whole(text, chunk_list)


def test_over_long_sentence_is_cut_at_clause_ends_never_inside_a_number():
    sentence = "".join(f"第{i}项工程投资9.06亿元，" for i in range(1, 60)) + "全部按期完成。"
    assert len(sentence) > CONFIG.max_chars
    text = document(("一、工程", sentence))
    section = [c for c in chunk_document("t.txt", text) if c.section_path == ("一、工程",)]
    assert len(section) >= 2
    for chunk in section[:-1]:
        assert len(chunk.text) <= CONFIG.max_chars
        assert chunk.text.endswith("，")
    assert_numbers_whole(text, section)


def test_run_without_any_punctuation_is_cut_between_non_digits():
    run = "项目投资9.06亿元" * 60
    text = document(("一、工程", run + "。"))
    section = [c for c in chunk_document("t.txt", text) if c.section_path == ("一、工程",)]
    assert all(len(c.text) <= CONFIG.max_chars for c in section)
    assert_numbers_whole(text, section)


def assert_covers(text, chunk_list):
    """Chunks are in order, never overlap, and leave out nothing but whitespace."""
    position = 0
    for chunk in chunk_list:
        assert chunk.char_span[0] >= position, f"chunk {chunk.char_span} overlaps the one before (ends {position})"
        assert text[position:chunk.char_span[0]].strip() == ""
        position = chunk.char_span[1]
    assert text[position:].strip() == ""


def test_short_last_piece_of_a_two_piece_section_joins_the_first():
    """One 250-character sentence then a 50-character one: 304 > single_max, and the 50-character tail is
    below min_chars, so it joins the first piece and the section stays one chunk."""
    first = "甲" * 249 + "。"
    tail = "乙" * 49 + "。"
    text = document(("一、甲", first + tail), ("二、其他", "其他事项。" * 20))
    chunk_list = chunk_document("t.txt", text)
    section = [c for c in chunk_list if c.section_path == ("一、甲",)]
    assert [c.text for c in section] == ["一、甲\n" + first + tail]
    assert_covers(text, chunk_list)


def test_short_last_piece_of_a_long_section_joins_its_neighbour_without_overlap():
    # 50-character sentences after a 7-character heading line pack into [heading + 3] and [4] (exactly the
    # 200-character target), so the 5-character tail starts a third piece that must join the second.
    sentences = [("推进第%d项重点工作，确保按期完成年度目标任务" % i).ljust(49, "甲") + "。" for i in range(1, 8)]
    assert {len(s) for s in sentences} == {50}
    tail = "做好总结。"
    text = document(("一、重点工作", "".join(sentences) + tail), ("二、其他", "其他事项。" * 20))
    chunk_list = chunk_document("t.txt", text)
    assert_covers(text, chunk_list)
    section = [c for c in chunk_list if c.section_path == ("一、重点工作",)]
    assert len(section) >= 2
    holding_tail = [c for c in section if tail in c.text]
    assert len(holding_tail) == 1 and holding_tail[0] is section[-1]
    assert holding_tail[0].text.endswith(sentences[-1] + tail)
    assert sum(c.text.count(sentences[-1]) for c in section) == 1


def test_chunking_config_rejects_inconsistent_sizes():
    with pytest.raises(ValueError, match="min_chars <= target"):
        ChunkingConfig(target=400, single_max=300)


# --- stable ids -----------------------------------------------------------------------------------

def test_same_input_gives_same_ids(texts):
    first = chunk_document(SEED_001, texts[SEED_001])
    second = chunk_document(SEED_001, texts[SEED_001])
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert len({c.chunk_id for c in first}) == len(first)


def test_ids_depend_on_the_document(texts):
    a = {c.chunk_id for c in chunk_document("a.txt", texts[SEED_001])}
    b = {c.chunk_id for c in chunk_document("b.txt", texts[SEED_001])}
    assert not a & b


def test_editing_one_sentence_changes_only_the_id_of_its_chunk(texts, chunks):
    old = chunks[SEED_001]
    edited_text = texts[SEED_001].replace("完成3万平方米年度拆违任务", "完成5万平方米年度拆违任务")
    assert edited_text != texts[SEED_001]
    new = chunk_document(SEED_001, edited_text)
    changed = [(a, b) for a, b in zip(old, new) if a.chunk_id != b.chunk_id]
    assert len(new) == len(old)
    assert len(changed) == 1
    assert "3万平方米" in changed[0][0].text and "5万平方米" in changed[0][1].text


def test_editing_a_paragraph_keeps_ids_outside_its_section(texts, chunks):
    old = chunks[SEED_001]
    edited_text = texts[SEED_001].replace("完成3万平方米年度拆违任务。",
                                          "完成3万平方米年度拆违任务，并对拆后土地及时开展绿化复绿和综合利用。")
    new = chunk_document(SEED_001, edited_text)
    edited_path = (A2, B21, "四是补齐补好市容环境管理短板。")
    outside_old = [c.chunk_id for c in old if c.section_path != edited_path]
    outside_new = [c.chunk_id for c in new if c.section_path != edited_path]
    assert outside_old == outside_new
    inside_old = {c.chunk_id for c in old if c.section_path == edited_path}
    inside_new = {c.chunk_id for c in new if c.section_path == edited_path}
    assert inside_old != inside_new
