"""Query analysis against the corpus metadata (whose plan, which year, what kind of answer), and amounts in answers."""
from __future__ import annotations

import shutil

import pytest

from retrieval.answer.select import quantities
from retrieval.corpus.files import load_corpus
from retrieval.search.query import analyze_query, asked_unit, strip_organisations
from tests.seeds import CORPUS, SEED_000, SEED_001, SEED_002, SEED_003, SEED_004



@pytest.fixture(scope="module")
def metas(tmp_path_factory):
    """DocumentMeta of every seed, from a private copy of the corpus (metadata.yaml included)."""
    copy = tmp_path_factory.mktemp("corpus")
    for path in CORPUS.iterdir():
        if path.is_file():
            shutil.copyfile(path, copy / path.name)
    loaded = load_corpus(copy)
    assert not loaded.errors
    return {doc_id: document.meta for doc_id, document in loaded.documents.items()}


def test_wusong_demolition_question(metas):
    analysis = analyze_query("吴淞今年拆违任务多少平方米", metas)
    assert analysis.orgs == (SEED_001,)
    assert analysis.answer_kind == "quantity"
    assert analysis.unit == "平方米"
    assert analysis.years == () and analysis.half == ""


def test_alias_from_metadata_yaml_routes_to_the_anonymous_street(metas):
    analysis = analyze_query("西岸那个街道下半年要改造几个老旧小区电梯", metas)
    assert analysis.orgs == (SEED_003,)
    assert analysis.half == "下半年"
    assert analysis.unit == "个"


def test_development_zone_with_a_year(metas):
    analysis = analyze_query("经开区2020年规上工业总产值是多少亿元", metas)
    assert analysis.orgs == (SEED_004,)
    assert analysis.years == (2020,)
    assert analysis.unit == "亿元"


@pytest.mark.parametrize("question, doc_id", [
    ("普陀万里今年的目标是什么", SEED_002),
    ("万里街道怎么推进城市更新", SEED_002),
    ("宝山那边垃圾分类怎么做", SEED_001),
    ("崇川永兴的招商目标", SEED_000),
    ("日晖一带的防疫措施", SEED_003),
])
def test_organisation_names_and_aliases(metas, question, doc_id):
    assert analyze_query(question, metas).orgs == (doc_id,)


def test_question_naming_no_organisation_has_no_orgs(metas):
    assert analyze_query("老旧小区电梯加装进展如何", metas).orgs == ()


def test_two_organisations_are_both_found(metas):
    assert set(analyze_query("吴淞和永兴的拆违任务各是多少", metas).orgs) == {SEED_001, SEED_000}


def test_placeholder_org_name_is_not_an_alias(metas):
    """"某街道" is an anonymised name, not a way to call seed 003."""
    assert SEED_003 not in analyze_query("某街道今年有什么计划", metas).orgs


@pytest.mark.parametrize("question, unit", [
    ("永兴今年改造了几个小区", "个"),
    ("万里街道2021年安排了多少钱", "元"),
    ("吴淞今年拆违任务多少平方米", "平方米"),
    ("经开区招商接待了多少批次客商", "批次"),
    ("绿化面积多大", "平方米"),
    ("吴淞垃圾分类的比例是多少", "%"),
])
def test_asked_unit(question, unit):
    assert asked_unit(question) == unit


@pytest.mark.parametrize("question, kind", [
    ("永兴今年改造了几个小区", "quantity"),
    ("吴淞的营商服务手册叫什么", "entity"),
    ("吴淞有哪些举措", "list"),
    ("介绍一下万里街道的工作", "other"),
])
def test_answer_kind(metas, question, kind):
    analysis = analyze_query(question, metas)
    assert analysis.answer_kind == kind
    if kind != "quantity":
        assert analysis.unit == ""


def test_strip_organisations_removes_names_and_keeps_the_topic(metas):
    stripped = strip_organisations("吴淞街道今年拆违任务多少平方米", metas.values())
    assert "吴淞" not in stripped
    assert "拆违任务多少平方米" in stripped


# --- quantities -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2021年完成3万平方米年度拆违任务", ["3万平方米"]),
    ("新增非机动车停车位约2500辆", ["约2500辆"]),
    ("全年完成政府投资9.06亿元", ["9.06亿元"]),
    ("2021年是建党100周年", []),
    ("2020年度工作总结", []),
    ("3月15日前完成", []),
    ("历时10年，同比增长12.5%", ["10年", "12.5%"]),
])
def test_quantities_are_amounts_not_years(text, expected):
    assert [m.group() for m in quantities(text)] == expected


def test_a_question_asking_which_organisation_is_flagged():
    """"哪个街道…" without naming one asks whose plan it is; naming one, it does not."""
    from retrieval.search.query import analyze_query as analyze

    metas = {doc_id: doc.meta for doc_id, doc in load_corpus(CORPUS).documents.items()}
    assert analyze("哪个街道要建2.5公里夜跑环道？", metas).asks_organisation
    assert not analyze("万里是哪个街道的？", metas).asks_organisation
    assert not analyze("吴淞今年拆违任务多少平方米", metas).asks_organisation


def test_a_search_without_answer_skips_only_the_asked_noun(metas):
    """The BM25/dense-only path (with_asked_noun=False) reads the same organisations, years and kind."""
    question = "吴淞2021年要管理多少家沿街店铺"
    full = analyze_query(question, metas)
    lean = analyze_query(question, metas, with_asked_noun=False)
    assert full.asked_noun and not lean.asked_noun
    assert (lean.orgs, lean.years, lean.answer_kind, lean.unit, lean.asked_org) == \
        (full.orgs, full.years, full.answer_kind, full.unit, full.asked_org)
    assert lean.orgs == (SEED_001,)
