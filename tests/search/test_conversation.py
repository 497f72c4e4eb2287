"""Follow-up resolution: a short follow-up borrows the organisation, year or topic of the previous question."""
import pytest

from retrieval.search.conversation import resolve_followup
from retrieval.types import QueryAnalysis

# doc_id -> names, canonical first; shaped like the seed corpus metadata.
ORG_NAMES = {
    "吴淞街道2021年工作要点.txt": ("吴淞", "吴淞街道"),
    "万里街道2021年工作计划.txt": ("万里", "万里街道"),
    "永兴街道2021年工作规划.txt": ("永兴", "永兴街道"),
    "某开发区2020年工作总结和2021年工作思路.txt": ("经开区", "某开发区", "开发区"),
    "某街道2020年下半年工作计划.txt": ("西岸街道", "西岸"),
}


def analyze(question: str) -> QueryAnalysis:
    """A stand-in for SearchEngine.analyze: an organisation is named when one of its names occurs."""
    orgs = tuple(doc for doc, names in ORG_NAMES.items() if any(name in question for name in names))
    return QueryAnalysis(text=question, orgs=orgs)


def resolve(question, previous):
    return resolve_followup(question, previous, analyze, ORG_NAMES)


def test_org_only_followup_swaps_the_organisation_and_keeps_the_topic():
    assert resolve("那万里呢？", "吴淞今年拆违任务多少平方米") == "万里今年拆违任务多少平方米"


@pytest.mark.parametrize("followup", ["那万里街道呢？", "万里呢", "换成万里的", "那么万里的情况怎么样？", "万里是多少"])
def test_any_wording_and_any_alias_of_an_organisation_works(followup):
    assert resolve(followup, "吴淞今年拆违任务多少平方米").endswith("今年拆违任务多少平方米")
    assert resolve(followup, "吴淞今年拆违任务多少平方米").startswith("万里")


def test_the_alias_in_the_previous_question_is_replaced_whole():
    assert resolve("那永兴呢", "吴淞街道今年拆违任务多少平方米") == "永兴今年拆违任务多少平方米"


def test_chained_followups_work_from_the_resolved_previous_question():
    first = resolve("那万里呢？", "吴淞今年拆违任务多少平方米")
    assert resolve("永兴呢？", first) == "永兴今年拆违任务多少平方米"


def test_year_only_followup_swaps_the_year():
    assert resolve("那2020年呢？", "经开区2021年税收总收入大概多少？") == "经开区2020年税收总收入大概多少？"


def test_org_and_year_followup_swaps_both():
    assert resolve("那万里2020年呢", "吴淞今年拆违任务多少平方米") == "万里2020年拆违任务多少平方米"


def test_org_followup_after_a_question_without_organisation_puts_it_in_front():
    assert resolve("那万里呢？", "今年拆违任务多少平方米") == "万里今年拆违任务多少平方米"


def test_topic_only_followup_inherits_organisation_and_year():
    assert resolve("那垃圾分类呢？", "吴淞今年拆违任务多少平方米") == "吴淞今年垃圾分类？"
    assert analyze(resolve("还有绿化覆盖率是多少？", "万里街道2021年老旧小区改造几个")).orgs == (
        "万里街道2021年工作计划.txt",
    )


def test_a_question_naming_its_own_organisation_and_topic_is_left_as_is():
    question = "永兴今年一共排了多少项具体任务？"
    assert resolve(question, "吴淞今年拆违任务多少平方米") == question


def test_first_turn_and_empty_followups_are_left_as_is():
    assert resolve("吴淞今年拆违任务多少平方米", None) == "吴淞今年拆违任务多少平方米"
    assert resolve("呢？", "吴淞今年拆违任务多少平方米") == "呢？"


def test_a_question_comparing_organisations_is_not_narrowed_to_the_previous_one():
    question = "哪个街道的拆违任务最多？"
    assert resolve(question, "吴淞今年拆违任务多少平方米") == question


def test_topic_followup_after_a_question_without_organisation_is_left_as_is():
    assert resolve("垃圾分类呢？", "今年拆违任务多少平方米") == "垃圾分类呢？"


def test_a_longer_alias_wins_over_the_name_it_contains():
    # "某开发区" contains "开发区": the whole alias is the mention, so nothing of it is left behind.
    assert resolve("那吴淞呢", "某开发区2020年税收总收入大概多少？") == "吴淞2020年税收总收入大概多少？"
