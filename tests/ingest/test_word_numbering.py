"""Word's automatic list numbering is read as Word shows it: a plan whose 一、 / （一） / 1. / ① come from
numbering.xml, not from typed text, gives the same text, headings and answerable items as the typed plan."""
from __future__ import annotations

import io
import re

import docx
import pytest
from docx.oxml import parse_xml

from retrieval.ingest.chunking import chunk_document
from retrieval.corpus.files import load_document
from retrieval.ingest.readers import read_bytes
from retrieval.ingest.word_numbering import format_number
from tests.ingest.test_item_lines import PLAN_LINES, body, holding

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
# The levels of a 公文 list as a Word template defines them: 一、 · （一） · 1. · （1） · ①
GONGWEN_LEVELS = [("chineseCounting", "%1、"), ("chineseCounting", "（%2）"), ("decimal", "%3."),
                  ("decimal", "（%4）"), ("decimalEnclosedCircle", "%5")]
# How each level's marker looks when typed, to turn a typed line into (level, text without its marker).
TYPED_MARKERS = [r"[一二三四五六七八九十]+、", r"（[一二三四五六七八九十]+）", r"\d+\.\s*", r"（\d+）", r"[①-⑳]\s*"]


def define_list(document, abstract_id: int, num_ids: list[int], levels, start_overrides=None) -> None:
    """One list definition and its instances; start_overrides maps a num id to a level restarted at 1."""
    numbering = document.part.numbering_part.element
    lvls = "".join(f'<w:lvl w:ilvl="{i}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/><w:lvlText w:val="{text}"/>'
                   f'</w:lvl>' for i, (fmt, text) in enumerate(levels))
    numbering.insert(0, parse_xml(f'<w:abstractNum {W} w:abstractNumId="{abstract_id}">{lvls}</w:abstractNum>'))
    for num_id in num_ids:
        override = ""
        if start_overrides and num_id in start_overrides:
            override = (f'<w:lvlOverride w:ilvl="{start_overrides[num_id]}"><w:startOverride w:val="1"/>'
                        f'</w:lvlOverride>')
        numbering.append(parse_xml(f'<w:num {W} w:numId="{num_id}"><w:abstractNumId w:val="{abstract_id}"/>'
                                   f'{override}</w:num>'))


def numbered(document, text: str, num_id: int, level: int) -> None:
    paragraph = document.add_paragraph(text)
    paragraph._p.get_or_add_pPr().append(
        parse_xml(f'<w:numPr {W}><w:ilvl w:val="{level}"/><w:numId w:val="{num_id}"/></w:numPr>'))


def docx_text(document) -> str:
    buffer = io.BytesIO()
    document.save(buffer)
    return read_bytes("plan.docx", buffer.getvalue())


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def auto_numbered_plan(path) -> None:
    """The plan of test_item_lines, its markers made by Word's numbering instead of typed."""
    document = docx.Document()
    document.add_heading("东湖街道2024年工作计划", level=1)
    document.add_paragraph("2024年，东湖街道将统筹推进城市更新和民生保障，现将全年工作安排如下。")
    define_list(document, 90, [91], GONGWEN_LEVELS)
    for line in PLAN_LINES:
        for level, marker in enumerate(TYPED_MARKERS):
            match = re.match(marker, line)
            if match:
                numbered(document, line[match.end():], 91, level)
                break
        else:
            document.add_paragraph(line)                    # 一是 … and plain lines are typed text
    document.save(path)


@pytest.fixture(scope="module")
def typed_and_auto(tmp_path_factory):
    folder = tmp_path_factory.mktemp("numbering")
    typed = docx.Document()
    typed.add_heading("东湖街道2024年工作计划", level=1)
    typed.add_paragraph("2024年，东湖街道将统筹推进城市更新和民生保障，现将全年工作安排如下。")
    for line in PLAN_LINES:
        typed.add_paragraph(line)
    typed.save(folder / "typed.docx")
    auto_numbered_plan(folder / "东湖街道2024年工作计划.docx")
    return load_document(folder / "typed.docx"), load_document(folder / "东湖街道2024年工作计划.docx")


def test_an_auto_numbered_plan_reads_as_the_typed_one(typed_and_auto):
    typed, auto = typed_and_auto
    assert squash(auto.text) == squash(typed.text)
    assert "一、2023年工作回顾" in auto.text and "（二）公共服务" in auto.text and "②" in auto.text


