"""Load test of the app's `search` API on this machine: concurrent clients, latency percentiles, throughput.

    python scripts/load_test.py --tree /tmp/old-checkout --tree . [--clients 20] [--questions 25] [--rounds 3] [--upload]
    python scripts/load_test.py --url http://127.0.0.1:7860/ [--clients 20] [--questions 25]

Each --tree starts that checkout's app.py (with this interpreter) on a free loopback port over a fresh copy
of this repository's corpus (and of --index-source when given). All of them run at once, and every round runs
each scenario on each tree in turn, so the figures compare on the same machine at the same time; the ratio is
the last tree's median throughput over the first's. With --upload, a new
document is added to the corpus while the load runs (picked up by the app's corpus watcher, the same
indexing queue an upload uses) and every answer is checked to come from the old or the new index.
Only loopback addresses are ever contacted; client count, questions and total time are bounded.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS_FILE = ROOT / "eval" / "dev.jsonl"
MAX_CLIENTS, MAX_QUESTIONS = 64, 200
STARTUP_SECONDS = 600
REQUEST_TIMEOUT = 60.0
UPLOAD_NAME = "负载测试新区2030年工作计划.txt"
UPLOAD_TEXT = ("负载测试新区2030年工作计划\n一、城市建设\n（一）全年新建社区食堂23个，改造背街小巷41条。\n"
               "（二）完成老旧小区加装电梯60台。\n二、民生保障\n新增托育名额800个。\n")
UPLOAD_QUESTION = "负载测试新区今年新建多少个社区食堂"


def loopback_url(url: str) -> str:
    host = urllib.parse.urlparse(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"error: {url} is not a loopback address; this script only loads this machine (127.0.0.1)")
    return url.rstrip("/") + "/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_questions(limit: int | None = None) -> list[str]:
    questions = [json.loads(line)["question"] for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return questions[:limit] if limit else questions


class LoopbackHTTP:
    """A minimal HTTP/1.1 keep-alive client over one socket, for loopback load only.

    The load client shares this machine's cores with the server it measures, so its own cost per request
    must be small: httpx spent about 3 ms of CPU per question here (two requests), half of what the
    server spent on a cached answer. This client sends a request and reads a Content-Length or chunked
    response with a few buffer operations; it follows no redirects and speaks no TLS.
    """

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT):
        parsed = urllib.parse.urlparse(base_url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.prefix = parsed.path.rstrip("/")
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""
        return self.sock

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """(status, body) of one request; a connection the server closed is reopened once."""
        for attempt in (0, 1):
            sock = self._connect()
            head = (f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    "Connection: keep-alive\r\n")
            if body is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            try:
                sock.sendall(head.encode("ascii") + b"\r\n" + (body or b""))
                return self._response()
            except (ConnectionError, socket.timeout, _Closed):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise _Closed()
        self.buffer += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():          # trailers end with an empty line
                        pass
                    break
                parts.append(self._exactly(size))
                self._exactly(2)
            body = b"".join(parts)
        else:
            body = self._exactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class _Closed(Exception):
    """The server closed the connection."""


class SearchClient:
    """The two-step Gradio call API (POST, then read the event stream) over one keep-alive connection.

    With keep_session, one client keeps one session for all its calls, as gradio_client.Client does;
    without, every call starts a new session, as a bare HTTP client (curl) does.
    """

    def __init__(self, base_url: str, keep_session: bool = True):
        self.http = LoopbackHTTP(base_url)
        self.session_hash = uuid.uuid4().hex[:11] if keep_session else None

    def call(self, endpoint: str, data: list) -> dict:
        body = json.dumps({"data": data, "session_hash": self.session_hash or uuid.uuid4().hex[:11]}).encode("utf-8")
        status, posted = self.http.request("POST", f"/gradio_api/call/{endpoint}", body)
        if status != 200:
            raise RuntimeError(f"{endpoint}: HTTP {status}: {posted[:200]!r}")
        event_id = json.loads(posted)["event_id"]
        status, stream = self.http.request("GET", f"/gradio_api/call/{endpoint}/{event_id}")
        if status != 200:
            raise RuntimeError(f"{endpoint}: HTTP {status} on the event stream")
        event = None
        for line in stream.decode("utf-8").splitlines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = line.split(":", 1)[1].strip()
                if event == "error":
                    raise RuntimeError(f"{endpoint} failed: {payload}")
                return json.loads(payload)[0]
        raise RuntimeError(f"{endpoint}: the event stream ended without a result")

    def search(self, question: str) -> dict:
        return self.call("search", [question, 5, None, None])

    def close(self):
        self.http.close()


def signature(record: dict) -> tuple:
    """What must not mix between index versions: the answer and the ranked passages."""
    answer = record.get("answer") or {}
    return (answer.get("text"), tuple(hit["chunk_id"] for hit in record["results"]["hybrid"]))


def warm_up(base_url: str, questions: list[str]) -> None:
    """Ask every question once, untimed: the load then measures the steady state, not first-time encoding."""
    client = SearchClient(base_url)
    try:
        for question in questions:
            client.search(question)
    finally:
        client.close()


def run_load(base_url: str, questions: list[str], clients: int, per_client: int, deadline: float,
             keep_session: bool = True, fresh: str | None = None) -> dict:
    """Every client asks `per_client` questions back to back (each from its own offset in the list).

    fresh: a tag new to the server (e.g. the round number); every request's wording is then new (the tag and
    a numbered suffix), so no query-vector or answer cache helps: the server encodes, searches and answers
    each one, as with many users asking different things.
    """
    latencies: list[float] = []
    errors: list[str] = []
    records: list[tuple[str, dict]] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        search = SearchClient(base_url, keep_session)
        try:
            for turn in range(per_client):
                if time.monotonic() > deadline:
                    with lock:
                        errors.append("deadline reached")
                    return
                question = questions[(number * 7 + turn) % len(questions)]
                if fresh is not None:
                    question = f"{question}（{fresh}-{number}-{turn}）"
                started = time.perf_counter()
                try:
                    record = search.search(question)
                except Exception as error:          # counted and reported, the load goes on
                    with lock:
                        errors.append(f"{type(error).__name__}: {str(error)[:200]}")
                    continue
                with lock:
                    latencies.append(time.perf_counter() - started)
                    records.append((question, record))
        finally:
            search.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    return summarize(latencies, errors, records, wall, clients, per_client, keep_session)


def summarize(latencies: list[float], errors: list[str], records: list, wall: float, clients: int, per_client: int,
              keep_session: bool, rounds: int = 1) -> dict:
    ordered = sorted(latencies)

    def percentile(share: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3) if ordered else None

    return {"clients": clients, "questions_per_client": per_client, "requests": clients * per_client * rounds,
            "rounds": rounds, "sessions": "one per client" if keep_session else "one per call",
            "completed": len(latencies), "errors": len(errors), "error_samples": errors[:5],
            "p50_s": percentile(0.5), "p95_s": percentile(0.95), "max_s": round(ordered[-1], 3) if ordered else None,
            "mean_s": round(statistics.fmean(ordered), 3) if ordered else None,
            "throughput_qps": round(len(latencies) / wall, 2) if wall else None, "wall_s": round(wall, 2),
            "_records": records, "_latencies": latencies, "_errors": errors}


def indexed(base_url: str, documents: int) -> bool:
    """Whether the index holds `documents` documents, with no job active and no document waiting for vectors."""
    client = SearchClient(base_url)
    try:
        status = client.call("indexing_status", [])
    finally:
        client.close()
    active = [job for job in status["jobs"] if job["state"] in ("queued", "chunking", "encoding")]
    return not active and not status["dense_pending"] and status["documents"] == documents


def documents_indexed(base_url: str) -> int:
    client = SearchClient(base_url)
    try:
        return client.call("indexing_status", [])["documents"]
    finally:
        client.close()


def run_with_upload(base_url: str, corpus_dir: Path, questions: list[str], clients: int, per_client: int,
                    deadline: float) -> dict:
    """The load while a document arrives; every answer must come from the old index or the new one."""
    probe = SearchClient(base_url)
    questions = [*questions, UPLOAD_QUESTION]
    before = {q: signature(probe.search(q)) for q in questions}
    wanted = documents_indexed(base_url) + 1
    timer = threading.Timer(0.3, lambda: (corpus_dir / UPLOAD_NAME).write_text(UPLOAD_TEXT, encoding="utf-8"))
    timer.start()
    # Rounds of the load go on until the new document is fully indexed, so the answers span the whole change.
    latencies, errors, records, wall, rounds = [], [], [], 0.0, 0
    try:
        while True:
            round_result = run_load(base_url, questions, clients, per_client, deadline)
            latencies += round_result["_latencies"]
            errors += round_result["_errors"]
            records += round_result["_records"]
            wall += round_result["wall_s"]
            rounds += 1
            settled = indexed(base_url, wanted)
            if settled or time.monotonic() > deadline:
                break
    finally:
        timer.join()
    result = summarize(latencies, errors, records, wall, clients, per_client, True, rounds)
    after = {q: signature(probe.search(q)) for q in questions}
    probe.close()
    mixed = [q for q, record in result["_records"]
             if signature(record) not in (before[q], after[q]) and not record.get("dense_pending")]
    keyword_phase = sum(1 for _, record in result["_records"] if record.get("dense_pending"))
    result.update({
        "upload_indexed": settled,
        "upload_answered": any(hit["doc"] == UPLOAD_NAME for hit in probe_results(base_url, UPLOAD_QUESTION)),
        "answers_not_from_old_or_new_index": len(mixed), "mixed_samples": mixed[:5],
        "answers_during_keyword_only_phase": keyword_phase,
    })
    return result


def has_endpoint(base_url: str, name: str) -> bool:
    info = httpx.get(f"{base_url}gradio_api/info", timeout=10).json()
    return f"/{name}" in info.get("named_endpoints", {})


def probe_results(base_url: str, question: str) -> list[dict]:
    client = SearchClient(base_url)
    try:
        return client.search(question)["results"]["hybrid"]
    finally:
        client.close()


@contextmanager
def started_app(tree: Path, workdir: Path, index_source: Path | None):
    """Run tree/app.py on a free loopback port over a fresh copy of this repository's corpus."""
    corpus, index = workdir / "corpus", workdir / "index"
    shutil.copytree(ROOT / "corpus", corpus)
    if index_source and index_source.is_dir():
        shutil.copytree(index_source, index)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "APP_USERS"}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    log_path = workdir / "app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(tree / "app.py"), "--host", "127.0.0.1", "--port", str(port),
                                    "--corpus", str(corpus), "--index", str(index)],
                                   cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{tree}/app.py exited with {process.returncode}: "
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{tree}/app.py did not answer within {STARTUP_SECONDS}s")
            time.sleep(0.5)
        yield url, corpus, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


