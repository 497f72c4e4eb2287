"""Users and roles, failed-login throttling, the request-size cap, and refusing to serve the network without login."""
import io
import shutil
import subprocess
import sys

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app import CLIENT_ADDRESS, LineCap, RequestGuard, is_loopback
from ui.auth import EDITOR, READER, Authenticator, LoginThrottle, LoginThrottled, User, parse_users
from tests.app_server import ROOT
from tests.fake_indexing import ImmediateQueue
from tests.fakes import FakeEngine
from ui.operations import EngineService
from ui.requests import UserFacingError

WANLI = "万里街道2021年工作计划.txt"
WUSONG = "吴淞街道2021年工作要点.txt"


def test_app_users_carry_an_optional_role_and_passwords_may_contain_colons():
    users = parse_users("alice:pw1:editor, bob:p:w2:reader, carol:p:w3")
    assert users == [User("alice", "pw1", EDITOR), User("bob", "p:w2", READER), User("carol", "p:w3", EDITOR)]


@pytest.mark.parametrize("spec", ["", "alice", "alice:", ":pw", " , ", "alice::reader", "a:x,a:y"])
def test_bad_app_users_are_refused_without_echoing_a_password(spec):
    with pytest.raises(ValueError) as error:
        parse_users(spec)
    assert "APP_USERS" in str(error.value) and "x" not in str(error.value).replace("example", "")


def test_failed_logins_are_throttled_per_user_and_address_and_expire():
    now = [0.0]
    throttle = LoginThrottle(per_user=3, per_address=5, window_seconds=60, clock=lambda: now[0])
    check = Authenticator([User("alice", "right")], throttle, address_of=lambda: address[0])
    address = ["10.0.0.1"]
    assert [check("alice", "wrong") for _ in range(3)] == [False, False, False]
    with pytest.raises(LoginThrottled) as throttled:
        check("alice", "right")                      # even the right password waits now
    assert 0 < throttled.value.retry_after <= 60 and "秒后再试" in str(throttled.value)
    address[0] = "10.0.0.2"
    assert check("alice", "right") is True           # another address is not blocked by this one's failures
    address[0] = "10.0.0.1"
    check_bob = [check("bob", "x") for _ in range(2)]
    assert check_bob == [False, False]
    with pytest.raises(LoginThrottled):
        check("carol", "x")                           # five failures from one address, whatever the names
    now[0] = 61
    assert check("alice", "right") is True


