"""Runs gold questions through the search engine and writes metrics.json and runs.jsonl."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from time import perf_counter

from eval.metrics import UNANSWERABLE, aggregate, answer_hit, fact_hit, latency_summary, retrieval_scores

from retrieval.corpus.atomic import write_text_atomic
from retrieval.types import LEGS
QUESTION_TYPES = ("number", "entity", "semantic", "list", "cross", UNANSWERABLE)
REQUIRED_FIELDS = ("id", "question", "type", "evidence", "answer")


class QuestionsError(ValueError):
    """The questions file cannot be read or a line breaks the gold format of eval/README.md."""


def load_questions(path: str | os.PathLike) -> list[dict]:
    """Read and check a gold questions file (one JSON object a line; blank lines skipped).

    Raises:
        QuestionsError: naming the file and line, when a line is not JSON or a field is missing or wrong.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionsError(f"cannot read questions file {path}: {error}") from error
    questions, seen_ids = [], set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise QuestionsError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from error
        problem = _record_problem(record, seen_ids)
        if problem:
            raise QuestionsError(f"{where}: {problem} (format: see eval/README.md)")
        seen_ids.add(record["id"])
        questions.append(record)
    if not questions:
        raise QuestionsError(f"{path}: no questions in the file")
    return questions


def _record_problem(record: object, seen_ids: set[str]) -> str | None:
    """What is wrong with one gold record, or None when it is usable."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    if not isinstance(record["id"], str) or not record["id"]:
        return f"id must be a non-empty string, got {record['id']!r}"
    if record["id"] in seen_ids:
        return f"duplicate id {record['id']!r}"
    if not isinstance(record["question"], str) or not record["question"].strip():
        return f"question must be a non-empty string, got {record['question']!r}"
    if record["type"] not in QUESTION_TYPES:
        return f"type {record['type']!r} is not one of {', '.join(QUESTION_TYPES)}"
    evidence = record["evidence"]
    if not isinstance(evidence, list) or not all(isinstance(item, str) and item.strip() for item in evidence):
        return f"evidence must be a list of non-empty strings, got {evidence!r}"
    if record["type"] != UNANSWERABLE and not evidence:
        return f"evidence is empty for a {record['type']} question: give 1-3 exact substrings"
    if record["answer"] is not None and (not isinstance(record["answer"], str) or not record["answer"].strip()):
        return f"answer must be a non-empty string or null, got {record['answer']!r}"
    return None


def gold_docs(gold: dict) -> list[str]:
    """The gold document file names of a question: one, a list of two for cross, none for unanswerable."""
    doc = gold.get("doc")
    if doc is None:
        return []
    return [doc] if isinstance(doc, str) else list(doc)


def answer_org(result, chunks, documents) -> str | None:
    """The organisation of the document the answer was taken from, or None when there is no answer."""
    if result.answer is None:
        return None
    chunk = chunks.get(result.answer.chunk_id)
    document = documents.get(chunk.doc_id) if chunk else None
    return document.meta.org if document else None


def answer_doc(result, chunks) -> str | None:
    """The file name of the document the answer was taken from, or None when there is no answer."""
    if result.answer is None:
        return None
    chunk = chunks.get(result.answer.chunk_id)
    return chunk.doc_id if chunk else None


def gold_orgs(gold: dict, documents) -> list[str]:
    """The organisations of the question's gold documents that are in the index (names, not file names)."""
    return list(dict.fromkeys(documents[doc].meta.org for doc in gold_docs(gold) if doc in documents))


def candidate_record(result) -> dict | None:
    """The best candidate answer, shown or not: best_guess when the engine gives one, else the answer."""
    candidate = result.best_guess or result.answer
    if candidate is None:
        return None
    return {"text": candidate.text, "fact": candidate.fact, "confidence": candidate.confidence,
            "chunk_id": candidate.chunk_id, "shown": result.answer is not None,
            "source": "best_guess" if result.best_guess is not None else "answer"}


def _default_record() -> Callable:
    from retrieval.serialize import ask_record  # imported late: loading the engine stack is slow

    return ask_record


