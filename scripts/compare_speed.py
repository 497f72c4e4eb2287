"""Time one comparison over N organisations: `python scripts/compare_speed.py [--orgs 40] [--rounds 15] [--work DIR]`.

A synthetic corpus (eval.synth: invented 街道/镇/乡/开发区 plans recombined from the seeds) with at least N
organisations is indexed once (figure records are built at indexing time). Each round opens the engine, asks one
normal question (as app.py does before serving), then times "全部单位…分别是多少" first (its documents' figure
records read from the index for the first time: "cold") and five more times ("warm"). Cells come from figure records looked up by document: the question is never encoded, so
the encoder the index was built with does not enter the time (the script counts encoder calls to show it).
Prints one JSON line: organisations, rows, cold p50/max and warm p50 in ms.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTION = "全部单位今年拆违任务分别是多少？"
WARM_UP = "今年拆违任务多少平方米"
PASSAGES_PER_ORGANISATION = 300         # eval.synth gives an organisation about six plans of 20-80 passages


class CountingEncoder:
    """The index's encoder, counting the questions it is asked to encode."""

    def __init__(self, inner):
        self.inner, self.queries = inner, 0
        self.model_id, self.dim = inner.model_id, inner.dim

    def encode_queries(self, texts):
        self.queries += len(texts)
        return self.inner.encode_queries(texts)

    def encode_documents(self, texts):
        return self.inner.encode_documents(texts)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=40, help="organisations wanted at least (default 40)")
    parser.add_argument("--rounds", type=int, default=15, help="timed comparisons on a fresh engine (default 15)")
    parser.add_argument("--encoder", default="hashing", help="encoder the index is built with (default hashing)")
    parser.add_argument("--work", default=None, help="directory for the corpus and index (default: a temporary one)")
    args = parser.parse_args(argv)

    from eval.synth import main as synth_main
    from retrieval.search.compare import organisations_of
    from retrieval.corpus.files import load_corpus
    from retrieval.encode.encoders import load_encoder
    from retrieval.engine import SearchEngine

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="compare-speed-"))
    corpus, index = work / "corpus", work / "index"
    passages = args.orgs * PASSAGES_PER_ORGANISATION
    while True:                     # an invented organisation has several years' plans: grow until enough
        if corpus.exists():
            shutil.rmtree(corpus)
        synth_main(["--passages", str(passages), "--out", str(corpus)])
        found = len(organisations_of(load_corpus(corpus).documents))
        if found >= args.orgs:
            break
        passages = int(passages * max(1.2, 1.1 * args.orgs / max(found, 1)))
    engine = SearchEngine.open(corpus, index, encoder=CountingEncoder(load_encoder(args.encoder)))
    organisations = organisations_of(engine.documents)
    engine.close()

    cold = []
    rows = 0
    for _ in range(args.rounds):
        encoder = CountingEncoder(load_encoder(args.encoder))
        engine = SearchEngine.open(corpus, index, encoder=encoder, rebuild="never")
        engine.ask(WARM_UP)             # as app.py does before serving: the tokenizer's dictionary is loaded
        encoder.queries = 0
        started = perf_counter()
        comparison = engine.compare(QUESTION)
        cold.append((perf_counter() - started) * 1000)
        rows = len(comparison.cells)
        warm = []
        for _ in range(5):
            started = perf_counter()
            engine.compare(QUESTION)
            warm.append((perf_counter() - started) * 1000)
        engine.close()
    found = sum(cell.found for cell in comparison.cells)
    print(json.dumps({"question": QUESTION, "organisations": len(organisations), "documents": len(engine.documents),
                      "passages": len(engine.chunks), "rows": rows, "rows_found": found,
                      "cold_p50_ms": round(statistics.median(cold), 1), "cold_max_ms": round(max(cold), 1),
                      "warm_p50_ms": round(statistics.median(warm), 1), "queries_encoded": encoder.queries,
                      "encoder": args.encoder, "work": str(work)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
