"""The fact step's weights, fitted and cross-validated on the gold facts of the visible sets.

    python -m eval train-facts [--reuse]   fit on dev + web-dev + prov-dev, write retrieval/resources/fact_weights.json
    python -m eval facts-cv [--reuse]      leave-one-set-out and document k-fold figures (nothing written but a report)

Each answerable gold question gives the sentence the engine answers with (its best guess), the question's analysis
and its weighted content words; the candidates of that sentence (retrieval.answer.candidates) are labelled by
whether they equal the gold answer (eval.metrics.fact_hit). A logistic regression over the named features scores
candidates; a second one, fitted on out-of-fold choices (folds by document, so no document is scored by weights
that saw it), turns the top score, its margin and the sentence's confidence into the probability that the fact is
right; each gate family's threshold is the lowest probability at which the out-of-fold facts shown are right at
least PRECISION of the time. Facts that come from figure records (retrieval.answer.figures) are scored as given.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from dataclasses import fields
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from eval.metrics import fact_hit
from eval.suites import SET_NAMES, SuiteError, default_suites, engine_opener, prepare
from retrieval.answer.candidates import FEATURE_NAMES
from retrieval.answer.fact_model import WEIGHTS_FILE, FactModel, FactModelError, load_model, read_model
from retrieval.answer.facts import MARGIN_ALONE, candidates_of, choose_fact
from retrieval.answer.kinds import KINDS, kind_named
from retrieval.corpus.atomic import write_text_atomic
from retrieval.types import QueryAnalysis

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "artifacts" / "facts" / "dataset.jsonl"
PRECISION = 0.95            # a fact is shown only where held-out facts were right at least this often
FOLDS = 5
REGULARISATION = 0.1        # the inverse strength C of the ranker's logistic regression
CALIBRATION_REGULARISATION = 1.0   # and of the calibration's (three inputs); both chosen by leave-one-set-out
GATES = tuple(dict.fromkeys(kind.gate for kind in KINDS))
MIN_GATE_EXAMPLES = 60      # a gate family with fewer held-out choices takes the pooled threshold (a 95% precision
#                             estimated on fewer is mostly noise)
SILVER_WEIGHT = 0.3         # a silver candidate counts this much of a gold one in the scorer's fit


# ------------------------------------------------------------------------------------------------ collecting
def collect(suites, open_engine, with_silver: bool = True) -> list[dict]:
    """One record per answerable gold question of each set: the engine's answer sentence and what it was chosen with."""
    records = []
    for suite in suites:
        questions = prepare(suite)
        engine = open_engine(suite.corpus, suite.index)
        for gold in questions:
            if gold.get("answer") is None:
                continue
            result = engine.ask(gold["question"])
            guess = result.best_guess or result.answer
            final = result.answer
            records.append({
                "set": suite.name, "id": gold["id"], "question": gold["question"], "gold": gold["answer"],
                "doc": gold.get("doc") or "", "sentence": guess.text if guess else None,
                "sentence_confidence": guess.confidence if guess else 0.0,
                "answered": final is not None,
                "analysis": {f.name: getattr(result.analysis, f.name) for f in fields(QueryAnalysis)},
                "terms": engine.fact_terms(gold["question"]),
                # a figure record's value, or the organisation a 哪个街道 question is answered with: given, not chosen
                "given_fact": final.fact if final is not None and (final.fact_source == "figure"
                                                                   or result.analysis.asks_organisation) else None,
            })
        if with_silver:
            seen = {record["id"] for record in records}
            records += [record for record in silver(engine, suite.name) if record["id"] not in seen]
    return records


# Category nouns a quoted name stands before in plans and reports (“某某”计划, “某某”品牌): silver questions ask
# for the name by its category. A category of the domain, not of any question.
SILVER_CATEGORIES = ("计划", "平台", "品牌", "工程", "行动", "模式", "产品", "基地", "项目", "活动", "机制", "体系", "工作法",
                     "服务", "示范区", "改革", "大赛", "联赛", "节", "奖", "专项", "中心", "服务站", "品牌活动")
SILVER_PER_TEMPLATE = 150        # per set, taken evenly over its passages


