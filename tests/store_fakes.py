"""Encoders for the index-integrity and background-indexing tests: the hashing encoder, counted or held back."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

from retrieval.encode.encoders import HashingEncoder
from tests.seeds import CORPUS


class CountingEncoder:
    """HashingEncoder under the same model id, remembering every passage text it was asked to encode."""

    def __init__(self, dim: int = 256):
        self._inner = HashingEncoder(dim)
        self.model_id, self.dim = self._inner.model_id, self._inner.dim
        self.documents: list[str] = []

    def encode_queries(self, texts):
        return self._inner.encode_queries(texts)

    def encode_documents(self, texts):
        self.documents.extend(texts)
        return self._inner.encode_documents(texts)


class GatedEncoder(CountingEncoder):
    """Encodes passages only while `gate` is open: a test can look at the index in the middle of encoding."""

    def __init__(self, dim: int = 256):
        super().__init__(dim)
        self.gate = threading.Event()
        self.waiting = threading.Event()         # set when a batch is held at the gate

    def encode_documents(self, texts):
        self.waiting.set()
        if not self.gate.wait(30):
            raise TimeoutError("the test never opened the gate")
        return super().encode_documents(texts)


def copy_seeds(target: Path, names: tuple[str, ...]) -> Path:
    """A writable corpus with some seed documents and metadata.yaml."""
    target.mkdir(parents=True, exist_ok=True)
    for name in (*names, "metadata.yaml"):
        shutil.copyfile(CORPUS / name, target / name)
    return target
