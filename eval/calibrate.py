"""The 未找到 threshold report: for each confidence threshold, the right facts kept and the wrong ones stopped."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from eval.metrics import UNANSWERABLE, answer_hit, fact_hit
from eval.runner import load_questions
from eval.suites import SuiteError, add_arguments, engine_opener, format_table, run_suites, selected_suites
from retrieval.corpus.atomic import write_text_atomic

STEP = 0.05
CRITERION = ("score = right facts kept - (wrong facts shown + unanswerable questions answered + false alarms); "
             "the highest score wins, ties go to the lower threshold")


@dataclass(frozen=True)
class Outcome:
    """One question's best candidate, judged against its gold answer."""

    set: str
    id: str
    # right / wrong: the candidate's fact equals / differs from the gold answer (no candidate: wrong);
    # unanswerable: no document answers it; unscored: answerable but with no short gold answer (list, cross).
    kind: str
    confidence: float | None            # None: the engine gave no candidate at all
    sentence_right: bool                # the candidate's sentence contains the gold answer
    source: str                         # best_guess / answer / none


def outcomes(set_name: str, runs: Sequence[dict], questions: Sequence[dict]) -> list[Outcome]:
    """Judge each run's candidate (runs.jsonl lines carry `best_guess`, else the shown answer is used)."""
    gold_by_id = {gold["id"]: gold for gold in questions}
    judged = []
    for run in runs:
        gold = gold_by_id[run["id"]]
        candidate = run.get("best_guess") or run.get("answer")
        fact = candidate.get("fact", "") if candidate else ""
        text = candidate.get("text") if candidate else None
        if gold["type"] == UNANSWERABLE:
            kind = "unanswerable"
        elif gold["answer"] is None:
            kind = "unscored"
        else:
            kind = "right" if fact_hit(fact, gold["answer"], gold.get("question", "")) else "wrong"
        judged.append(Outcome(
            set=set_name, id=run["id"], kind=kind,
            confidence=candidate.get("confidence") if candidate else None,
            sentence_right=gold["answer"] is not None and answer_hit(text, gold["answer"]),
            source=candidate.get("source", "answer") if candidate else "none",
        ))
    return judged


def thresholds(step: float = STEP) -> list[float]:
    """0.0, step, 2·step, … up to 1.0 inclusive."""
    if not 0 < step <= 1:
        raise ValueError(f"step must be in (0, 1], got {step}")
    count = round(1 / step)
    return [round(i * step, 4) for i in range(count + 1) if i * step <= 1 + 1e-9]


def sweep_row(judged: Sequence[Outcome], threshold: float) -> dict:
    """What a threshold would do: a candidate is shown when its confidence is at least the threshold."""
    def shown(outcome: Outcome) -> bool:
        return outcome.confidence is not None and outcome.confidence >= threshold

    def count(kind: str, is_shown: bool) -> int:
        return sum(1 for o in judged if o.kind == kind and shown(o) == is_shown)

    row = {
        "threshold": threshold,
        "right_kept": count("right", True),
        "right_stopped": count("right", False),
        "wrong_shown": count("wrong", True),
        "wrong_stopped": count("wrong", False),
        "unanswerable_flagged": count("unanswerable", False),
        "unanswerable_answered": count("unanswerable", True),
        "false_alarms": sum(1 for o in judged if o.kind != "unanswerable" and not shown(o)),
        "sentence_right_kept": sum(1 for o in judged if o.sentence_right and shown(o)),
    }
    # Every kind of error costs one: a wrong fact shown, an unanswerable question answered, and an answerable
    # question silenced (so silencing a right fact costs two, silencing a wrong one costs nothing).
    row["score"] = row["right_kept"] - row["wrong_shown"] - row["unanswerable_answered"] - row["false_alarms"]
    return row


def best(rows: Sequence[dict]) -> dict:
    """The row with the highest score, the lowest threshold among equals."""
    return max(rows, key=lambda row: (row["score"], -row["threshold"]))


