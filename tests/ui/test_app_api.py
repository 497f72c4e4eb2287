"""The app as a process: launch options, login, the request cap, and the `search` API called through gradio_client
and over plain HTTP."""
import http.client
import json
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from gradio_client import Client

from app import parse_users
from ui.auth import READER, User
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


class LogSince:
    """The app's log from where it stood when made: what one test's requests wrote, whatever ran before it."""

    def __init__(self, path):
        self.path = path
        self.start = path.stat().st_size if path.exists() else 0

    def read_text(self, errors: str = "replace") -> str:
        with open(self.path, "rb") as log:
            log.seek(self.start)
            return log.read().decode("utf-8", errors=errors)


@pytest.fixture
def app_log(app_workdir, app_url):
    return LogSince(app_workdir / "app.log")


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


def post_json(url: str, path: str, payload: object) -> tuple[int, dict]:
    """POST a JSON body; the status and the JSON answer (errors included)."""
    request = urllib.request.Request(url + path, data=json.dumps(payload).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def call_over_http(url: str, api_name: str, data: list) -> tuple[str, object]:
    """The documented curl way: POST /gradio_api/call/<name>, then read the event stream; (event, data)."""
    status, joined = post_json(url, f"gradio_api/call/{api_name}", {"data": data})
    assert status == 200, joined
    with urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{joined['event_id']}", timeout=120) as response:
        lines = response.read().decode("utf-8").splitlines()
    event = next(line.removeprefix("event: ") for line in lines if line.startswith("event: "))
    payload = next(json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: "))
    return event, payload


@pytest.fixture(scope="module")
def login_app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("login"), {"APP_USERS": "staff:s3cret-pw,lead:other"}) as url:
        yield url


@pytest.mark.slow
def test_login_is_required_when_app_users_is_set(login_app_url):
    url = login_app_url
    with pytest.raises(Exception):
        Client(url, verbose=False)
    with pytest.raises(Exception):
        Client(url, auth=("staff", "wrong"), verbose=False)
    record = Client(url, auth=("staff", "s3cret-pw"), verbose=False).predict(QUESTION, api_name="/search")
    assert record["results"]["hybrid"][0]["doc"] == WUSONG_DOC


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/gradio_api/run/search", "/gradio_api/upload"])
def test_with_login_on_a_request_is_refused_before_its_body_arrives(login_app_url, path):
    """A client announcing a body it never sends gets its 401 at once: the login is checked before the body is
    read (reading it first would wait for the body until the socket times out)."""
    address = urlsplit(login_app_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", "100000")
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 401 and "请先登录" in json.loads(response.read())["error"]
    finally:
        connection.close()


@pytest.mark.slow
def test_search_over_http_with_only_the_question_takes_the_documented_defaults(app_url, app_log):
    event, payload = call_over_http(app_url, "search", [QUESTION])
    assert event == "complete", payload
    record = payload[0]
    assert all(len(results) == 5 for results in record["results"].values())            # k defaults to 5
    assert record["results"]["hybrid"][0]["doc"] == WUSONG_DOC                           # no organisation or year filter
    assert "3万平方米" in record["answer"]["fact"]
    assert "Traceback" not in app_log.read_text(errors="replace")


@pytest.mark.slow
def test_a_call_without_the_question_names_the_missing_parameter_in_chinese(app_url):
    event, payload = call_over_http(app_url, "search", [])
    assert event == "error" and "少了参数 question" in payload["error"]


@pytest.mark.slow
def test_a_short_call_of_an_event_gets_a_clear_message_and_its_values_stay_out_of_the_log(app_url, app_log):
    marker = "body-marker-" + "x" * 40
    status, answer = post_json(app_url, "gradio_api/run/upload", {"data": [marker]})
    assert status == 500 and "少了参数" in answer["error"] and marker not in answer["error"]
    assert marker not in app_log.read_text(errors="replace")


@pytest.mark.slow
def test_an_error_that_quotes_the_request_is_cut_before_the_log(app_url, app_log):
    """Gradio's refusal of a file path it did not receive quotes the path in a traceback: the log keeps the
    start of that line only."""
    marker = "quoted-body-end"
    fake_file = {"path": "/nowhere/" + "p" * 5000 + marker, "meta": {"_type": "gradio.FileData"}}
    status, _ = post_json(app_url, "gradio_api/run/upload", {"data": [fake_file, ""]})
    assert status == 500
    log = app_log.read_text(errors="replace")
    assert "/nowhere/ppp" in log and marker not in log                      # logged, but cut


@pytest.mark.slow
@pytest.mark.parametrize("path", ["gradio_api/run/upload", "gradio_api/call/upload"])
def test_a_json_body_over_the_cap_to_an_event_named_upload_gets_413_and_stays_out_of_the_log(app_url, app_log, path):
    marker = "oversized-body-" + path.replace("/", "-")
    status, answer = post_json(app_url, path, {"data": [marker + "x" * 300_000]})       # over the 256 KB cap
    assert status == 413 and "请求太大" in answer["error"]
    assert marker not in app_log.read_text(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("arguments, message", [
    ({"question": "吴淞" * 300}, "问题太长（600 字），最多 500 字"),
    ({"question": "吴淞\x00拆违"}, "无法识别的字符"),
    ({"question": "吴淞拆违", "year": -1}, "年份必须是 1949 到 2100 之间的整数，现在是 -1"),
    ({"question": "吴淞拆违", "k": 1000}, "k 必须是 1 到 100 之间的整数"),
    ({"question": "   "}, "请先输入问题"),
    ({"question": "吴淞拆违", "year": "abc"}, "现在是 'abc'"),          # plain text for JSON clients, not &#x27;
    ({"question": "吴淞拆违", "k": "<b>5</b>"}, "现在是 '<b>5</b>'"),
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
