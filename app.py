"""Start the web app: `python app.py [--host 127.0.0.1] [--port 7860] [--corpus DIR] [--index DIR] [--allow-anonymous]
[--backend local|milvus] [--milvus-uri PATH.db|http://host:19530]`.

Binds to 127.0.0.1 unless --host says otherwise. With APP_USERS="name:password[:editor|reader],…" set,
every page and the API require a login; readers ask and evaluate, editors also change documents.
Another address than loopback without APP_USERS is refused unless --allow-anonymous is given.
"""
from __future__ import annotations

import argparse
import contextvars
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Sequence

from ui.auth import Authenticator, LoginThrottled, User, parse_users

# Request bodies larger than this are refused with 413 (questions are at most 500 characters). Gradio's file
# upload route (and only it) takes more: one file of at most the upload limit, plus its multipart framing.
MAX_REQUEST_BYTES = 256 * 1024
UPLOAD_ROUTE = "/gradio_api/upload"
UPLOAD_FRAMING_BYTES = 1024 * 1024
LOGIN_ROUTES = ("/login",)          # the one route that takes a body before login: the login form itself
BODY_METHODS = ("POST", "PUT", "PATCH")
MB = 1024 * 1024
# No line the server writes (log records, the tracebacks Gradio prints) is longer than this: an error message that
# quotes the request it failed on cannot copy a body into the log.
MAX_OUTPUT_LINE_CHARS = 2000
LOOPBACK_NAMES = ("localhost",)
CLIENT_ADDRESS: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="unknown")