def evaluate(engine, questions: Sequence[dict], k: int = 10, record: Callable | None = None) -> tuple[dict, list[dict]]:
    """Ask every question once and score all three legs from that one call.

    Args:
        engine: anything with `chunks` (chunk_id -> Chunk) and `ask(question, k) -> AskResult`.
        record: turns (engine, result, question_id) into a runs.jsonl record; default retrieval.serialize.ask_record.

    Returns:
        (metrics, runs): the metrics.json content and one record per question.
    """
    record = record or _default_record()
    # The first query pays one-off lazy loading (tokenizer dictionary, model warm-up); time it apart.
    started = perf_counter()
    engine.ask(questions[0]["question"], k)
    first_ms = (perf_counter() - started) * 1000

    leg_scores = {leg: {} for leg in LEGS}
    answer_scores, timings, runs, orgs = {}, [], [], {}
    flagged = false_alarms = 0
    wrong_org, wrong_year, answered_unanswerable, wrong_fact, facts_shown = [], [], [], [], []
    for gold in questions:
        qid = gold["id"]
        started = perf_counter()
        try:
            result = engine.ask(gold["question"], k)
        except Exception as error:
            error.add_note(f"while asking question {qid}: {gold['question']}")
            raise
        timings.append((perf_counter() - started) * 1000)
        for leg in LEGS:
            passages = [(result.chunks or engine.chunks)[hit.chunk_id].text for hit in result.legs[leg]]
            leg_scores[leg][qid] = retrieval_scores(passages, gold, k)
        answer_text = result.answer.text if result.answer else None
        if gold["answer"] is not None:
            fact = result.answer.fact if result.answer else ""
            answer_scores[qid] = {"answer@1": float(answer_hit(answer_text, gold["answer"])),
                                  "fact@1": float(fact_hit(fact, gold["answer"], gold["question"]))}
            if fact:
                facts_shown.append(qid)
                if not fact_hit(fact, gold["answer"], gold["question"]):
                    wrong_fact.append(qid)
        if answer_text is None:
            if gold["type"] == UNANSWERABLE:
                flagged += 1
            else:
                false_alarms += 1
        elif gold["type"] == UNANSWERABLE:
            answered_unanswerable.append(qid)
        documents = result.documents or engine.documents
        answered_by = answer_org(result, result.chunks or engine.chunks, documents)
        expected = gold_orgs(gold, documents)
        orgs[qid] = answered_by
        if answered_by is not None and expected and answered_by not in expected:
            wrong_org.append(qid)
        elif answered_by is not None and expected and answer_doc(result, result.chunks or engine.chunks) not in gold_docs(gold):
            wrong_year.append(qid)          # the right organisation's other document (another year or version)
        run = record(engine, result, question_id=qid)
        run.setdefault("best_guess", candidate_record(result))
        runs.append(run)

    legs = {leg: aggregate(scores) for leg, scores in leg_scores.items()}
    type_of = {gold["id"]: gold["type"] for gold in questions}
    types = dict.fromkeys(gold["type"] for gold in questions if gold["type"] != UNANSWERABLE)
    by_type = {
        qtype: aggregate({gold["id"]: leg_scores["hybrid"][gold["id"]] for gold in questions if gold["type"] == qtype})
        for qtype in types
    }
    answers = aggregate(answer_scores)
    answers_by_type = {
        qtype: aggregate({qid: scores for qid, scores in answer_scores.items() if type_of[qid] == qtype})
        for qtype in dict.fromkeys(type_of[qid] for qid in answer_scores)
    }
    chunk_chars = [len(chunk.text) for chunk in engine.chunks.values()]
    # hybrid_by_type comes after the headline figures: readers often see only the head of the file.
    metrics = {
        "questions": len(questions),
        "k": k,
        "legs": {leg: {"questions": summary.questions, **_rounded(summary.mean)} for leg, summary in legs.items()},
        "answer@1": round(answers.mean.get("answer@1", 0.0), 4),
        "fact@1": round(answers.mean.get("fact@1", 0.0), 4),
        "answer_questions": answers.questions,
        # A highlighted fact that is not the gold answer, and any highlighted fact, over the questions with a gold answer.
        "wrong_fact_shown": round(len(wrong_fact) / answers.questions, 4) if answers.questions else 0.0,
        "fact_shown": round(len(facts_shown) / answers.questions, 4) if answers.questions else 0.0,
        "wrong_fact_ids": wrong_fact,
        "unanswerable": {
            "total": sum(gold["type"] == UNANSWERABLE for gold in questions),
            "flagged": flagged,
            "false_alarms": false_alarms,
        },
        # Answers citing another organisation's document, and answers to questions no document answers.
        "wrong_answers": {
            "wrong_org": len(wrong_org),
            "wrong_org_ids": wrong_org,
            "wrong_year": len(wrong_year),
            "wrong_year_ids": wrong_year,
            "answered_unanswerable": len(answered_unanswerable),
            "answered_unanswerable_ids": answered_unanswerable,
        },
        "chunks": {
            "count": len(chunk_chars),
            "mean_chars": round(sum(chunk_chars) / len(chunk_chars), 1) if chunk_chars else 0.0,
            "max_chars": max(chunk_chars, default=0),
        },
        "timing": {**_rounded(latency_summary(timings), 1), "first_ms": round(first_ms, 1)},
        "hybrid_by_type": {qtype: {"questions": s.questions, **_rounded(s.mean)} for qtype, s in by_type.items()},
        "answers_by_type": {qtype: {"questions": s.questions, **_rounded(s.mean)} for qtype, s in answers_by_type.items()},
        "per_question": {
            gold["id"]: {
                "type": gold["type"],
                **{leg: _rounded(legs[leg].individual_scores.get(gold["id"], {})) or None for leg in LEGS},
                "answer@1": answers.individual_scores.get(gold["id"], {}).get("answer@1"),
                "fact@1": answers.individual_scores.get(gold["id"], {}).get("fact@1"),
                "answer_org": orgs[gold["id"]],
                "wrong_org": gold["id"] in wrong_org,
                "ms": round(ms, 1),
            }
            for gold, ms in zip(questions, timings)
        },
    }
    return metrics, runs


