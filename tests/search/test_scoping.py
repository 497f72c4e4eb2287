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