__all__ = ["main", "parse_users", "is_loopback", "RequestGuard"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost; False for 0.0.0.0, :: and every other address."""
    if host.strip().lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LineCap:
    """A text stream that writes at most max_chars of each line (then a note of how much was left out)."""

    CUT = " …（其余 {} 字未记录）"

    def __init__(self, stream, max_chars: int = MAX_OUTPUT_LINE_CHARS):
        self.stream = stream
        self.max_chars = max_chars
        self.column = 0             # characters of the current line seen so far, written or not
        self.cut = 0                # characters of the current line left out

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            line = piece.rstrip("\r\n")
            room = max(0, self.max_chars - self.column)
            out.append(line[:room])
            self.cut += max(0, len(line) - room)
            self.column += len(line)
            if line != piece:                       # the line ends here
                out.append((self.CUT.format(self.cut) if self.cut else "") + piece[len(line):])
                self.column = self.cut = 0
        self.stream.write("".join(out))
        return len(text)

    def __getattr__(self, name):                    # flush, fileno, isatty, encoding… of the real stream
        return getattr(self.stream, name)


def logged_in(scope) -> bool:
    """Whether the request carries the cookie of a Gradio login (read from the headers; the body is not touched)."""
    from starlette.requests import HTTPConnection

    app = scope.get("app")
    cookie_id = getattr(app, "cookie_id", None)
    tokens = getattr(app, "tokens", None)
    if cookie_id is None or tokens is None:
        return False
    cookies = HTTPConnection(scope).cookies
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return token is not None and tokens.get(token) is not None


class RequestGuard:
    """ASGI middleware: remembers the client address (for login throttling), asks for the login before a body
    is read (when login is on), and caps request bodies: MAX_REQUEST_BYTES everywhere, except Gradio's file
    upload route, which takes one file of at most max_upload_file bytes (plus its framing)."""

    def __init__(self, app, max_body: int = MAX_REQUEST_BYTES, max_upload_file: int | None = None,
                 login_required: bool = False):
        self.app = app
        self.max_body = max_body
        self.max_upload_file = max_upload_file
        self.login_required = login_required

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = CLIENT_ADDRESS.set(client[0] if client else "unknown")
        try:
            path = scope.get("path", "").rstrip("/")
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length", b"0")
            has_body = (scope.get("method", "GET") in BODY_METHODS or b"transfer-encoding" in headers
                        or length not in (b"", b"0"))
            if self.login_required and has_body and path not in LOGIN_ROUTES and not logged_in(scope):
                await self._refuse(send, 401, "请先登录：用用户名和密码登录后再提交。")
                return
            limit, message = self._limit(path)
            if not length.isdigit() or int(length) > limit:
                await self._refuse(send, 413, message)
                return
            await self.app(scope, self._capped(receive, limit), send)
        finally:
            CLIENT_ADDRESS.reset(token)

    def _limit(self, path: str) -> tuple[int, str]:
        """The body cap of a path, and the Chinese message of a body over it."""
        if path == UPLOAD_ROUTE and self.max_upload_file is not None:
            return (self.max_upload_file + UPLOAD_FRAMING_BYTES,
                    f"文件太大：上限是 {self.max_upload_file // MB} MB。请删去附件或图片、拆成几份后再上传。")
        if path == UPLOAD_ROUTE:
            return sys.maxsize, ""          # Gradio's max_file_size alone caps it
        return self.max_body, (f"请求太大：最多 {self.max_body // 1024} KB。问题请控制在 500 字以内；"
                               "文件请用「上传文档」。")

    @staticmethod
    def _capped(receive, limit: int):
        """A receive that stops a body sent without a (truthful) length once it passes the cap."""
        seen = 0

        async def capped():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    return {"type": "http.disconnect"}
            return message
        return capped

    @staticmethod
    async def _refuse(send, status: int, message: str):
        body = json.dumps({"error": message}, ensure_ascii=False).encode("utf-8")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def gradio_auth(users: list[User]):
    """The login check for Gradio: passwords compared in constant time, failed logins throttled per user and address."""
    from fastapi import HTTPException

    authenticator = Authenticator(users, address_of=CLIENT_ADDRESS.get)

    def check(username: str, password: str) -> bool:
        try:
            ok = authenticator(username, password)
        except LoginThrottled as error:
            logging.getLogger("app").warning("login throttled: user %r from %s", username, CLIENT_ADDRESS.get())
            raise HTTPException(status_code=429, detail=str(error),
                                headers={"Retry-After": str(error.retry_after)}) from None
        if not ok:
            logging.getLogger("app").info("failed login: user %r from %s", username, CLIENT_ADDRESS.get())
        return ok
    return check


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="街道工作计划查询: the web app.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--corpus", default="corpus", help="corpus directory (default corpus)")
    parser.add_argument("--index", default="index", help="index directory, built when missing or stale (default index)")
    parser.add_argument("--allow-anonymous", action="store_true",
                        help="serve another address than loopback without APP_USERS (anyone who can reach it may edit)")
    from retrieval.__main__ import add_backend_arguments

    add_backend_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sys.stdout, sys.stderr = LineCap(sys.stdout), LineCap(sys.stderr)     # before any handler holds them
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    users = None
    if os.environ.get("APP_USERS") is not None:
        try:
            users = parse_users(os.environ["APP_USERS"])
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if users is None and not is_loopback(args.host):
        if not args.allow_anonymous:
            print(f"error: --host {args.host} lets other machines reach the app, and APP_USERS is not set, so anyone "
                  "could change the documents. Set APP_USERS=\"alice:secret:editor,bob:secret2:reader\", or give "
                  "--allow-anonymous if that is really intended.", file=sys.stderr)
            return 2
        print(f"warning: serving {args.host} without login (--allow-anonymous): anyone who can reach this port can "
              "upload, replace and delete documents.", file=sys.stderr)

    from starlette.middleware import Middleware

    from retrieval.corpus.uploads import MAX_UPLOAD_BYTES   # imported here so --help answers at once
    from retrieval.encode.batching import serving_encoder
    from retrieval.encode.encoders import DEFAULT_ENCODER
    from retrieval.engine import SearchEngine
    from retrieval.errors import BackendUnavailable
    from ui import gradio_inputs, gradio_sessions
    from ui.blocks import EXAMPLES, build_app, launch_options

    gradio_sessions.enable()     # API calls without a session no longer build every component's config
    gradio_inputs.enable()       # API calls missing values take the function's defaults; never echo a body
    # Gradio's queue rebuilds a pandas table of its last 10,000 events after every event, for its monitoring
    # summary: 14 % of the server's Python time under load here. Recompute it every 500 events over the last 2,000.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "500")
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "2000")

    # Questions asked at the same time are batched, and batches are encoded in parallel, one runner per core.
    encoder = serving_encoder(DEFAULT_ENCODER)
    try:
        # Changes made while the app was down (or a kill interrupted) are indexed in the background: serve at once.
        engine = SearchEngine.open(corpus_dir=args.corpus, index_dir=args.index, encoder=encoder, backend=args.backend,
                                   milvus_uri=args.milvus_uri, collection=args.milvus_collection, catch_up="background")
    except BackendUnavailable as error:          # "无法连接检索服务 …": no app over an empty index
        print(f"error: {error}", file=sys.stderr)
        return 2
    encoder.warm_up()            # the encoder's sessions, then a question (tokenizer dictionary, caches), so that
    engine.ask(EXAMPLES[0])      # the first user does not wait for them
    engine.start_watching()      # files copied into the corpus folder by hand are indexed too
    demo = build_app(engine, corpus_dir=args.corpus, users={u.name: u.role for u in users} if users else None)
    demo.queue(default_concurrency_limit=1).launch(
        server_name=args.host,
        server_port=args.port,
        auth=gradio_auth(users) if users else None,
        auth_message="请输入用户名和密码。" if users else None,
        app_kwargs={"middleware": [Middleware(RequestGuard, max_upload_file=MAX_UPLOAD_BYTES,
                                              login_required=users is not None)]},
        **launch_options(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
