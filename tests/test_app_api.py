"""The app as a process: launch options, login, and the `search` API called through gradio_client."""
import subprocess
import sys

import pytest
from gradio_client import Client

from app import parse_users
from retrieval.users import READER, User
from tests.app_server import ROOT, running_app

QUESTION = "吴淞今年拆违任务多少平方米"
WUSONG_DOC = "吴淞街道2021年工作要点.txt"
RESULT_FIELDS = {"rank", "chunk_id", "doc", "title", "section", "text", "score"}
ANSWER_FIELDS = {"text", "chunk_id", "span", "confidence", "fact"}


def test_parse_users_reads_name_password_pairs():
    assert parse_users("alice:pw1, bob:p:w2:reader") == [User("alice", "pw1"), User("bob", "p:w2", READER)]


@pytest.mark.parametrize("spec", ["", "alice", "alice:", ":pw", " , "])
def test_parse_users_rejects_entries_without_name_and_password(spec):
    with pytest.raises(ValueError) as error:
        parse_users(spec)
    assert "APP_USERS" in str(error.value) and "pw" not in str(error.value).replace("password", "")


def test_help_names_the_options_and_the_loopback_default():
    usage = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for option in ("--host", "--port", "--corpus", "--index", "--allow-anonymous"):
        assert option in usage
    assert "127.0.0.1" in usage


@pytest.fixture(scope="module")
def app_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="module")
def app_url(app_workdir):
    with running_app(app_workdir) as url:
        yield url


@pytest.fixture
def app_log(app_workdir):
    return app_workdir / "app.log"


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


@pytest.mark.slow
def test_only_search_compare_and_indexing_status_are_named_api_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/search", "/compare", "/indexing_status"}
    parameters = [p["parameter_name"] for p in endpoints["/search"]["parameters"]]
    assert parameters == ["question", "k", "organisation", "year"]
    assert [p["parameter_name"] for p in endpoints["/compare"]["parameters"]] == ["question"]


@pytest.mark.slow
def test_compare_returns_one_row_per_street_each_from_its_own_plan(client):
    record = client.predict("各街道今年拆违任务分别是多少？", api_name="/compare")
    assert record["comparison"] is True
    rows = {row["organisation"]: row for row in record["rows"]}
    assert rows["吴淞"]["value"] == "3万平方米" and rows["吴淞"]["doc"] == WUSONG_DOC
    assert rows["万里"]["value"] is None and rows["万里"]["doc"] is None          # 未找到, never another's figure
    assert not any("开发区" in name for name in rows)
    normal = client.predict(QUESTION, api_name="/compare")
    assert normal == {"question": QUESTION, "comparison": False, "rows": []}


@pytest.mark.slow
def test_search_returns_a_runs_jsonl_record_with_the_wusong_answer_on_top(client):
    record = client.predict(QUESTION, api_name="/search")
    assert set(record) >= {"id", "question", "answer", "results"}
    assert record["question"] == QUESTION and record["id"] is None
    assert set(record["answer"]) >= ANSWER_FIELDS
    assert "3万平方米" in record["answer"]["fact"] and "3万平方米" in record["answer"]["text"]
    assert set(record["results"]) == {"hybrid", "bm25", "dense"}
    for leg, results in record["results"].items():
        assert len(results) == 5, leg
        assert [item["rank"] for item in results] == [1, 2, 3, 4, 5]
        assert all(set(item) >= RESULT_FIELDS for item in results)
    top = record["results"]["hybrid"][0]
    assert top["doc"] == WUSONG_DOC
    assert top["chunk_id"] == record["answer"]["chunk_id"]
    assert "3万平方米" in top["text"]
    assert top["section"].startswith("二、") and " › " in top["section"]


@pytest.mark.slow
def test_search_takes_k_organisation_and_year(client):
    record = client.predict(QUESTION, k=3, organisation="万里", year=2021, api_name="/search")
    assert all(len(results) == 3 for results in record["results"].values())
    assert {item["doc"] for item in record["results"]["hybrid"]} == {"万里街道2021年工作计划.txt"}
    assert record["answer"] is None or record["answer"]["chunk_id"] in {i["chunk_id"] for i in record["results"]["hybrid"]}


@pytest.mark.slow
def test_search_rejects_an_unknown_organisation_with_a_chinese_message(client):
    with pytest.raises(Exception) as error:
        client.predict(QUESTION, organisation="火星街道", api_name="/search")
    assert "找不到单位「火星街道」" in str(error.value) and "吴淞" in str(error.value)


@pytest.mark.slow
def test_login_is_required_when_app_users_is_set(tmp_path):
    with running_app(tmp_path, {"APP_USERS": "staff:s3cret-pw,lead:other"}) as url:
        with pytest.raises(Exception):
            Client(url, verbose=False)
        with pytest.raises(Exception):
            Client(url, auth=("staff", "wrong"), verbose=False)
        record = Client(url, auth=("staff", "s3cret-pw"), verbose=False).predict(QUESTION, api_name="/search")
        assert record["results"]["hybrid"][0]["doc"] == WUSONG_DOC


@pytest.mark.slow
@pytest.mark.parametrize("arguments, message", [
    ({"question": "吴淞" * 300}, "问题太长（600 字），最多 500 字"),
    ({"question": "吴淞\x00拆违"}, "无法识别的字符"),
    ({"question": "吴淞拆违", "year": -1}, "年份必须是 1949 到 2100 之间的整数，现在是 -1"),
    ({"question": "吴淞拆违", "k": 1000}, "k 必须是 1 到 100 之间的整数"),
    ({"question": "   "}, "请先输入问题"),
])
def test_search_refuses_bad_input_with_the_apps_chinese_messages(client, arguments, message):
    with pytest.raises(Exception) as error:
        client.predict(**arguments, api_name="/search")
    assert message in str(error.value)


@pytest.mark.slow
def test_indexing_status_reports_jobs_and_the_corpus_version(client):
    status = client.predict(api_name="/indexing_status")
    assert status["documents"] == 5 and len(status["corpus_version"]) > 8
    assert isinstance(status["jobs"], list) and status["dense_pending"] == []


@pytest.mark.slow
def test_a_user_error_is_one_log_line_not_a_traceback(client, app_url, app_log):
    with pytest.raises(Exception):
        client.predict("吴淞拆违", year=-1, api_name="/search")
    log = app_log.read_text(errors="replace")
    assert "year must be None or an integer" in log and "Traceback" not in log