def silver(engine, set_name: str) -> list[dict]:
    """Questions generated from the corpus, labelled by construction (to train the scorer, never to report):
    a quoted name before its category ("那个计划叫什么？" over “某某”计划), a figure record's metric ("X是多少？"),
    a title's holder ("省长是谁？"), an amount by the noun it counts ("社区微菜场有多少？" over 近30家社区微菜场), a
    numbered label ("是几号地块？" over 12号地块)."""
    from retrieval.answer.candidates import PERSON_AFTER_TITLE
    from retrieval.answer.figures import extract_figures
    from retrieval.ingest.units import answer_units
    from retrieval.text.quantities import quantity_spans

    category = "|".join(sorted(SILVER_CATEGORIES, key=len, reverse=True))
    quoted_before = re.compile(rf"“([^“”\n]{{2,12}})”({category})")
    made: dict[str, list[dict]] = defaultdict(list)
    documents = engine.documents
    for chunk_id, chunk in sorted(engine.chunks.items()):
        meta = documents[chunk.doc_id].meta
        for start, end in answer_units(chunk.text):
            unit = chunk.text[start:end].strip()
            for match in quoted_before.finditer(unit):
                made["name"].append(_silver(engine, set_name, chunk.doc_id, unit, f"那个{match.group(2)}叫什么？",
                                            match.group(1)))
            for span in quantity_spans(unit):
                noun = _noun_after(unit, span.end)   # 近30家|社区微菜场: the amount counts the noun after it
                if noun and not span.text[:1] in "第前":
                    made["counted"].append(_silver(engine, set_name, chunk.doc_id, unit, f"{noun}有多少？", span.text))
            labels = NUMBERED_LABEL.findall(unit)
            for label, head in labels if len(labels) == 1 else ():
                made["label"].append(_silver(engine, set_name, chunk.doc_id, unit, f"是几号{head}？", label))
            for match in PERSON_AFTER_TITLE.finditer(unit):
                title = unit[max(0, match.start(1) - 3):match.start(1)].strip()
                made["person"].append(_silver(engine, set_name, chunk.doc_id, unit, f"{title}是谁？", match.group(1)))
        for record in extract_figures(chunk, meta):
            if len(record.metric) >= 3 and record.unit:
                sentence = chunk.text[record.sentence_span[0]:record.sentence_span[1]].strip()
                made["figure"].append(_silver(engine, set_name, chunk.doc_id, sentence, f"{record.metric}是多少？",
                                              record.value))
    chosen = []
    for template, found in sorted(made.items()):
        step = max(1, len(found) // SILVER_PER_TEMPLATE)
        chosen += [record for record in found[::step][:SILVER_PER_TEMPLATE] if record is not None]
    return chosen


NUMBERED_LABEL = re.compile(r"(\d+号([\u4e00-\u9fff]{0,3}?(?:地块|楼|线|院|库|门|厅|馆|桥)))")


def _noun_after(text: str, end: int) -> str:
    """The noun phrase right after a position (jieba nouns, up to 8 characters), or ""."""
    from retrieval.answer.candidates import words

    noun = ""
    for _offset, word, flag in words(text[end:end + 10]):
        if flag[:1] not in ("n", "j") or len(noun) + len(word) > 8:
            break
        noun += word
    return noun if len(noun) >= 2 else ""


def _silver(engine, set_name: str, doc_id: str, sentence: str, question: str, answer: str) -> dict | None:
    if not sentence or answer not in sentence:
        return None
    analysis = engine.analyze(question)
    return {"set": set_name, "id": f"silver:{doc_id}:{sentence[:12]}:{question}", "question": question, "gold": answer,
            "doc": doc_id, "sentence": sentence, "sentence_confidence": 1.0, "answered": True, "silver": True,
            "analysis": {f.name: getattr(analysis, f.name) for f in fields(QueryAnalysis)},
            "terms": engine.fact_terms(question), "given_fact": None}


def analysis_of(record: dict) -> QueryAnalysis:
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in record["analysis"].items()}
    return QueryAnalysis(**values)


# ------------------------------------------------------------------------------------------------ fitting
def featurised(records: Iterable[dict]) -> list[tuple[dict, list[str], np.ndarray, np.ndarray]]:
    """(record, candidate texts, feature rows, labels) for records whose fact is chosen from a sentence."""
    out = []
    for record in records:
        if record["given_fact"] is not None or not record["sentence"]:
            out.append((record, [], np.zeros((0, len(FEATURE_NAMES))), np.zeros(0)))
            continue
        _question, found, described = candidates_of(record["sentence"], analysis_of(record), record["terms"])
        rows = np.array([[values[name] for name in FEATURE_NAMES] for values in described]).reshape(-1, len(FEATURE_NAMES))
        labels = np.array([fact_hit(c.text, record["gold"], record["question"]) for c in found], dtype=float)
        out.append((record, [c.text for c in found], rows, labels))
    return out


