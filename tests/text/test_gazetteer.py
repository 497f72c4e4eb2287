"""China's divisions read from jionlp's location dictionary: levels, codes, parent chains, short names and
abbreviations, and the places an (invented) question names."""
from __future__ import annotations

import pytest

from retrieval.text.gazetteer import (COUNTY, PROVINCE, STREET, TOWN, Place, gazetteer, load_abbreviations,
                                 parse_locations)

SAMPLE = ("浙江省\t330000\t浙江\n\t温州市\t330300\t温州\n\t\t鹿城区\t330302\t鹿城\n\t\t\t五马街道\n\t\t\t\t某社区\n"
          "\t\t\t藤桥镇\n\t\t\t开发区\n上海市\t310000\t上海\n\t上海市\t310000\t上海\n\t\t宝山区\t310113\t宝山\n"
          "\t\t\t吴淞街道\n")


def test_the_tree_gives_levels_codes_and_parent_chains():
    places = {place.full: place for place in parse_locations(SAMPLE)}
    assert places["温州市"] == Place("温州市", "市", "330300", ("浙江省",), "温州")
    assert places["五马街道"] == Place("五马街道", STREET, "", ("浙江省", "温州市", "鹿城区"), "五马")
    assert places["藤桥镇"].level == TOWN
    # A 直辖市 is its own city: it appears once in the chain.
    assert places["吴淞街道"].parents == ("上海市", "宝山区")
    assert places["宝山区"].level == COUNTY and places["宝山区"].code == "310113"
    assert "某社区" not in places and "开发区" not in places       # villages and bare type words are no places


def test_abbreviations_table_covers_every_province_level_division():
    table = load_abbreviations()
    assert len(set(table.values())) == 34
    assert table["苏"] == "江苏省" and table["龙江"] == "黑龙江省" and table["黔"] == table["贵"] == "贵州省"


@pytest.fixture(scope="module")
def places():
    return gazetteer()


def test_real_divisions_are_found_with_their_chain(places):
    wusong = places.resolve("吴淞街道", ("宝山区",))
    assert wusong.parents == ("上海市", "宝山区") and wusong.level == STREET
    guangxi = places.resolve("广西")
    assert guangxi.full == "广西壮族自治区" and guangxi.level == PROVINCE and guangxi.code == "450000"
    assert places.resolve("温州市").parents == ("浙江省",)


def names_in(places, text):
    return [(mention.name, mention.places[0].full) for mention in places.places_in(text)]


@pytest.mark.parametrize("question, expected", [
    ("浙江今年城镇新增就业目标多少？", [("浙江", "浙江省")]),
    ("温州市去年地区生产总值是多少", [("温州市", "温州市")]),
    ("温州今年GDP增速多少", [("温州", "温州市")]),
    ("苏2025年粮食产量多少", [("苏", "江苏省")]),
    ("鄂今年财政收入增长多少", [("鄂", "湖北省")]),
    ("宝山区吴淞街道今年拆违多少", [("宝山区", "宝山区"), ("吴淞街道", "吴淞街道")]),
    ("广西壮族自治区今年的目标", [("广西壮族自治区", "广西壮族自治区")]),
])
def test_places_a_question_names(places, question, expected):
    assert names_in(places, question) == expected


@pytest.mark.parametrize("text", [
    "推动苏式糕点走向全国",          # 苏 inside a word
    "今年新的目标有哪些",            # 新 is not 新疆
    "宜居宜业和美乡村建设",          # 和美乡 is no township
    "深化开发区管理制度改革",        # nor a bare 开发区
    "云计算中心建设进展",            # 云 is not 云南
])
def test_abbreviations_and_type_words_inside_words_name_no_place(places, text):
    assert places.places_in(text) == []


def test_a_short_name_that_is_an_ordinary_word_needs_the_caller_to_accept_it(places):
    ordinary = {"光明"}.__contains__
    assert names_in(places, "光明今年拆违多少") and not places.places_in("光明今年拆违多少", is_ordinary_word=ordinary)


def test_word_boundaries_keep_a_full_name_inside_a_longer_word_out(places):
    text = "北京市民关心的事"
    assert [m.name for m in places.places_in(text)] == ["北京市"]
    # 北京|市民: the words say 北京 is named, by its short name, not 北京市.
    assert [(m.name, m.full_name) for m in places.places_in(text, boundaries={0, 2, 4, 5, 6, 7, 8})] == [("北京", False)]


def test_a_short_name_right_after_its_province_stands_as_a_place(places):
    assert names_in(places, "浙江温州今年GDP增速多少") == [("浙江", "浙江省"), ("温州", "温州市")]
    # Inside running words it does not: 温州 here is part of nothing standing as a place.
    assert names_in(places, "推进温州模式的经验") == []


def test_a_road_is_not_the_street_office_named_after_it(places):
    """人民路街道 is a street office; 人民路 alone is the road (the corpus's own aliases name such offices)."""
    assert places.places_in("人民路今年要改造多少米") == []
    assert names_in(places, "人民路街道今年要改造多少米")[0][0] == "人民路街道"
