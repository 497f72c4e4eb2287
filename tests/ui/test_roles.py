"""Users and roles, failed-login throttling, the request-size cap, and refusing to serve the network without login."""
import shutil
import subprocess
import sys

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app import CLIENT_ADDRESS, RequestGuard, is_loopback
from ui.auth import EDITOR, READER, Authenticator, LoginThrottle, LoginThrottled, User, parse_users
from tests.app_server import ROOT
from tests.fake_indexing import ImmediateQueue
from tests.fakes import FakeEngine
from ui.service import EngineService, UserFacingError

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


def _guarded_app():
    async def echo(request):
        body = await request.body()
        return PlainTextResponse(f"{len(body)} {CLIENT_ADDRESS.get()}")
    return Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/gradio_api/upload", echo, methods=["POST"])],
                     middleware=[Middleware(RequestGuard, max_body=1000)])


def test_request_bodies_over_the_cap_get_413_with_a_chinese_message_and_uploads_are_exempt():
    client = TestClient(_guarded_app())
    small = client.post("/echo", content=b"x" * 10)
    assert small.status_code == 200 and small.text.startswith("10 ")          # the client address is known inside
    big = client.post("/echo", content=b"x" * 1001)
    assert big.status_code == 413 and "请求太大" in big.json()["error"]
    assert client.post("/gradio_api/upload", content=b"x" * 5000).status_code == 200
