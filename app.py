"""Start the web app: `python app.py [--host 127.0.0.1] [--port 7860] [--corpus DIR] [--index DIR]`.

Binds to 127.0.0.1 unless --host says otherwise. With APP_USERS="name:password,…" set, every page and
the API require a login.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def parse_users(spec: str) -> list[tuple[str, str]]:
    """APP_USERS "alice:pw1,bob:pw2" -> [("alice", "pw1"), ("bob", "pw2")]; a password may contain ':'.

    Raises:
        ValueError: an entry without "name:password", naming the entry's position (never the password).
    """
    users = []
    for position, entry in enumerate((part.strip() for part in spec.split(",")), start=1):
        if not entry:
            continue
        name, colon, password = entry.partition(":")
        if not colon or not name.strip() or not password:
            raise ValueError(f"APP_USERS entry {position} is not name:password; write APP_USERS=\"alice:secret,bob:secret2\"")
        users.append((name.strip(), password))
    if not users:
        raise ValueError("APP_USERS is set but names no user; write APP_USERS=\"alice:secret\" or unset it")
    return users


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="街道工作计划查询: the web app.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--corpus", default="corpus", help="corpus directory (default corpus)")
    parser.add_argument("--index", default="index", help="index directory, built when missing or stale (default index)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    auth = None
    if os.environ.get("APP_USERS") is not None:
        try:
            auth = parse_users(os.environ["APP_USERS"])
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    from retrieval.engine import SearchEngine   # imported here so --help answers at once
    from ui.blocks import EXAMPLES, build_app, launch_options

    engine = SearchEngine.open(corpus_dir=args.corpus, index_dir=args.index)
    engine.ask(EXAMPLES[0])      # warm up (tokenizer dictionary, encoder) so the first user does not wait for it
    demo = build_app(engine, corpus_dir=args.corpus)
    demo.queue().launch(
        server_name=args.host,
        server_port=args.port,
        auth=auth,
        auth_message="请输入用户名和密码。" if auth else None,
        **launch_options(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