def report(judged_by_set: dict[str, list[Outcome]], step: float = STEP) -> dict:
    """The sweep over all sets together and over each set, with the best threshold of each."""
    every = [outcome for judged in judged_by_set.values() for outcome in judged]
    levels = thresholds(step)
    rows = [sweep_row(every, level) for level in levels]
    by_set = {}
    for name, judged in judged_by_set.items():
        set_rows = [sweep_row(judged, level) for level in levels]
        by_set[name] = {"best": best(set_rows), "rows": set_rows}
    return {
        "criterion": CRITERION,
        "best": best(rows),
        "candidates_from_best_guess": sum(1 for o in every if o.source == "best_guess"),
        "questions": len(every),
        "rows": rows,
        "by_set": by_set,
        "outcomes": [asdict(outcome) for outcome in every],
    }


COLUMNS = (("threshold", "threshold"), ("right kept", "right_kept"), ("wrong shown", "wrong_shown"),
           ("wrong stopped", "wrong_stopped"), ("unanswerable flagged", "unanswerable_flagged"),
           ("false alarms", "false_alarms"), ("sentence right kept", "sentence_right_kept"), ("score", "score"))


def format_report(result: dict) -> str:
    """The sweep over all sets as a markdown table, then the best threshold overall and per set."""
    header = "| " + " | ".join(title for title, _ in COLUMNS) + " |"
    lines = [header, "|" + "---:|" * len(COLUMNS)]
    chosen = result["best"]["threshold"]
    for row in result["rows"]:
        cells = [f"{row[key]:.2f}" if key == "threshold" else str(row[key]) for _, key in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |" + (" ← best" if row["threshold"] == chosen else ""))
    lines.append("")
    lines.append(f"Criterion: {result['criterion']}.")
    lines.append(f"Best threshold over all {result['questions']} questions: {chosen:.2f} (score {result['best']['score']}).")
    for name, part in result["by_set"].items():
        lines.append(f"Best for {name} alone: {part['best']['threshold']:.2f} (score {part['best']['score']}).")
    if result["candidates_from_best_guess"] == 0:
        lines.append("No run carried a best_guess: questions the engine left 未找到 have no candidate, so lower "
                     "thresholds cannot show them and the sweep only tells where to silence more.")
    return "\n".join(lines)


def _runs_from(directory: Path) -> dict[str, tuple[list[dict], list[dict]]]:
    """(runs, questions) of each set of an earlier `python -m eval suites --out DIR`. Raises SuiteError."""
    summary_path = directory / "summary.json"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise SuiteError(f"cannot read {summary_path} ({error}): run `python -m eval suites --out {directory}` first")
    found = {}
    for name, row in summary["sets"].items():
        if "error" in row:
            continue
        runs_path = directory / name / "runs.jsonl"
        try:
            runs = [json.loads(line) for line in runs_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, json.JSONDecodeError) as error:
            raise SuiteError(f"cannot read {runs_path} ({error}): run the suites again") from error
        found[name] = (runs, load_questions(row["questions_file"]))
    return found


def main(argv: Sequence[str] | None = None, open_engine=None) -> int:
    """`python -m eval calibrate`: run both sets once (or read --runs DIR) and write calibration.json and .md."""
    parser = argparse.ArgumentParser(prog="python -m eval calibrate", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--runs", type=Path, default=None,
                        help="reuse the runs of an earlier `python -m eval suites --out DIR` instead of asking again")
    parser.add_argument("--step", type=float, default=STEP, help=f"threshold step (default {STEP})")
    args = parser.parse_args(argv)
    try:
        thresholds(args.step)                    # a bad step fails before any question is asked
        if args.runs is not None:
            results = _runs_from(args.runs)
        else:
            rows, results = run_suites(selected_suites(args), args.out, args.k, open_engine or engine_opener(args.encoder))
            print(format_table(rows, args.k) + "\n")
    except (SuiteError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not results:
        print("error: no set could be run, so there is nothing to calibrate", file=sys.stderr)
        return 2
    judged = {name: outcomes(name, runs, questions) for name, (runs, questions) in results.items()}
    result = report(judged, args.step)
    text = format_report(result)
    out = args.runs or args.out
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "calibration.json", json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    write_text_atomic(out / "calibration.md", "# 未找到 threshold calibration\n\n" + text + "\n")
    print(text)
    print(f"wrote {out / 'calibration.json'} and calibration.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
