"""Headings that do not swallow facts: numbered item lines are answerable body text, real headings and
unnumbered titles (found by shape) are listed in each chunk's heading_spans and shown in its breadcrumb."""
from __future__ import annotations

import json
import re
from pathlib import Path

import docx
import pytest

from retrieval.ingest.chunking import ChunkingConfig, chunk_document
from retrieval.corpus.files import load_document
from retrieval.types import Chunk

WEB_DEV = Path("/work/shared/eval/web-dev")


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def titles(chunk: Chunk) -> list[str]:
    """The heading spans of a chunk as text, whitespace removed."""
    return [squash(chunk.text[start:end]) for start, end in chunk.heading_spans]


def body(chunk: Chunk) -> str:
    """The chunk's text outside its heading spans (each span cut out as a line break), whitespace removed
    within each remaining piece."""
    pieces, position = [], 0
    for start, end in chunk.heading_spans:
        pieces.append(chunk.text[position:start])
        position = end
    pieces.append(chunk.text[position:])
    return "\n".join(squash(piece) for piece in pieces)


def holding(chunks: list[Chunk], fact: str) -> list[Chunk]:
    """Chunks whose answerable text (outside heading spans) contains the fact."""
    return [c for c in chunks if fact in body(c)]


def is_titled(chunks: list[Chunk], heading: str) -> bool:
    return any(heading in titles(c) for c in chunks)


# --- a Word plan with facts on item lines and in a table -----------------------------------------

PLAN_LINES = [
    "一、2023年工作回顾", "（一）城市建设", "1. 新建口袋公园5个", "2. 完成老旧小区改造12个，惠及居民3200户",
    "（二）民生保障", "（1）全年拆除违法建筑3.2万平方米", "（2）新增就业岗位860个",
    "二、2024年工作安排", "（一）城市更新", "1. 推进道路建设", "新建道路3条，总长4.5公里。",
    "2. 新增绿地2万平方米", "（二）公共服务", "一是新建社区食堂2个", "二是养老床位增加150张",
    "① 开展义诊活动40场", "② 举办招聘会6场",
]
PLAN_FACTS = ["新建口袋公园5个", "完成老旧小区改造12个", "惠及居民3200户", "全年拆除违法建筑3.2万平方米",
              "新增就业岗位860个", "新建道路3条", "新增绿地2万平方米", "新建社区食堂2个", "养老床位增加150张",
              "开展义诊活动40场", "举办招聘会6场", "停车泊位", "新增500个"]


@pytest.fixture(scope="module")
def plan_chunks(tmp_path_factory) -> list[Chunk]:
    """A .docx made with python-docx, read and cleaned by load_document, then chunked."""
    document = docx.Document()
    document.add_heading("东湖街道2024年工作计划", level=1)
    document.add_paragraph("2024年，东湖街道将统筹推进城市更新和民生保障，现将全年工作安排如下。")
    for line in PLAN_LINES:
        document.add_paragraph(line)
    table = document.add_table(rows=3, cols=2)
    for row, cells in enumerate([("指标", "目标"), ("社区卫生服务站", "新增3家"), ("停车泊位", "新增500个")]):
        for column, value in enumerate(cells):
            table.cell(row, column).text = value
    document.add_paragraph("三、保障措施")
    document.add_paragraph("加强组织领导，落实工作责任。")
    path = tmp_path_factory.mktemp("plan") / "东湖街道2024年工作计划.docx"
    document.save(path)
    loaded = load_document(path)
    return chunk_document(loaded.doc_id, loaded.text)


@pytest.mark.parametrize("fact", PLAN_FACTS)
def test_each_fact_of_the_word_plan_is_answerable_text(plan_chunks, fact):
    assert holding(plan_chunks, fact), f"{fact!r} lies in no chunk outside its heading spans"


@pytest.mark.parametrize("heading", ["一、2023年工作回顾", "（一）城市建设", "（二）民生保障", "二、2024年工作安排",
                                     "（一）城市更新", "（二）公共服务", "三、保障措施", "东湖街道2024年工作计划"])
