"""An answer comes only from the organisation asked about: never another organisation's figure, whether the
organisation is named by an alias, in traditional characters, or is one the corpus does not hold."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from tests.seeds import CORPUS, SEED_001, SEED_002

WEB_DEV = Path(__file__).resolve().parents[3] / "shared" / "eval" / "web-dev" / "docs"
SHIQIAO = "市桥街道2021年工作总结.txt"
SHUCHENG = "舒城经济开发区2021年工作计划.txt"
PROVINCE = "2021年湖南省政府工作报告.txt"
# Made up for these tests (figures and names invented); a province's report that names its cities and a town.
PROVINCE_REPORT = (
    "2021年湖南省政府工作报告\n——2021年1月20日在湖南省第十三届人民代表大会第四次会议上\n湖南省人民政府省长 李明远\n"
    "各位代表：\n现在，我代表省人民政府向大会报告工作，请予审议。\n一、2020年工作回顾\n"
    "过去一年，全省地区生产总值增长3.8%，长沙市、株洲市拆违面积合计8万平方米，韶山市清溪镇建成特色小镇。\n"
    "二、2021年主要目标\n今年全省地区生产总值增长6.5%以上，城镇新增就业70万人以上，全年拆违任务6万平方米。\n")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """The seeds plus two real web documents of other organisations, with the fast fake encoder."""
    if not WEB_DEV.is_dir():
        pytest.skip(f"web-dev documents not found at {WEB_DEV}")
    root = tmp_path_factory.mktemp("scoping")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in CORPUS.iterdir():
        if path.is_file():
            shutil.copyfile(path, corpus / path.name)
    for name in (SHIQIAO, SHUCHENG):
        shutil.copyfile(WEB_DEV / name, corpus / name)
    (corpus / PROVINCE).write_text(PROVINCE_REPORT, encoding="utf-8")
    return SearchEngine.open(corpus, root / "index", encoder=HashingEncoder())


def answer_doc(engine, result) -> str | None:
    return None if result.answer is None else result.chunks[result.answer.chunk_id].doc_id


def test_the_named_organisation_is_answered(engine):
    result = engine.ask("吴淞今年拆违任务多少平方米")
    assert result.answer is not None and result.answer.fact == "3万平方米"
    assert answer_doc(engine, result) == SEED_001


def test_traditional_characters_find_the_same_organisation(engine):
    result = engine.ask("吳淞今年拆違任務多少平方米")
    assert result.analysis.orgs == (SEED_001,)
    assert result.answer is not None and result.answer.fact == "3万平方米"
    assert answer_doc(engine, result) == SEED_001


def test_an_organisation_the_corpus_lacks_gets_not_found(engine):
    result = engine.ask("火星街道今年拆违任务多少平方米")
    assert result.answer is None
    assert "火星街道" in result.scope_note


def test_another_organisations_figure_is_never_the_answer(engine):
    # 舒城's plan has a 固定资产投资 figure; 市桥's summary has none.
    result = engine.ask("市桥街道2021年固定资产投资增长了多少")
    assert result.analysis.orgs == (SHIQIAO,)
    assert answer_doc(engine, result) in (None, SHIQIAO)
    if result.answer is None:
        assert "市桥街道" in result.scope_note
    # The asked organisation's passages come first.
    assert result.chunks[result.hits[0].chunk_id].doc_id == SHIQIAO


def test_a_plan_without_the_fact_is_not_answered_from_another_plan(engine):
    result = engine.ask("万里今年拆违任务多少平方米")
    assert answer_doc(engine, result) in (None, SEED_002)
    assert result.answer is None or result.answer.fact not in ("3万平方米", "5万平方米")


def test_a_year_the_organisation_does_not_cover_gets_not_found(engine):
    result = engine.ask("吴淞2015年拆违任务多少平方米")
    assert result.answer is None
    assert "吴淞" in result.scope_note and "2015" in result.scope_note


def test_a_question_naming_no_organisation_may_be_answered_from_any(engine):
    result = engine.ask("今年拆违任务多少平方米")
    assert result.analysis.asked_org == ""
    assert result.scope_note == ""


def test_a_province_is_answered_by_name_and_by_abbreviation(engine):
    for question in ("湖南今年地区生产总值增长目标是多少？", "湘今年地区生产总值增长目标是多少？"):
        result = engine.ask(question)
        assert result.analysis.orgs == (PROVINCE,)
        assert result.answer is not None and answer_doc(engine, result) == PROVINCE


@pytest.mark.parametrize("question, place", [
    ("长沙市今年拆违任务多少平方米", "长沙市"),            # a city inside the province the corpus holds
    ("湖南长沙今年拆违任务多少平方米", "长沙市"),          # … named after its province
    ("温州今年拆违任务多少平方米", "温州市"),              # a city of another province
    ("清溪镇今年拆违任务多少平方米", "清溪镇"),            # a real town, named in the province's report
    ("石门二路街道今年拆违任务多少平方米", "石门二路街道"),  # a street office the gazetteer lacks
    ("近邻街道今年拆违任务多少平方米", "近邻街道"),
    ("教育局今年拆违任务多少平方米", "教育局"),            # a department
])
def test_a_place_the_corpus_does_not_hold_gets_not_found(engine, question, place):
    result = engine.ask(question)
    assert result.analysis.orgs == ()
    assert result.answer is None
    assert result.scope_note == f"文档中没有{place}的这项数据"


def test_a_covering_report_may_be_listed_but_never_answers(engine):
    result = engine.ask("长沙市去年拆违面积多少平方米")
    assert result.answer is None
    listed = {result.chunks[hit.chunk_id].doc_id for hit in result.hits}
    assert PROVINCE in listed                           # the province's passage naming 长沙市, shown as another's


@pytest.mark.parametrize("question", [
    "深化园区管理制度改革有哪些举措？",            # (开发区 alone is an alias of the seed zone)
    "宜居宜业和美乡村怎么建？",
    "常住人口城镇化率是多少？",
    "今年新的目标有哪些？",
])
def test_phrases_that_look_like_places_scope_nothing(engine, question):
    assert engine.ask(question).analysis.asked_org == ""


def test_an_organisation_whose_documents_were_deleted_is_no_longer_in_the_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in CORPUS.iterdir():
        if path.is_file():
            shutil.copyfile(path, corpus / path.name)
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder())
    assert engine.ask("吴淞今年拆违任务多少平方米").answer is not None
    engine.remove_document(SEED_001)
    result = engine.ask("吴淞今年拆违任务多少平方米")
    assert result.answer is None and result.analysis.orgs == ()
    assert result.scope_note == "文档中没有吴淞街道的这项数据"