def _ids(ids: Sequence[str]) -> str:
    return f" ({', '.join(ids)})" if ids else ""


def _rounded(values: dict[str, float], digits: int = 4) -> dict[str, float]:
    return {name: round(value, digits) for name, value in values.items()}


def write_outputs(out_dir: str | os.PathLike, metrics: dict, runs: Sequence[dict]) -> None:
    """Write DIR/metrics.json (one top-level key a line, so its head reads as a summary) and DIR/runs.jsonl."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    body = ",\n".join(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" for key, value in metrics.items())
    write_text_atomic(out / "metrics.json", "{\n" + body + "\n}\n")
    write_text_atomic(out / "runs.jsonl", "".join(json.dumps(run, ensure_ascii=False) + "\n" for run in runs))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"k must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Score the engine on gold questions.")
    parser.add_argument("--questions", required=True, help="gold questions, JSON lines (see eval/README.md)")
    parser.add_argument("--out", required=True, help="directory for metrics.json and runs.jsonl")
    parser.add_argument("-k", type=_positive_int, default=10, help="ranking depth per leg (default 10)")
    parser.add_argument("--corpus", default="corpus", help="corpus directory (default corpus)")
    parser.add_argument("--index", default="index", help="index directory, built when missing or stale (default index)")
    from retrieval.__main__ import add_backend_arguments

    add_backend_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None, engine=None) -> int:
    """The CLI; `engine` replaces SearchEngine.open (tests pass a fake). Returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        questions = load_questions(args.questions)
    except QuestionsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    open_ms = None
    if engine is None:
        from retrieval.engine import SearchEngine

        started = perf_counter()
        engine = SearchEngine.open(corpus_dir=args.corpus, index_dir=args.index, backend=args.backend,
                                   milvus_uri=args.milvus_uri, collection=args.milvus_collection)
        open_ms = round((perf_counter() - started) * 1000, 1)
    metrics, runs = evaluate(engine, questions, k=args.k)
    metrics["timing"]["open_ms"] = open_ms
    write_outputs(args.out, metrics, runs)

    for leg in LEGS:
        print(json.dumps({"leg": leg, **metrics["legs"][leg]}, ensure_ascii=False))
    timing, unanswerable = metrics["timing"], metrics["unanswerable"]
    wrong = metrics["wrong_answers"]
    print(
        f"answer@1 {metrics['answer@1']:.3f}, fact@1 {metrics['fact@1']:.3f} over {metrics['answer_questions']} questions "
        f"(a fact shown {metrics['fact_shown']:.3f}, a wrong one {metrics['wrong_fact_shown']:.3f}); "
        f"unanswerable flagged {unanswerable['flagged']}/{unanswerable['total']}, "
        f"false alarms {unanswerable['false_alarms']}; "
        f"wrong-org answers {wrong['wrong_org']}{_ids(wrong['wrong_org_ids'])}; "
        f"another year's document {wrong['wrong_year']}{_ids(wrong['wrong_year_ids'])}; "
        f"query p50 {timing['p50_ms']:.0f} ms, p95 {timing['p95_ms']:.0f} ms; "
        f"wrote {Path(args.out) / 'metrics.json'} and runs.jsonl"
    )
    print("by type: " + "; ".join(
        f"{qtype} answer@1 {scores['answer@1']:.3f} fact@1 {scores['fact@1']:.3f} ({scores['questions']})"
        for qtype, scores in metrics["answers_by_type"].items()
    ))
    return 0