SCENARIOS = ("load", "load_session_per_call", "load_fresh_questions")


def run_scenario(name: str, url: str, questions: list[str], args, deadline: float, round_number: int) -> dict:
    if name == "load":
        return run_load(url, questions, args.clients, args.questions, deadline)
    if name == "load_session_per_call":
        return run_load(url, questions, args.clients, args.questions, deadline, keep_session=False)
    return run_load(url, questions, args.clients, args.questions, deadline, fresh=f"r{round_number}")


def process_cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, all threads) the process has used so far; None where /proc is not readable.

    On a shared machine throughput moves with the neighbours' load; the server's own CPU time per question
    moves much less, so it is reported beside throughput as the measure of the server's cost."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def combine(rounds: list[dict]) -> dict:
    """One scenario's rounds on one target: latencies pooled, throughput the median of the rounds."""
    latencies = [x for r in rounds for x in r["_latencies"]]
    errors = [x for r in rounds for x in r["_errors"]]
    combined = summarize(latencies, errors, [x for r in rounds for x in r["_records"]], sum(r["wall_s"] for r in rounds),
                         rounds[0]["clients"], rounds[0]["questions_per_client"], rounds[0]["sessions"] == "one per client",
                         len(rounds))
    combined["throughput_qps_per_round"] = [r["throughput_qps"] for r in rounds]
    cpu = [r["server_cpu_ms_per_question"] for r in rounds if r.get("server_cpu_ms_per_question") is not None]
    if cpu:
        combined["server_cpu_ms_per_question"] = round(statistics.median(cpu), 2)
    combined["throughput_qps"] = round(statistics.median(r["throughput_qps"] or 0.0 for r in rounds), 2)
    return combined


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--tree", action="append", type=Path, help="a checkout whose app.py to start (repeatable)")
    target.add_argument("--url", help="an app already running on this machine (loopback only)")
    parser.add_argument("--clients", type=int, default=20, help=f"concurrent clients (1-{MAX_CLIENTS}, default 20)")
    parser.add_argument("--questions", type=int, default=25, help=f"questions per client (1-{MAX_QUESTIONS}, default 25)")
    parser.add_argument("--upload", action="store_true", help="also run the load while a document is added (--tree only)")
    parser.add_argument("--index-source", type=Path, help="a built index of corpus/ to copy for each tree (saves a build)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every scenario (1-10, default 3); targets alternate within each round")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for the whole run (default 1800)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    return parser


