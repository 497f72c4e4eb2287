"""validate_request, the one check of a question and its parameters that the engine, the app and the API share."""
from __future__ import annotations

import pytest

from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from retrieval.errors import InvalidQuery
from retrieval.validation import MAX_K, MAX_QUESTION_CHARS, MAX_YEAR, MIN_YEAR, validate_request
from tests.seeds import SEED_001
from tests.store_fakes import copy_seeds

QUESTION = "吴淞今年拆违任务多少平方米"


def test_a_good_request_gives_the_stripped_question():
    assert validate_request(f"  {QUESTION}\n", k=5, year=2021, org=SEED_001) == QUESTION
    assert validate_request("第一行\t第二行", k=MAX_K, year=MAX_YEAR) == "第一行\t第二行"
    assert validate_request("问" * MAX_QUESTION_CHARS, k=1, year=MIN_YEAR) == "问" * MAX_QUESTION_CHARS


@pytest.mark.parametrize("question, says", [
    (QUESTION[:3] + "\ud800" + QUESTION[3:], "surrogate code point (U+D800) at position 3"),
    ("\udfff", "surrogate"),
    (QUESTION + "\x00", "control character U+0000"),
    ("\x1b[31m" + QUESTION, "control character U+001B at position 0"),
    ("   \n ", "empty"),
    ("问" * (MAX_QUESTION_CHARS + 1), f"{MAX_QUESTION_CHARS + 1} characters"),
    (None, "must be text (str), got NoneType"),
    (b"\xe5\x90\xb4", "got bytes"),
    (["吴淞"], "got list"),
])
def test_an_unusable_question_is_refused_with_the_reason(question, says):
    with pytest.raises(InvalidQuery, match=says.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        validate_request(question)


@pytest.mark.parametrize("k", [0, MAX_K + 1, -3, 2.5, "5", True, None])
def test_k_must_be_a_whole_number_in_range(k):
    with pytest.raises(InvalidQuery, match=f"k must be an integer between 1 and {MAX_K}"):
        validate_request(QUESTION, k=k)


@pytest.mark.parametrize("year", [-1, 0, MIN_YEAR - 1, MAX_YEAR + 1, "2021", 2021.0, True])
def test_a_year_out_of_range_or_of_the_wrong_type_is_refused(year):
    """year=-1 used to filter every passage out and answer 未找到 without saying why."""
    with pytest.raises(InvalidQuery, match="year must be None or an integer between"):
        validate_request(QUESTION, year=year)


@pytest.mark.parametrize("org", [3, "", "a" * 300, "吴淞\x00.txt", ("x",)])
def test_an_org_that_cannot_be_a_document_id_is_refused(org):
    with pytest.raises(InvalidQuery, match="org must be"):
        validate_request(QUESTION, org=org)


def test_the_engine_checks_at_its_boundary(tmp_path):
    engine = SearchEngine.open(copy_seeds(tmp_path / "corpus", (SEED_001,)), tmp_path / "index",
                               encoder=HashingEncoder(256))
    with pytest.raises(InvalidQuery, match="surrogate"):
        engine.ask(QUESTION + "\udc80")
    with pytest.raises(InvalidQuery, match="control character"):
        engine.search(QUESTION + "\x07", k=3)
    with pytest.raises(InvalidQuery, match="must be text"):
        engine.ask(12345)
    with pytest.raises(InvalidQuery, match="year must be"):
        engine._check_question(QUESTION, 5, year=-1)
    assert engine._check_question(f" {QUESTION} ", 5, year=2021, org=SEED_001) == QUESTION