def test_auto_numbered_headings_give_the_section_paths_and_items_stay_answerable(typed_and_auto):
    _, auto = typed_and_auto
    chunks = chunk_document(auto.doc_id, auto.text)
    [chunk] = holding(chunks, "新建口袋公园5个")
    assert chunk.section_path == ("一、2023年工作回顾", "（一）城市建设")
    assert "1.新建口袋公园5个" in body(chunk) and "2.完成老旧小区改造12个" in body(chunk)
    [chunk] = holding(chunks, "新增就业岗位860个")
    assert chunk.section_path == ("一、2023年工作回顾", "（二）民生保障")
    assert "（2）新增就业岗位860个" in body(chunk)
    [chunk] = holding(chunks, "养老床位增加150张")
    assert chunk.section_path == ("二、2024年工作安排", "（二）公共服务")


def test_deeper_levels_restart_under_a_new_heading_and_instances_of_one_list_continue():
    document = docx.Document()
    define_list(document, 80, [81, 82, 83], GONGWEN_LEVELS, start_overrides={83: 0})
    numbered(document, "城市管理", 81, 0)
    numbered(document, "拆违", 81, 2)
    numbered(document, "绿化", 81, 2)
    numbered(document, "民生保障", 82, 0)          # another instance of the same list: the count goes on
    numbered(document, "养老", 82, 2)              # and the deeper level starts again
    numbered(document, "新的一章", 83, 0)          # an instance that restarts level 0
    assert docx_text(document).splitlines() == ["一、城市管理", "1.拆违", "2.绿化", "二、民生保障", "1.养老",
                                                "一、新的一章"]


def test_style_numbering_bullets_and_numbering_switched_off():
    document = docx.Document()
    for item in ("甲项", "", "丙项"):       # numbered by its style (the template's list); Word numbers the empty one
        document.add_paragraph(item, style="List Number")
    document.add_paragraph("要点", style="List Bullet")           # a bullet carries no number
    define_list(document, 70, [71], GONGWEN_LEVELS)
    numbered(document, "不编号", 0, 0)                             # numId 0: numbering switched off
    assert docx_text(document).splitlines() == ["1.甲项", "", "3.丙项", "要点", "不编号"]


@pytest.mark.parametrize("number, number_format, shown", [
    (1, "chineseCounting", "一"), (10, "chineseCounting", "十"), (11, "chineseCounting", "十一"),
    (20, "chineseCountingThousand", "二十"), (105, "chineseCounting", "一百零五"), (110, "chineseCounting", "一百一十"),
    (12, "chineseLegalSimplified", "壹拾贰"), (3, "ideographTraditional", "丙"), (2, "decimalEnclosedCircle", "②"),
    (4, "lowerRoman", "iv"), (9, "upperRoman", "IX"), (28, "lowerLetter", "bb"), (7, "decimalZero", "07"),
    (2024, "ideographDigital", "二〇二四"), (5, "someFutureFormat", "5"),
])
def test_numbers_are_drawn_in_their_word_format(number, number_format, shown):
    assert format_number(number, number_format) == shown


@pytest.mark.slow
def test_a_fact_on_an_auto_numbered_item_is_answered_with_its_section_path(tmp_path):
    """Beside the seed documents, the Word plan's numbered item answers its question, cited under 一、 › （一）."""
    from retrieval.encode.encoders import HashingEncoder
    from retrieval.engine import SearchEngine
    from tests.test_engine import copy_corpus

    corpus = copy_corpus(tmp_path / "corpus")
    auto_numbered_plan(corpus / "东湖街道2024年工作计划.docx")
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    result = engine.ask("东湖街道新建了几个口袋公园")
    assert result.answer is not None and result.answer.fact == "5个"
    cited = engine.chunks[result.answer.chunk_id]
    assert cited.doc_id == "东湖街道2024年工作计划.docx"
    assert cited.section_path == ("一、2023年工作回顾", "（一）城市建设")


def test_an_index_of_documents_read_by_the_earlier_reader_reads_them_again_reusing_unchanged_vectors(tmp_path):
    import json
    import shutil

    from retrieval.encode.encoders import HashingEncoder
    from retrieval.engine import SearchEngine
    from retrieval.errors import IndexMismatch
    from retrieval.ingest.readers import READER_VERSION
    from tests.seeds import SEED_001
    from tests.store_fakes import CountingEncoder
    from tests.test_engine import CORPUS

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copyfile(CORPUS / SEED_001, corpus / SEED_001)
    auto_numbered_plan(corpus / "东湖街道2024年工作计划.docx")
    SearchEngine.open(corpus, index, encoder=HashingEncoder(256))
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    del manifest["ingest"]                                   # what an index written before READER_VERSION holds
    (index / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(IndexMismatch, match=f"document reader 1 != {READER_VERSION}"):
        SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")

    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    assert engine.manifest["ingest"]["reader_version"] == READER_VERSION
    assert encoder.documents == [], "every passage text is the same as before: no vector is encoded again"
    assert any(chunk.section_path[:1] == ("一、2023年工作回顾",) for chunk in engine.chunks.values())