def main(argv=None) -> int:
    """Start every target, then run the rounds: within a round, each scenario runs on every target in turn
    (the order reversed every other round), so a target never gets a quieter stretch of the shared machine
    than the others. Throughput is the median of the rounds; latencies are pooled over them."""
    args = _parser().parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS or not 1 <= args.questions <= MAX_QUESTIONS or not 1 <= args.rounds <= 10:
        raise SystemExit(f"error: --clients must be 1-{MAX_CLIENTS}, --questions 1-{MAX_QUESTIONS} and --rounds 1-10")
    deadline = time.monotonic() + args.timeout
    questions = load_questions()
    report: dict = {"machine": {"cpus": os.cpu_count()}, "rounds": args.rounds, "runs": []}
    with ExitStack() as stack:
        targets: list[tuple[str, str, Path | None, int | None]] = []    # (label, url, corpus folder, server pid)
        if args.url:
            targets.append((args.url, loopback_url(args.url), None, None))
        for tree in args.tree or []:
            tree = tree.resolve()
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="load-test-")))
            url, corpus, pid = stack.enter_context(started_app(tree, workdir, args.index_source))
            commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True).stdout.strip()
            targets.append((f"{tree} @ {commit or '?'}", url, corpus, pid))
        for _, url, _, _ in targets:
            warm_up(url, questions)
        rounds: dict[tuple[str, str], list[dict]] = {}
        for round_number in range(args.rounds):
            order = targets if round_number % 2 == 0 else targets[::-1]
            for scenario in SCENARIOS:
                for label, url, _, pid in order:
                    cpu_before = process_cpu_seconds(pid)
                    result = run_scenario(scenario, url, questions, args, deadline, round_number)
                    if cpu_before is not None and result["completed"]:
                        result["server_cpu_ms_per_question"] = round(
                            (process_cpu_seconds(pid) - cpu_before) * 1000 / result["completed"], 2)
                    rounds.setdefault((label, scenario), []).append(result)
                    print(f"round {round_number + 1} · {label} · {scenario}: {result['throughput_qps']} q/s, "
                          f"p95 {result['p95_s']} s, {result['errors']} errors, server CPU "
                          f"{result.get('server_cpu_ms_per_question')} ms/question", flush=True)
        runs = {key: combine(value) for key, value in rounds.items()}
        if args.upload:
            for label, url, corpus, _ in targets:
                if corpus is None:
                    continue
                if not has_endpoint(url, "indexing_status"):
                    print(f"{label}: no /indexing_status endpoint, so no upload scenario for this tree", flush=True)
                    continue
                runs[(label, "load_during_upload")] = run_with_upload(url, corpus, questions, args.clients,
                                                                      args.questions, deadline)
    for (label, name), run in sorted(runs.items(), key=lambda item: [t[0] for t in targets].index(item[0][0])):
        for raw in ("_records", "_latencies", "_errors"):
            run.pop(raw, None)
        report["runs"].append({"target": label, "scenario": name, **run})
        print(f"{label} · {name}: {run['completed']}/{run['requests']} ok, {run['errors']} errors, "
              f"p50 {run['p50_s']} s, p95 {run['p95_s']} s, {run['throughput_qps']} q/s"
              + (f" (rounds: {run['throughput_qps_per_round']})" if "throughput_qps_per_round" in run else "")
              + (f", server CPU {run['server_cpu_ms_per_question']} ms/question"
                 if run.get("server_cpu_ms_per_question") is not None else "")
              + (f", mixed answers {run['answers_not_from_old_or_new_index']}, new document answered "
                 f"{run['upload_answered']}" if name == "load_during_upload" else ""), flush=True)
    report["throughput_last_over_first"] = {}
    for scenario in SCENARIOS:
        loads = [run for run in report["runs"] if run["scenario"] == scenario]
        if len(loads) >= 2 and loads[0]["throughput_qps"]:
            ratio = round(loads[-1]["throughput_qps"] / loads[0]["throughput_qps"], 2)
            report["throughput_last_over_first"][scenario] = ratio
            print(f"{scenario}: throughput {loads[-1]['target']} / {loads[0]['target']}: {ratio}×")
            if loads[0].get("server_cpu_ms_per_question") and loads[-1].get("server_cpu_ms_per_question"):
                cpu_ratio = round(loads[0]["server_cpu_ms_per_question"] / loads[-1]["server_cpu_ms_per_question"], 2)
                report.setdefault("server_cpu_first_over_last", {})[scenario] = cpu_ratio
                print(f"{scenario}: server CPU per question {loads[0]['target']} / {loads[-1]['target']}: {cpu_ratio}×")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0 if all(run["errors"] == 0 for run in report["runs"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