def _fit_scorer(items) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A pairwise ranker: within each question, every right candidate against every wrong one (each question
    weighing the same, silver ones SILVER_WEIGHT), a logistic regression on the feature differences."""
    from sklearn.linear_model import LogisticRegression

    usable = [item for item in items if len(item[2]) and item[3].any() and not item[3].all()]
    every = np.vstack([item[2] for item in items if len(item[2])])
    mean = every.mean(axis=0)
    scale = every.std(axis=0)
    scale[scale < 1e-9] = 1.0
    differences, targets, weights = [], [], []
    for item in usable:
        rows = (item[2] - mean) / scale
        right, wrong = rows[item[3] > 0], rows[item[3] == 0]
        pairs = (right[:, None, :] - wrong[None, :, :]).reshape(-1, rows.shape[1])
        weight = (SILVER_WEIGHT if _is_silver(item) else 1.0) / len(pairs)
        differences += [pairs, -pairs]
        targets += [np.ones(len(pairs)), np.zeros(len(pairs))]
        weights += [np.full(len(pairs), weight)] * 2
    model = LogisticRegression(C=REGULARISATION, fit_intercept=False, max_iter=5000)
    model.fit(np.vstack(differences), np.concatenate(targets), sample_weight=np.concatenate(weights))
    return mean, scale, model.coef_[0], 0.0


def _scores(rows: np.ndarray, mean, scale, coef, intercept) -> np.ndarray:
    return ((rows - mean) / scale) @ coef + intercept if len(rows) else np.zeros(0)


def _choice(item, mean, scale, coef, intercept) -> tuple[str, float, float, bool]:
    """(top candidate, its score, its margin, right?) of one featurised record."""
    record, texts, rows, labels = item
    scores = _scores(rows, mean, scale, coef, intercept)
    order = sorted(range(len(texts)), key=lambda i: (-scores[i], i))
    top = order[0]
    margin = scores[top] - scores[order[1]] if len(order) > 1 else MARGIN_ALONE
    return texts[top], float(scores[top]), float(margin), bool(labels[top])


def _groups(items) -> list[str]:
    return [f"{item[0]['set']}/{item[0]['doc']}" for item in items]


def _folds(items, k: int = FOLDS) -> list[tuple[list[int], list[int]]]:
    """Document-level folds: each document's questions all in one fold."""
    from sklearn.model_selection import GroupKFold

    groups = _groups(items)
    k = min(k, len(set(groups)))
    return [(list(train), list(test)) for train, test in GroupKFold(n_splits=k).split(np.zeros(len(items)), groups=groups)]


def _is_silver(item) -> bool:
    return bool(item[0].get("silver"))


def _without_documents(items, documents: set[str]):
    """The silver items not made from these documents (the documents a fold or a held-out set is scored on)."""
    return [item for item in items if not (_is_silver(item) and item[0]["doc"] in documents)]


