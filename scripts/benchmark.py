"""Times a cold index build, a warm start and query latency per leg on this machine; prints one JSON object.

Usage: python scripts/benchmark.py [--corpus corpus] [--questions eval/dev.jsonl] [--passes 3] [-k 10]

The machine is small and shared, so absolute numbers drift from run to run: compare the ratios, which
are measured in the same run. Nothing here passes or fails.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script, the project root is not on the path

from eval.metrics import latency_summary  # noqa: E402
from eval.runner import load_questions  # noqa: E402
from retrieval.engine import SearchEngine  # noqa: E402
from retrieval.types import LEGS  # noqa: E402



def timed(call):
    """Run call() and return (its value, elapsed milliseconds)."""
    started = perf_counter()
    value = call()
    return value, (perf_counter() - started) * 1000


WARM_START_PROBE = """
import sys, time
started = time.perf_counter()
from retrieval.engine import SearchEngine
SearchEngine.open(corpus_dir=sys.argv[1], index_dir=sys.argv[2], rebuild="never")
print((time.perf_counter() - started) * 1000)
"""


def fresh_process_open_ms(corpus: str, index_dir: Path) -> float:
    """Milliseconds a new Python process takes to import the library and load the index, as the app does
    at start (in this process the jieba dictionary and the model would already be loaded)."""
    output = subprocess.run([sys.executable, "-c", WARM_START_PROBE, corpus, str(index_dir)], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    return float(output.strip().splitlines()[-1])


def measure_queries(engine, questions: list[str], k: int, passes: int) -> dict[str, list[float]]:
    """Latency samples of `ask` and of each leg's `search`; the first pass is a warm-up and is dropped.

    The query-vector cache is cleared before every call, so each timing includes encoding the query.

    Each kind runs over all questions in turn inside a pass, so every kind sees the same stretch of
    machine noise and the kinds do not warm each other per question.
    """
    samples = {kind: [] for kind in ("ask", *LEGS)}
    for pass_number in range(passes):
        for kind in samples:
            for question in questions:
                engine.clear_query_cache()
                if kind == "ask":
                    _, ms = timed(lambda: engine.ask(question, k))
                else:
                    _, ms = timed(lambda: engine.search(question, k=k, leg=kind))
                if pass_number > 0:
                    samples[kind].append(ms)
    return samples


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT / "corpus"), help="corpus directory (default corpus/)")
    parser.add_argument("--questions", default=str(ROOT / "eval" / "dev.jsonl"), help="questions to time")
    parser.add_argument("--passes", type=int, default=3, help="passes over the questions, the first one a warm-up")
    parser.add_argument("--warm-starts", type=int, default=3, help="warm starts to take the median of")
    parser.add_argument("-k", type=int, default=10, help="results per query")
    args = parser.parse_args(argv)
    if args.passes < 2 or args.warm_starts < 1 or args.k < 1:
        parser.error("--passes must be at least 2 (one warm-up), --warm-starts and -k at least 1")
    questions = [gold["question"] for gold in load_questions(args.questions)]

    with tempfile.TemporaryDirectory(prefix="benchmark-index-") as scratch:
        index_dir = Path(scratch) / "index"
        index_dir.mkdir()
        engine, cold_ms = timed(lambda: SearchEngine.open(corpus_dir=args.corpus, index_dir=str(index_dir)))
        warm_ms = [fresh_process_open_ms(args.corpus, index_dir) for _ in range(args.warm_starts)]
        samples = measure_queries(engine, questions, args.k, args.passes)

    latency = {kind: {name: round(value, 2) for name, value in latency_summary(ms).items()} for kind, ms in samples.items()}
    p50 = {kind: summary["p50_ms"] for kind, summary in latency.items()}
    warm_median = statistics.median(warm_ms)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "corpus": {"documents": len(engine.documents), "chunks": len(engine.chunks)},
        "cold_build_s": round(cold_ms / 1000, 3),
        # a new process: imports + loading the index (+ jieba's dictionary), not the app's own start-up
        "warm_start_s": {"median": round(warm_median / 1000, 3), "runs": [round(ms / 1000, 3) for ms in warm_ms]},
        "queries": {"questions": len(questions), "timed_passes": args.passes - 1, "k": args.k},
        "latency_ms": latency,   # ask = hybrid search + answer extraction; dense includes query encoding
        "ratios_p50": {
            "bm25/hybrid": round(p50["bm25"] / p50["hybrid"], 3),
            "dense/hybrid": round(p50["dense"] / p50["hybrid"], 3),
            "ask/hybrid": round(p50["ask"] / p50["hybrid"], 3),
            "cold_build/warm_start": round(cold_ms / warm_median, 2),
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
