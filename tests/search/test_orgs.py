"""Which organisations and places an (invented) question names: the corpus's own names, China's divisions and
names shaped like an organisation, and which of them the corpus holds."""
from __future__ import annotations

import pytest

from retrieval.search.orgs import OrganisationMatcher, unknown_organisations
from retrieval.types import DocumentMeta


def meta(doc_id, org, aliases, level="", parents=()):
    return DocumentMeta(doc_id=doc_id, title=doc_id, org=org, aliases=aliases, years=(2025,), kind="计划",
                        sha256="0" * 64, level=level, parents=parents)


@pytest.fixture(scope="module")
def matcher():
    return OrganisationMatcher({
        "hunan.txt": meta("hunan.txt", "湖南", ("湖南省",), "省"),
        "wusong.txt": meta("wusong.txt", "吴淞", ("吴淞街道",), "街道", ("上海市", "宝山区")),
        "zone.txt": meta("zone.txt", "祥云经开区", ("祥云经济开发区",), "开发区", ("云南省", "大理白族自治州", "祥云县")),
    })


def scope(matcher, question):
    return [(place.label, place.doc_ids) for place in matcher.named_places(question)]


@pytest.mark.parametrize("question, expected", [
    ("湘今年粮食产量目标多少", [("湖南省", ("hunan.txt",))]),                     # the abbreviation of a held province
    ("宝山区吴淞街道今年拆违多少", [("吴淞街道", ("wusong.txt",))]),            # the district is its context
    ("上海吴淞今年拆违多少", [("吴淞", ("wusong.txt",))]),
    ("湖南长沙今年GDP增长多少", [("长沙市", ())]),                             # inside the held province: not held
    ("株洲市去年城镇新增就业多少", [("株洲市", ())]),
    ("浙今年GDP增速目标", [("浙江省", ())]),
    ("云南祥云经开区今年的目标", [("祥云经开区", ("zone.txt",))]),
    ("近邻街道今年拆违多少", [("近邻街道", ())]),
    ("市发改委今年的重点项目有哪些", [("发改委", ())]),
])
def test_places_a_question_names_and_whether_the_corpus_holds_them(matcher, question, expected):
    assert scope(matcher, question) == expected


@pytest.mark.parametrize("question", [
    "深化开发区管理制度改革有哪些举措",
    "宜居宜业和美乡村建设目标",
    "常住人口城镇化率提高多少",
    "构建新发展格局的举措",
    "吴淞科普示范居委今年要创几个",              # 居委 is a word, 吴淞 the corpus's
    "今年新的目标有哪些",
    "推动苏式糕点走向全国",
    "人民路今年要改造多少米",
])
def test_ordinary_phrases_name_no_unheld_place(matcher, question):
    assert all(place.doc_ids for place in matcher.named_places(question))


def test_organisation_shaped_names_whatever_their_part_of_speech():
    assert unknown_organisations("石门二路街道今年拆违多少", ()) == ["石门二路街道"]
    assert unknown_organisations("请问桃源镇今年有什么安排", ()) == ["桃源镇"]
    assert unknown_organisations("全镇今年拆违多少", ()) == []
    assert unknown_organisations("国家高新区有哪些", ()) == []
