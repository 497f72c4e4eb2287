"""EncoderPool: parallel questions each borrow their own encoder instance, and get the same vectors."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from retrieval.encode.encoders import Encoder, EncoderPool, HashingEncoder


class ExclusiveEncoder(HashingEncoder):
    """A hashing encoder that fails if two threads call the same instance at once (like one C handle)."""

    def __init__(self):
        super().__init__(64)
        self._busy = threading.Lock()
        self.calls = 0

    def encode_queries(self, texts):
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("instance used by two threads at once")
        try:
            time.sleep(0.01)
            self.calls += 1
            return super().encode_queries(texts)
        finally:
            self._busy.release()


def test_each_call_borrows_a_free_instance():
    made: list[ExclusiveEncoder] = []
    pool = EncoderPool(lambda: made.append(ExclusiveEncoder()) or made[-1], size=2)
    assert isinstance(pool, Encoder) and (pool.model_id, pool.dim) == ("hashing-bigrams/64", 64)
    results, errors = {}, []

    def ask(i):
        try:
            results[i] = pool.encode_queries([f"问题{i}"])
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(e.calls for e in made) != [0, 8], "both instances served questions"
    reference = HashingEncoder(64)
    for i, vector in results.items():
        np.testing.assert_array_equal(vector, reference.encode_queries([f"问题{i}"]))


def test_a_pool_of_different_models_is_refused():
    dims = iter([64, 128])
    with pytest.raises(ValueError, match="same model"):
        EncoderPool(lambda: HashingEncoder(next(dims)), size=2)
    with pytest.raises(ValueError, match="at least one"):
        EncoderPool(HashingEncoder, size=-1)