def test_real_headings_of_the_word_plan_are_titles(plan_chunks, heading):
    assert is_titled(plan_chunks, heading)


def test_item_lines_share_a_chunk_under_their_headings(plan_chunks):
    [chunk] = holding(plan_chunks, "新建口袋公园5个")
    assert chunk.section_path == ("一、2023年工作回顾", "（一）城市建设")
    assert "完成老旧小区改造12个" in body(chunk)                 # several items, one chunk
    [chunk] = holding(plan_chunks, "养老床位增加150张")
    assert chunk.section_path == ("二、2024年工作安排", "（二）公共服务")
    assert "新建社区食堂2个" in body(chunk) and "开展义诊活动40场" in body(chunk)


def test_a_short_item_over_its_own_body_lines_is_a_title(plan_chunks):
    """"1. 推进道路建设" names a topic and its facts follow on their own line: it heads them. The next item
    states a fact itself, so it is body text and not under the first item."""
    [chunk] = holding(plan_chunks, "新建道路3条")
    assert chunk.section_path == ("二、2024年工作安排", "（一）城市更新", "1.推进道路建设")
    assert "1.推进道路建设" in titles(chunk)
    [chunk] = holding(plan_chunks, "新增绿地2万平方米")
    assert chunk.section_path == ("二、2024年工作安排", "（一）城市更新")


# --- items and numbered headings, by shape ----------------------------------------------------------

def test_numbered_heading_with_its_body_on_the_same_line_is_titled_only_to_its_first_sentence_end():
    text = ("某街道2025年上半年工作总结\n一、上半年工作总结\n"
            "（一）经济稳中提质，动能加速释放。经济运行稳中向好。1-6月，完成税收收入3200万元；工业产值累计达5.1亿元。\n")
    [chunk] = chunk_document("t.txt", text)
    assert chunk.section_path == ("一、上半年工作总结", "（一）经济稳中提质，动能加速释放。")
    assert titles(chunk) == ["某街道2025年上半年工作总结", "一、上半年工作总结", "（一）经济稳中提质，动能加速释放。"]
    assert "经济运行稳中向好。1-6月，完成税收收入3200万元" in body(chunk)


def test_item_lines_that_are_sentences_are_body_text_even_without_amounts():
    text = "一、党的建设\n1. 加强理论学习。\n2. 推进支部规范化建设。\n（1）开展主题党日活动\n（2）做好党员发展工作\n"
    [chunk] = chunk_document("t.txt", text)
    assert chunk.section_path == ("一、党的建设",)
    assert titles(chunk) == ["一、党的建设"]
    for item in ("加强理论学习", "推进支部规范化建设", "开展主题党日活动", "做好党员发展工作"):
        assert item in body(chunk)


def test_item_with_a_run_in_title_is_titled_only_to_its_first_full_stop():
    text = ("二、工作开展情况\n（一）综合实力提升\n1.经济实力不断增强。全年实现生产总值9100万元，同比增长1.7%。\n"
            "2.优化产业结构。全乡种植柑橘1.8万亩，新建百合基地200亩。\n")
    chunks = chunk_document("t.txt", text)
    [first] = holding(chunks, "全年实现生产总值9100万元")
    assert first.section_path[-1] == "1.经济实力不断增强。"
    [second] = holding(chunks, "新建百合基地200亩")
    assert second.section_path == ("二、工作开展情况", "（一）综合实力提升", "2.优化产业结构。")
    assert "2.优化产业结构。" in titles(second)


def test_run_in_items_stating_facts_are_body_text():
    text = "（一）城市管理\n全年重点抓好三件事：一是拆除违法建筑3万平方米；二是新增停车泊位500个；三是完成架空线入地。\n"
    [chunk] = chunk_document("t.txt", text)
    assert chunk.section_path == ("（一）城市管理",)
    for fact in ("一是拆除违法建筑3万平方米", "二是新增停车泊位500个", "三是完成架空线入地"):
        assert fact in body(chunk)


def test_circled_items_are_list_items():
    text = "（二）公共服务\n① 开展义诊活动40场\n② 举办招聘会6场\n③ 新建社区食堂2个\n"
    [chunk] = chunk_document("t.txt", text)
    assert chunk.section_path == ("（二）公共服务",)
    assert titles(chunk) == ["（二）公共服务"]


