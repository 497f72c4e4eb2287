"""The three evaluation sets in one command: dev on the seed corpus, web-dev on the seeds plus 15 web documents,
prov-dev on the seeds, the web documents and 9 full-length provincial reports."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from eval.runner import QuestionsError, evaluate, load_questions, write_outputs
from retrieval.files import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
SEED_CORPUS = ROOT / "corpus"
WEB_DEV = ROOT.parent / "shared" / "eval" / "web-dev"      # kept outside the project, beside it
PROV_DEV = ROOT.parent / "shared" / "eval" / "prov-dev"
SET_NAMES = ("dev", "web-dev", "prov-dev")


class SuiteError(RuntimeError):
    """A set cannot be run: its questions or documents are missing or unreadable."""


@dataclass(frozen=True)
class Suite:
    """One evaluation set: its questions, the corpus they are asked on and where that corpus is indexed."""

    name: str
    questions: Path
    corpus: Path
    index: Path
    # (seed corpus, added document folders…) when `corpus` is generated from them: every seed file, metadata
    # included, plus the added *.txt with no metadata written for them (deriving it is part of what is measured).
    generated_from: tuple[Path, ...] | None = None


def default_suites(dev_index: Path = ROOT / "index", webdev_dir: Path = ROOT / "artifacts" / "webdev",
                   web_dev: Path = WEB_DEV, seed_corpus: Path = SEED_CORPUS,
                   provdev_dir: Path = ROOT / "artifacts" / "provdev", prov_dev: Path = PROV_DEV) -> list[Suite]:
    """dev (eval/dev.jsonl on corpus/ with index/), web-dev and prov-dev (their questions on generated corpora:
    prov-dev's reports are indexed with the seeds and the web-dev documents, as its README asks)."""
    return [
        Suite("dev", ROOT / "eval" / "dev.jsonl", seed_corpus, dev_index),
        Suite("web-dev", web_dev / "questions.jsonl", webdev_dir / "corpus", webdev_dir / "index",
              generated_from=(seed_corpus, web_dev / "docs")),
        Suite("prov-dev", prov_dev / "questions.jsonl", provdev_dir / "corpus", provdev_dir / "index",
              generated_from=(seed_corpus, web_dev / "docs", prov_dev / "docs")),
    ]


def corpus_sources(seed_corpus: Path, *added_folders: Path) -> list[Path]:
    """The files of a generated corpus: every file of the seed corpus (metadata too) and each folder's *.txt.

    Raises:
        SuiteError: when a directory is missing or a name occurs twice (one would hide the other).
    """
    for directory in (seed_corpus, *added_folders):
        if not directory.is_dir():
            raise SuiteError(f"directory {directory} not found: the set needs it (see eval/README.md)")
    files = [path for path in sorted(seed_corpus.iterdir()) if path.is_file() and not path.name.startswith(".")]
    for added_docs in added_folders:
        added = sorted(added_docs.glob("*.txt"))
        clashes = sorted({path.name for path in files} & {path.name for path in added})
        if clashes:
            raise SuiteError(f"{added_docs} and {seed_corpus} both hold {', '.join(clashes)}: rename one of them")
        files += added
    return files


def sync_corpus(sources: Sequence[Path], target: Path) -> list[str]:
    """Make `target` hold exactly these files; write only those whose bytes differ, so the index stays valid.

    Returns the names written or removed (empty when the corpus was already up to date).
    """
    target.mkdir(parents=True, exist_ok=True)
    changed = []
    wanted = {path.name: path for path in sources}
    for name, source in wanted.items():
        data = source.read_bytes()
        copy = target / name
        if not copy.is_file() or copy.read_bytes() != data:
            copy.write_bytes(data)
            changed.append(name)
    for stale in sorted(target.iterdir()):
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
            changed.append(stale.name)
    return changed


def prepare(suite: Suite) -> list[dict]:
    """Read the suite's questions and, for a generated corpus, bring it up to date. Raises SuiteError."""
    if not suite.questions.is_file():
        raise SuiteError(f"questions file {suite.questions} not found")
    try:
        questions = load_questions(suite.questions)
    except QuestionsError as error:
        raise SuiteError(str(error)) from error
    if suite.generated_from is not None:
        sync_corpus(corpus_sources(*suite.generated_from), suite.corpus)
    return questions


def engine_opener(encoder: str | None, backend: str | None = None, milvus_uri: str | None = None) -> Callable:
    """open_engine(corpus, index) for run_suites: SearchEngine.open, building the index when missing or stale.

    On Milvus each set has its own collections: milvus-lite in `<index>.milvus.db`, or on a server given by
    `milvus_uri` the prefix plans_<index directory's parent name> (plans_wt_milvus, plans_webdev)."""
    def open_engine(corpus_dir: Path, index_dir: Path):
        from retrieval.engine import SearchEngine  # imported late: loading the engine stack is slow

        collection = None
        if milvus_uri and "://" in milvus_uri:
            collection = "plans_" + "".join(c if c.isalnum() else "_" for c in Path(index_dir).resolve().parent.name)
        return SearchEngine.open(corpus_dir=corpus_dir, index_dir=index_dir, encoder=encoder, backend=backend,
                                 milvus_uri=milvus_uri if collection else None, collection=collection)

    return open_engine


def run_suite(suite: Suite, out_dir: Path, k: int, open_engine: Callable) -> tuple[dict, list[dict], list[dict]]:
    """Prepare, open (building when needed) and evaluate one set; write OUT/<name>/metrics.json and runs.jsonl.

    Returns (metrics, runs, questions).
    """
    questions = prepare(suite)
    started = perf_counter()
    engine = open_engine(suite.corpus, suite.index)
    open_ms = round((perf_counter() - started) * 1000, 1)
    metrics, runs = evaluate(engine, questions, k=k)
    metrics["timing"]["open_ms"] = open_ms
    write_outputs(out_dir / suite.name, metrics, runs)
    return metrics, runs, questions


def headline(name: str, metrics: dict, questions_path: Path) -> dict:
    """One row of the summary: the figures the table shows, read from a set's metrics."""
    hybrid, k = metrics["legs"]["hybrid"], metrics["k"]
    unanswerable, wrong, timing = metrics["unanswerable"], metrics["wrong_answers"], metrics["timing"]
    return {
        "set": name,
        "questions": metrics["questions"],
        "recall@1": hybrid.get("recall@1"),
        "recall@5": hybrid.get("recall@5"),
        f"mrr@{k}": hybrid.get(f"mrr@{k}"),
        "answer@1": metrics["answer@1"],
        "fact@1": metrics["fact@1"],
        "unanswerable_flagged": unanswerable["flagged"],
        "unanswerable_total": unanswerable["total"],
        "false_alarms": unanswerable["false_alarms"],
        "fact_shown": metrics.get("fact_shown"),
        "wrong_fact_shown": metrics.get("wrong_fact_shown"),
        "wrong_org": wrong["wrong_org"],
        "wrong_year": wrong.get("wrong_year"),
        "wrong_org_ids": wrong["wrong_org_ids"],
        "answered_unanswerable_ids": wrong["answered_unanswerable_ids"],
        "p50_ms": timing["p50_ms"],
        "p95_ms": timing["p95_ms"],
        "open_s": round(timing["open_ms"] / 1000, 1) if timing.get("open_ms") is not None else None,
        "questions_file": str(questions_path),
    }


def format_table(rows: Sequence[dict], k: int) -> str:
    """The summary as an aligned text table, one row a set (hybrid leg for the retrieval figures)."""
    columns = [
        ("set", lambda r: r["set"]),
        ("R@1", lambda r: _number(r.get("recall@1"))),
        ("R@5", lambda r: _number(r.get("recall@5"))),
        (f"MRR@{k}", lambda r: _number(r.get(f"mrr@{k}"))),
        ("answer@1", lambda r: _number(r.get("answer@1"))),
        ("fact@1", lambda r: _number(r.get("fact@1"))),
        ("fact shown", lambda r: _number(r.get("fact_shown"))),
        ("wrong fact", lambda r: _number(r.get("wrong_fact_shown"))),
        ("unanswerable", lambda r: f"{r['unanswerable_flagged']}/{r['unanswerable_total']}" if "error" not in r else "—"),
        ("false alarms", lambda r: _count(r.get("false_alarms"))),
        ("wrong-org", lambda r: _count(r.get("wrong_org"))),
        ("wrong-year", lambda r: _count(r.get("wrong_year"))),
        ("p50 ms", lambda r: _number(r.get("p50_ms"), "{:.0f}")),
        ("p95 ms", lambda r: _number(r.get("p95_ms"), "{:.0f}")),
        ("open s", lambda r: _number(r.get("open_s"), "{:.1f}")),
    ]
    cells = [[title for title, _ in columns]] + [[cell(row) for _, cell in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(text.ljust(width) if i == 0 else text.rjust(width) for i, (text, width) in enumerate(zip(line, widths)))
             for line in cells]
    errors = [f"{row['set']}: not run: {row['error']}" for row in rows if "error" in row]
    return "\n".join(lines + errors)


def _number(value, pattern: str = "{:.3f}") -> str:
    return "—" if value is None else pattern.format(value)


def _count(value) -> str:
    return "—" if value is None else str(value)


def run_suites(suites: Sequence[Suite], out_dir: Path, k: int, open_engine: Callable) -> tuple[list[dict], dict]:
    """Run each set in turn (one engine at a time) and write OUT/summary.json.

    A set that cannot run gets a row with its error; the others still run.
    Returns (summary rows, {set name: (runs, questions)}) for callers such as the calibration report.
    """
    rows, outcomes = [], {}
    for suite in suites:
        try:
            metrics, runs, questions = run_suite(suite, out_dir, k, open_engine)
        except SuiteError as error:
            rows.append({"set": suite.name, "error": str(error)})
            continue
        rows.append(headline(suite.name, metrics, suite.questions))
        outcomes[suite.name] = (runs, questions)
    summary = {"k": k, "sets": {row["set"]: {key: value for key, value in row.items() if key != "set"} for row in rows}}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
    return rows, outcomes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with the calibration report: where the sets' indexes live and which sets to run."""
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "eval",
                        help="directory for summary.json and one folder per set (default artifacts/eval)")
    parser.add_argument("-k", type=int, default=10, help="ranking depth per leg (default 10)")
    parser.add_argument("--sets", default=",".join(SET_NAMES),
                        help=f"comma-separated sets to run, of {', '.join(SET_NAMES)} (default all three)")
    parser.add_argument("--dev-index", type=Path, default=ROOT / "index", help="index of corpus/ (default index)")
    parser.add_argument("--webdev-dir", type=Path, default=ROOT / "artifacts" / "webdev",
                        help="where the web-dev corpus is generated and indexed (default artifacts/webdev)")
    parser.add_argument("--web-dev", type=Path, default=WEB_DEV,
                        help="the web-dev set: questions.jsonl and docs/ (default ../shared/eval/web-dev)")
    parser.add_argument("--provdev-dir", type=Path, default=ROOT / "artifacts" / "provdev",
                        help="where the prov-dev corpus is generated and indexed (default artifacts/provdev)")
    parser.add_argument("--prov-dev", type=Path, default=PROV_DEV,
                        help="the prov-dev set: questions.jsonl and docs/ (default ../shared/eval/prov-dev)")
    parser.add_argument("--encoder", default=None, help="encoder for building indexes (default the engine's)")
    parser.add_argument("--backend", choices=("local", "milvus"), default=None,
                        help="where the indexes live: local segments (default) or Milvus (env RETRIEVAL_BACKEND)")
    parser.add_argument("--milvus-uri", default=None,
                        help="http://host:19530 for a Milvus server (each set gets its own collections); "
                             "default: milvus-lite in <index>.milvus.db per set")


def selected_suites(args: argparse.Namespace) -> list[Suite]:
    """The suites named by --sets, in the order given. Raises SuiteError for an unknown name."""
    names = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = [name for name in names if name not in SET_NAMES]
    if unknown or args.k < 1:
        problem = f"unknown set(s) {', '.join(unknown)}" if unknown else f"k must be at least 1, got {args.k}"
        raise SuiteError(f"{problem}: use --sets with {', '.join(SET_NAMES)} and -k >= 1")
    by_name = {suite.name: suite for suite in default_suites(args.dev_index, args.webdev_dir, args.web_dev,
                                                             provdev_dir=args.provdev_dir, prov_dev=args.prov_dev)}
    return [by_name[name] for name in names]


def main(argv: Sequence[str] | None = None, open_engine: Callable | None = None) -> int:
    """`python -m eval suites`: the three sets, one summary table. `open_engine(corpus, index)` replaces the engine."""
    parser = argparse.ArgumentParser(prog="python -m eval suites", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        suites = selected_suites(args)
    except SuiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows, _ = run_suites(suites, args.out, args.k,
                         open_engine or engine_opener(args.encoder, args.backend, args.milvus_uri))
    print(format_table(rows, args.k))
    for row in rows:
        if row.get("wrong_org_ids") or row.get("answered_unanswerable_ids"):
            print(f"{row['set']}: wrong-org {', '.join(row['wrong_org_ids']) or '—'}; "
                  f"answered unanswerable {', '.join(row['answered_unanswerable_ids']) or '—'}")
    print(f"wrote {args.out / 'summary.json'} and per-set metrics.json, runs.jsonl")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
