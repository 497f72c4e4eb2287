"""What the benchmark measures and how: memory (VmHWM, VmRSS, sampled), latency percentiles, sizes on disk, build stages."""
from __future__ import annotations

import contextlib
from pathlib import Path
from time import perf_counter


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

    @contextlib.contextmanager
    def stage(self, stage: str):
        """Time what runs inside under `stage` (the build's own stages: SearchEngine.open(timing=...))."""
        started = perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + perf_counter() - started

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


def meminfo_mb(field: str) -> float | None:
    """A /proc/meminfo field (MemTotal, MemAvailable) in MB; None off Linux."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return None