def fit(items, origin: dict) -> FactModel:
    """Scorer on all items (gold and silver); calibration and thresholds from document-level out-of-fold choices
    on the gold items only."""
    mean, scale, coef, intercept = _fit_scorer(items)
    gold = [item for item in items if not _is_silver(item)]
    silver_items = [item for item in items if _is_silver(item)]
    held_out = []                                   # (gate, top score, margin, sentence confidence, right)
    for train, test in _folds(gold):
        tested = {gold[i][0]["doc"] for i in test}
        fold = _fit_scorer([gold[i] for i in train] + _without_documents(silver_items, tested))
        for i in test:
            record, texts = gold[i][0], gold[i][1]
            if not texts:
                continue
            _text, top, margin, right = _choice(gold[i], *fold)
            held_out.append((kind_named(record["analysis"]["answer_kind"]).gate, top, margin,
                             record["sentence_confidence"], right))
    calibration = _fit_calibration(held_out)
    probe = FactModel(tuple(FEATURE_NAMES), tuple(mean), tuple(scale), tuple(coef), intercept, calibration,
                      {"default": 0.5}, {})
    probabilities = [(gate, probe.probability(top, margin, sentence), right)
                     for gate, top, margin, sentence, right in held_out]
    thresholds = {"default": _threshold([(p, r) for _g, p, r in probabilities])}
    for gate in GATES:
        mine = [(p, r) for g, p, r in probabilities if g == gate]
        if len(mine) >= MIN_GATE_EXAMPLES:
            thresholds[gate] = _threshold(mine)
    summary = {**origin, "candidates": int(sum(len(item[1]) for item in items)), "gold_questions": len(gold),
               "silver_questions": len(silver_items),
               "held_out_choices": len(held_out), "held_out_right": int(sum(r for *_x, r in held_out)),
               "precision_target": PRECISION, "folds": FOLDS, "regularisation": REGULARISATION,
               "calibration_regularisation": CALIBRATION_REGULARISATION, "silver_weight": SILVER_WEIGHT}
    return FactModel(tuple(FEATURE_NAMES), tuple(float(v) for v in mean), tuple(float(v) for v in scale),
                     tuple(float(v) for v in coef), intercept, calibration,
                     {gate: round(value, 6) for gate, value in thresholds.items()}, summary)


def _fit_calibration(held_out) -> tuple[float, float, float, float]:
    from sklearn.linear_model import LogisticRegression

    labels = [right for *_x, right in held_out]
    if len(set(labels)) < 2:
        return (0.0, 0.0, 0.0, 5.0 if labels and labels[0] else -5.0)
    x = np.array([[top, margin, sentence] for _g, top, margin, sentence, _r in held_out])
    model = LogisticRegression(C=CALIBRATION_REGULARISATION, max_iter=5000).fit(x, labels)
    a, b, d = (float(v) for v in model.coef_[0])
    return (a, b, d, float(model.intercept_[0]))


def _threshold(pairs: Sequence[tuple[float, bool]]) -> float:
    """The lowest probability t at which the facts with probability ≥ t are right at least PRECISION of the time
    (1.01, never shown, when no t reaches it)."""
    ranked = sorted(pairs, key=lambda pair: -pair[0])
    best, right = 1.01, 0
    for count, (probability, correct) in enumerate(ranked, 1):
        right += correct
        if right / count >= PRECISION and (count == len(ranked) or ranked[count][0] < probability):
            best = probability
    return best


# ------------------------------------------------------------------------------------------------ scoring
def score(model: FactModel, records: Sequence[dict]) -> dict[str, dict]:
    """Per set: fact@1, wrong fact shown and fact shown (as shares of its answerable questions), as the app shows."""
    tally: dict[str, dict] = defaultdict(lambda: {"questions": 0, "right": 0, "wrong": 0, "wrong_ids": [], "missed_ids": []})
    for record in records:
        counts = tally[record["set"]]
        counts["questions"] += 1
        fact = shown_fact(model, record)
        if not fact:
            counts["missed_ids"].append(record["id"])
        elif fact_hit(fact, record["gold"], record["question"]):
            counts["right"] += 1
        else:
            counts["wrong"] += 1
            counts["wrong_ids"].append(record["id"])
    return {name: {"questions": c["questions"], "fact@1": round(c["right"] / c["questions"], 3),
                   "wrong_fact_shown": round(c["wrong"] / c["questions"], 3),
                   "fact_shown": round((c["right"] + c["wrong"]) / c["questions"], 3),
                   "wrong_ids": c["wrong_ids"], "missed_ids": c["missed_ids"]}
            for name, c in tally.items()}


def shown_fact(model: FactModel, record: dict) -> str:
    if not record["answered"]:
        return ""
    if record["given_fact"] is not None:
        return record["given_fact"]
    if not record["sentence"]:
        return ""
    return choose_fact(record["sentence"], analysis_of(record), record["terms"], model,
                       sentence_confidence=record["sentence_confidence"]).fact


def leave_one_set_out(records: Sequence[dict]) -> dict[str, dict]:
    """For each set: weights fitted on the other two (their gold and silver questions; no silver made from the
    held-out set's documents), scored on its gold questions."""
    items = featurised(records)
    out = {}
    for held in SET_NAMES:
        test = [item[0] for item in items if item[0]["set"] == held and not _is_silver(item)]
        documents = {record["doc"] for record in test}
        train = [item for item in _without_documents(items, documents) if item[0]["set"] != held or _is_silver(item)]
        if not train or not test:
            continue
        model = fit(train, {"sets": [name for name in SET_NAMES if name != held]})
        out[held] = score(model, test)[held]
    return out