# --- unnumbered headings, by shape -----------------------------------------------------------------

def test_short_line_ending_in_a_colon_heads_the_lines_below_it():
    text = ("一、全面加强党的建设\n全年围绕中心、服务大局，推动党建工作与业务工作深度融合。\n"
            "党建工作：\n1. 开展主题教育活动12场。\n2. 新发展党员8名。\n"
            "群团工作：\n1. 举办青年联谊活动4场。\n2. 组织妇女技能培训300人次。\n")
    chunks = chunk_document("t.txt", text, ChunkingConfig(target=60, single_max=60, min_chars=10))
    [party] = holding(chunks, "新发展党员8名")
    assert party.section_path == ("一、全面加强党的建设", "党建工作：")
    assert "党建工作：" in titles(party) and "开展主题教育活动12场" in body(party)
    [mass] = holding(chunks, "组织妇女技能培训300人次")
    assert mass.section_path == ("一、全面加强党的建设", "群团工作：")


def test_salutation_and_lead_in_lines_are_titles_but_open_no_section():
    text = ("某镇2024年政府工作报告\n各位代表：\n现在，我代表镇人民政府向大会报告工作，请予审议。\n"
            "过去一年，我们主要开展了以下工作：\n一、经济发展稳中有进\n全年完成地区生产总值12.5亿元，增长6.2%。\n")
    chunks = chunk_document("t.txt", text)
    assert {c.section_path for c in chunks} <= {(), ("一、经济发展稳中有进",)}
    assert is_titled(chunks, "各位代表：")
    assert is_titled(chunks, "过去一年，我们主要开展了以下工作：")
    assert holding(chunks, "现在，我代表镇人民政府向大会报告工作")


TWO_PARTS = ("某高新区2021年工作报告\n（2021年2月5日）\n某高新区管委会\n"
             "砥砺奋进——“十三五”时期及2020年工作回顾\n"
             "这五年，我们坚持创新驱动，综合实力大幅增强，园区营业总收入年均增长15%。\n"
             "这五年，我们坚持开放合作，营商环境持续优化。\n"
             "开创新局面——2021年工作安排\n"
             "一、坚持创新驱动\n全年新增高新技术企业80家。\n"
             "二、优化营商环境\n全年新增市场主体2000户。\n")


def test_standalone_title_lines_open_parts_above_the_numbered_headings():
    chunks = chunk_document("t.txt", TWO_PARTS, ChunkingConfig(target=40, single_max=40, min_chars=10))
    review, plan = "砥砺奋进——“十三五”时期及2020年工作回顾", "开创新局面——2021年工作安排"
    [past] = holding(chunks, "园区营业总收入年均增长15%")
    assert past.section_path == (review,)
    assert is_titled(chunks, review) and is_titled(chunks, plan)
    [firms] = holding(chunks, "全年新增高新技术企业80家")
    assert firms.section_path == (plan, "一、坚持创新驱动")
    [entities] = holding(chunks, "全年新增市场主体2000户")
    assert entities.section_path == (plan, "二、优化营商环境")


def test_front_matter_date_and_author_lines_stay_answerable():
    chunks = chunk_document("t.txt", TWO_PARTS)
    assert holding(chunks, "（2021年2月5日）") and holding(chunks, "某高新区管委会")
    assert not is_titled(chunks, "某高新区管委会")


def test_short_phrases_opening_paragraphs_head_them_below_their_numbered_heading():
    text = ("（一）注重保障民生，公共服务能级提升\n"
            "丰富养老服务内涵。完成社区照护站建设，全年服务老人3400余次。\n"
            "落实托底保障政策。全年救助困难群众4700人次，发放救助金139万元。\n"
            "（二）补齐发展短板，公共管理走向精细\n"
            "改善社区人居环境。完成12个小区雨污分流改造。\n"
            "提升市容管理水平。拆除违法建筑1.2万平方米。\n")
    chunks = chunk_document("t.txt", text, ChunkingConfig(target=40, single_max=40, min_chars=10))
    [relief] = holding(chunks, "全年救助困难群众4700人次")
    assert relief.section_path == ("（一）注重保障民生，公共服务能级提升", "落实托底保障政策。")
    assert titles(relief) == ["落实托底保障政策。"]
    [demolition] = holding(chunks, "拆除违法建筑1.2万平方米")
    assert demolition.section_path == ("（二）补齐发展短板，公共管理走向精细", "提升市容管理水平。")


