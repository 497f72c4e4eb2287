"""Start `python app.py` on a free loopback port, on a copy of corpus/ and index/, for API and browser tests."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 300           # a fresh checkout has no index yet: the app builds it on first start


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# An index of corpus/ built elsewhere (e.g. /tmp/x/index) may stand in for ./index; either is copied, never used in place.
INDEX_SOURCE_ENV = "APP_TEST_INDEX"


def copy_corpus_and_index(target: Path) -> tuple[Path, Path]:
    """Copy the real corpus (and the index when built) so tests never write into them."""
    corpus, index = target / "corpus", target / "index"
    shutil.copytree(ROOT / "corpus", corpus)
    source = Path(os.environ.get(INDEX_SOURCE_ENV) or ROOT / "index")
    if source.is_dir():
        shutil.copytree(source, index)
    return corpus, index


@contextmanager
def running_app(workdir: Path, extra_env: dict[str, str] | None = None, extra_args: Sequence[str] = ()):
    """Yield the base URL of the app serving a copy of the corpus under workdir; stop it afterwards."""
    corpus, index = copy_corpus_and_index(workdir)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "APP_USERS"}
    env.update(extra_env or {})
    env.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    log_path = workdir / "app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--corpus", str(corpus), "--index", str(index),
             *extra_args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in (200, 401, 403):
                    return
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"app did not answer within {STARTUP_SECONDS}s:\n{log_path.read_text(errors='replace')[-3000:]}")