def document_folds(records: Sequence[dict]) -> dict[str, dict]:
    """k-fold by document over the gold questions of the three sets: every question scored by weights fitted
    without its document (silver made from it left out too)."""
    items = featurised(records)
    gold = [item for item in items if not _is_silver(item)]
    silver_items = [item for item in items if _is_silver(item)]
    results: dict[str, dict] = defaultdict(lambda: {"questions": 0, "right": 0, "wrong": 0})
    for train, test in _folds(gold):
        tested = {gold[i][0]["doc"] for i in test}
        model = fit([gold[i] for i in train] + _without_documents(silver_items, tested), {"fold": True})
        for i in test:
            record = gold[i][0]
            counts = results[record["set"]]
            counts["questions"] += 1
            fact = shown_fact(model, record)
            if fact and fact_hit(fact, record["gold"], record["question"]):
                counts["right"] += 1
            elif fact:
                counts["wrong"] += 1
    return {name: {"questions": c["questions"], "fact@1": round(c["right"] / c["questions"], 3),
                   "wrong_fact_shown": round(c["wrong"] / c["questions"], 3),
                   "fact_shown": round((c["right"] + c["wrong"]) / c["questions"], 3)} for name, c in results.items()}


# ------------------------------------------------------------------------------------------------ commands
def untrained_model() -> FactModel:
    """Equal weights and a gate nothing passes: what collecting uses before any weights exist."""
    n = len(FEATURE_NAMES)
    return FactModel(tuple(FEATURE_NAMES), (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, (0.0, 0.0, 0.0, -5.0),
                     {"default": 1.01}, {"untrained": True})


def dataset(args) -> list[dict]:
    if args.reuse and args.dataset.is_file():
        return [json.loads(line) for line in args.dataset.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        load_model()
    except FactModelError as error:
        print(f"{error}\nusing an untrained model (no fact shown) to collect the answer sentences", file=sys.stderr)
        write_text_atomic(WEIGHTS_FILE, json.dumps(untrained_model().to_json(), ensure_ascii=False, indent=1) + "\n")
        load_model.cache_clear()
    records = collect(default_suites(), engine_opener(None))
    args.dataset.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.dataset, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return records


def _table(rows: dict[str, dict], title: str) -> str:
    lines = [title, f"{'set':<10}{'questions':>10}{'fact@1':>9}{'wrong fact':>12}{'fact shown':>12}"]
    for name in SET_NAMES:
        if name in rows:
            r = rows[name]
            lines.append(f"{name:<10}{r['questions']:>10}{r['fact@1']:>9.3f}{r['wrong_fact_shown']:>12.3f}{r['fact_shown']:>12.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, command: str = "facts-cv") -> int:
    parser = argparse.ArgumentParser(prog=f"python -m eval {command}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", action="store_true", help=f"reuse the collected sentences ({DATASET.relative_to(ROOT)})")
    parser.add_argument("--dataset", type=Path, default=DATASET, help="where the collected sentences are kept")
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE, help="the weights file (train-facts)")
    args = parser.parse_args(argv)
    try:
        records = dataset(args)
    except SuiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if command == "train-facts":
        items = featurised(records)
        model = fit(items, {"sets": list(SET_NAMES), "questions": len(records)})
        write_text_atomic(args.out, json.dumps(model.to_json(), ensure_ascii=False, indent=1) + "\n")
        read_model(args.out, FEATURE_NAMES)                  # what was written reads back
        load_model.cache_clear()
        print(f"wrote {args.out} (thresholds {model.thresholds})")
        print(_table(score(model, [r for r in records if not r.get("silver")]), "fitted on all three sets (in-sample):"))
        return 0
    loso = leave_one_set_out(records)
    print(_table(loso, "leave one set out (trained on the other two):"))
    for name, row in loso.items():
        print(f"  {name}: wrong {row['wrong_ids']}  not shown {row['missed_ids']}")
    print(_table(document_folds(records), f"{FOLDS}-fold by document over the three sets:"))
    return 0


def train_main(argv: Sequence[str] | None = None) -> int:
    return main(argv, "train-facts")
