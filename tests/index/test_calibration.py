"""The query-to-sentence calibration scores every answer unit of a corpus below CALIBRATION_UNITS and an even
sample of runs above it, whose mean and std stay those of all units."""
from __future__ import annotations

import shutil

import pytest

from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from retrieval.index import calibration
from tests.seeds import ALL_SEEDS, CORPUS


@pytest.fixture(scope="module")
def index():
    from tempfile import mkdtemp
    from pathlib import Path

    root = Path(mkdtemp(prefix="calibration-"))
    (root / "corpus").mkdir()
    for name in ALL_SEEDS:
        shutil.copyfile(CORPUS / name, root / "corpus" / name)
    engine = SearchEngine.open(root / "corpus", root / "index", encoder=HashingEncoder(256))
    yield engine._state.index
    shutil.rmtree(root, ignore_errors=True)


def test_a_corpus_under_the_cap_is_calibrated_on_every_unit(index, monkeypatch):
    encoder = HashingEncoder(256)
    assert index.unit_count() < calibration.CALIBRATION_UNITS
    every = calibration.index_calibration(encoder, index)
    monkeypatch.setattr(calibration, "CALIBRATION_UNITS", 10**9)
    assert calibration.index_calibration(encoder, index) == every


def test_above_the_cap_an_even_sample_of_runs_gives_the_same_mean_and_std(index, monkeypatch):
    encoder = HashingEncoder(256)
    every = calibration.index_calibration(encoder, index)
    units = index.unit_count()
    monkeypatch.setattr(calibration, "CALIBRATION_UNITS", units // 3)
    monkeypatch.setattr(calibration, "CALIBRATION_RUN", 16)
    scored = []
    real = calibration.calibrate_similarity

    def counting(encoder, count, text_of, vector_blocks):
        scored.append(sum(len(block) for block in vector_blocks()))
        return real(encoder, count, text_of, vector_blocks)

    monkeypatch.setattr(calibration, "calibrate_similarity", counting)
    sampled = calibration.index_calibration(encoder, index)
    assert scored[0] <= units // 3 and scored[0] >= units // 3 - 16
    assert sampled["sample"] == every["sample"]
    assert abs(sampled["mean"] - every["mean"]) < 0.1 * every["std"]
    assert sampled["std"] == pytest.approx(every["std"], rel=0.1)