def test_a_reader_may_ask_but_not_upload_delete_restore_or_edit(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in (WANLI, WUSONG):
        shutil.copy(ROOT / "corpus" / name, corpus / name)
    engine = FakeEngine(corpus)
    engine.indexing = ImmediateQueue(engine)
    service = EngineService(engine, corpus, users={"ed": EDITOR, "rita": READER})
    source = tmp_path / "星河街道2022年工作计划.txt"
    source.write_text("星河街道2022年工作计划\n全年新建口袋公园17座。\n", encoding="utf-8")
    assert service.ask("吴淞今年拆违任务多少平方米", None, None, None).answer is not None
    for attempt in (lambda: service.upload(source, source.name, user="rita"),
                    lambda: service.delete(WANLI, user="rita"),
                    lambda: service.update_metadata(WANLI, "万里", "2021", user="rita"),
                    lambda: service.upload(source, source.name, user="stranger")):
        with pytest.raises(UserFacingError, match="只读"):
            attempt()
    assert not (corpus / source.name).exists() and WANLI in engine.documents and service.audit_entries() == []
    assert service.upload(source, source.name, user="ed").job.state == "done"


@pytest.mark.parametrize("host, expected", [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
                                            ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.org", False)])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_serving_the_network_without_login_is_refused_unless_allowed():
    env = {"PATH": "/usr/bin:/bin"}
    refused = subprocess.run([sys.executable, "app.py", "--host", "0.0.0.0", "--port", "1"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "APP_USERS" in refused.stderr and "--allow-anonymous" in refused.stderr


class _LoginApp(Starlette):
    """A stand-in for Gradio's app: where the guard finds the login cookies' name and the tokens of logged-in users."""
    cookie_id = "test"
    tokens = {"token-of-alice": "alice"}


GUARDED_ROUTES = ("/echo", "/login", "/gradio_api/upload", "/gradio_api/run/upload", "/gradio_api/call/upload")


def _guarded_app(max_upload_file: int | None = None, login_required: bool = False, seen: list | None = None):
    """A Starlette app behind RequestGuard (cap 1000 bytes) whose routes echo the size of the body they read."""
    async def echo(request):
        body = await request.body()
        if seen is not None:
            seen.append(request.url.path)
        return PlainTextResponse(f"{len(body)} {CLIENT_ADDRESS.get()}")
    return _LoginApp(routes=[Route(path, echo, methods=["GET", "POST"]) for path in GUARDED_ROUTES],
                     middleware=[Middleware(RequestGuard, max_body=1000, max_upload_file=max_upload_file,
                                            login_required=login_required)])


def test_request_bodies_over_the_cap_get_413_with_a_chinese_message_and_uploads_are_exempt():
    client = TestClient(_guarded_app())
    small = client.post("/echo", content=b"x" * 10)
    assert small.status_code == 200 and small.text.startswith("10 ")          # the client address is known inside
    big = client.post("/echo", content=b"x" * 1001)
    assert big.status_code == 413 and "请求太大" in big.json()["error"]
    assert client.post("/gradio_api/upload", content=b"x" * 5000).status_code == 200


@pytest.mark.parametrize("path", ["/gradio_api/run/upload", "/gradio_api/call/upload", "/gradio_api/run/upload/"])
def test_only_gradios_file_route_is_exempt_not_every_path_ending_in_upload(path):
    """An API call of an event named upload is a JSON body like any other: capped."""
    client = TestClient(_guarded_app())
    response = client.post(path, content=b"x" * 1001)
    assert response.status_code == 413 and "请求太大" in response.json()["error"]
    assert client.post(path, content=b"x" * 10).status_code == 200


def test_the_file_route_is_capped_at_one_file_of_the_upload_limit_with_a_chinese_message():
    client = TestClient(_guarded_app(max_upload_file=4000))
    framing = 1024 * 1024                   # app.UPLOAD_FRAMING_BYTES: the multipart headers around the file
    assert client.post("/gradio_api/upload", content=b"x" * (4000 + framing)).status_code == 200
    refused = client.post("/gradio_api/upload", content=b"x" * (4001 + framing))
    assert refused.status_code == 413 and "文件太大" in refused.json()["error"]


def test_with_login_on_a_body_is_refused_before_it_is_read_unless_logged_in():
    seen: list[str] = []
    client = TestClient(_guarded_app(login_required=True, seen=seen))
    for path in ("/echo", "/gradio_api/upload", "/gradio_api/run/upload"):
        refused = client.post(path, content=b"x" * 10)
        assert refused.status_code == 401 and "请先登录" in refused.json()["error"]
    assert seen == []                                                   # no route ran, so no body was read
    assert client.post("/login", content=b"username=alice&password=pw").status_code == 200      # the login form
    assert client.get("/echo").status_code == 200                        # no body: Gradio checks the login itself
    client.cookies.set("access-token-test", "token-of-alice")
    assert client.post("/echo", content=b"x" * 10).text.startswith("10 ")
    client.cookies.set("access-token-test", "a-forged-token")
    assert client.post("/echo", content=b"x" * 10).status_code == 401


def test_output_lines_are_cut_at_the_cap_so_no_body_reaches_the_log():
    written = io.StringIO()
    stream = LineCap(written, max_chars=10)
    stream.write("short\n")
    stream.write("Received inputs: [")              # one long line written in pieces, as tracebacks are
    stream.write("x" * 500 + "BODY-END]\nnext line\n")
    lines = written.getvalue().splitlines()
    assert lines[0] == "short" and lines[2] == "next line"
    assert lines[1].startswith("Received i") and "BODY-END" not in lines[1]
    assert "其余 517 字未记录" in lines[1]                    # says how much was left out