def test_one_paragraph_opening_with_a_short_sentence_is_not_a_heading():
    text = ("一、经济运行\n成绩来之不易。全年完成地区生产总值12.5亿元，增长6.2%。\n"
            "面对复杂形势，我们坚持稳中求进，经济运行总体平稳，主要指标好于预期。\n")
    [chunk] = chunk_document("t.txt", text)
    assert chunk.section_path == ("一、经济运行",)
    assert "成绩来之不易。" in body(chunk)


def test_a_line_broken_off_mid_sentence_is_not_a_heading():
    text = ("一、农业发展\n一年努力，紧紧围绕农业增效和农民增收，进一步优化和调\n整农业产业结构，扎实推进农业保护补贴和\n"
            "政策性保险工作。\n")
    [chunk] = chunk_document("t.txt", text)
    assert chunk.section_path == ("一、农业发展",)
    assert titles(chunk) == ["一、农业发展"]


def test_the_last_of_a_run_of_short_body_lines_is_not_a_heading():
    text = ("三、保障措施\n为确保各项任务落到实处，重点抓好以下环节。\n加强组织领导\n落实工作责任\n强化督查考核\n"
            "各部门要按照职责分工，细化工作方案，确保各项目标任务按期完成。\n")
    [chunk] = chunk_document("t.txt", text)
    assert chunk.section_path == ("三、保障措施",)
    assert titles(chunk) == ["三、保障措施"]


# --- the web dev documents ---------------------------------------------------------------------------

def web_dev_questions() -> list[dict]:
    with open(WEB_DEV / "questions.jsonl", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def web_dev_chunks() -> dict[str, list[Chunk]]:
    if not (WEB_DEV / "docs").is_dir():
        pytest.skip(f"the web dev set is not at {WEB_DEV}")
    chunks = {}
    for path in sorted((WEB_DEV / "docs").glob("*.txt")):
        document = load_document(path)
        chunks[path.name] = chunk_document(document.doc_id, document.text)
    return chunks


def evidence_in_headings(chunk: Chunk, evidence: str) -> bool | None:
    """None when the chunk does not hold the evidence (whitespace ignored); else whether any of its
    characters lies in a heading span."""
    in_heading = [False] * len(chunk.text)
    for start, end in chunk.heading_spans:
        in_heading[start:end] = [True] * (end - start)
    kept = [(ch, flag) for ch, flag in zip(chunk.text, in_heading) if not ch.isspace()]
    at = "".join(ch for ch, _ in kept).find(evidence)
    if at < 0:
        return None
    return any(flag for _, flag in kept[at:at + len(evidence)])


def test_no_web_dev_evidence_lies_in_a_heading_span(web_dev_chunks):
    found, in_headings, total = 0, [], 0
    for question in web_dev_questions():
        names = question["doc"] if isinstance(question["doc"], list) else [question["doc"]] * bool(question["doc"])
        for evidence in question["evidence"]:
            total += 1
            verdicts = [evidence_in_headings(c, squash(evidence)) for name in names for c in web_dev_chunks[name]]
            verdicts = [v for v in verdicts if v is not None]
            found += bool(verdicts)
            if any(verdicts):
                in_headings.append((question["id"], evidence))
    assert not in_headings
    # Evidence the cleaning moves into page metadata (dates, 文号) is in no chunk; the rest must be.
    assert found >= 0.85 * total, f"only {found} of {total} evidence strings lie inside one chunk"


def test_web_dev_chunks_fit_the_size_limit(web_dev_chunks):
    assert all(len(c.text) <= ChunkingConfig().max_chars for cs in web_dev_chunks.values() for c in cs)
