"""Compare two runs.jsonl files question by question: the same answers and the same ranked passages per leg.

Usage: python scripts/compare_runs.py BEFORE/runs.jsonl AFTER/runs.jsonl [--score-tolerance 1e-5]
Exit status 0 when every question has the same answer (text, passage, span, fact; confidence within the
tolerance) and every leg ranks the same passages with scores within the tolerance; 1 otherwise, with each
difference printed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SCORE_TOLERANCE = 1e-5


def read_runs(path: Path) -> dict[str, dict]:
    runs = {}
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                run = json.loads(line)
                runs[run.get("id") or f"line {number}"] = run
    return runs


def _answer_differences(before: dict | None, after: dict | None, tolerance: float) -> list[str]:
    if (before is None) != (after is None):
        return [f"answer {'found' if after else 'lost'}: {before and before['text']!r} → {after and after['text']!r}"]
    if before is None:
        return []
    found = [f"answer {field}: {before[field]!r} → {after[field]!r}" for field in ("text", "chunk_id", "span", "fact")
             if before.get(field) != after.get(field)]
    if abs(before["confidence"] - after["confidence"]) > tolerance:
        found.append(f"answer confidence: {before['confidence']} → {after['confidence']}")
    return found


def differences(before: dict[str, dict], after: dict[str, dict], tolerance: float = SCORE_TOLERANCE) -> list[str]:
    """Every difference between two runs, as lines naming the question and what changed."""
    found = [f"{qid}: only in the first run" for qid in sorted(set(before) - set(after))]
    found += [f"{qid}: only in the second run" for qid in sorted(set(after) - set(before))]
    for qid in sorted(set(before) & set(after)):
        old, new = before[qid], after[qid]
        found += [f"{qid}: {d}" for d in _answer_differences(old.get("answer"), new.get("answer"), tolerance)]
        for leg in sorted(set(old["results"]) | set(new["results"])):
            old_hits, new_hits = old["results"].get(leg, []), new["results"].get(leg, [])
            if [h["chunk_id"] for h in old_hits] != [h["chunk_id"] for h in new_hits]:
                found.append(f"{qid}: {leg} ranking {[h['chunk_id'][:8] for h in old_hits]} → "
                             f"{[h['chunk_id'][:8] for h in new_hits]}")
                continue
            for a, b in zip(old_hits, new_hits):
                if abs(a["score"] - b["score"]) > tolerance:
                    found.append(f"{qid}: {leg} rank {a['rank']} score {a['score']} → {b['score']}")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--score-tolerance", type=float, default=SCORE_TOLERANCE)
    args = parser.parse_args(argv)
    before, after = read_runs(args.before), read_runs(args.after)
    found = differences(before, after, args.score_tolerance)
    for line in found:
        print(line)
    print(f"{len(before)} questions compared, {len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
