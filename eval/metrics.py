"""Retrieval and answer metrics over evidence-string gold, after sentence-transformers' InformationRetrievalEvaluator."""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

UNANSWERABLE = "unanswerable"
CROSS = "cross"
RECALL_CUTOFFS = (1, 3, 5, 10)


def normalize(text: str) -> str:
    """Remove all whitespace, the full-width space U+3000 included (str.split knows it)."""
    return "".join(text.split())


def is_relevant(passage_text: str, evidence: Sequence[str]) -> bool:
    """True when the passage contains one of the evidence strings, whitespace ignored on both sides."""
    passage = normalize(passage_text)
    return any(normalize(item) in passage for item in evidence)


def answer_hit(answer_text: str | None, gold_answer: str) -> bool:
    """True when the returned answer contains the gold answer, whitespace ignored; no answer is a miss."""
    return answer_text is not None and normalize(gold_answer) in normalize(answer_text)


# --- fact@1: the highlighted fact equals the gold answer (definition in eval/README.md) ---------

_QUOTES = str.maketrans({c: '"' for c in "“”„‟「」『』＂"} | {c: "'" for c in "‘’‚‛"})
_KEPT_AT_EDGES = "%‰"                        # punctuation by category, yet part of a quantity
_CN_DIGITS = "〇零一二两三四五六七八九十"
_CN_MAGNITUDES = "百千万亿"
_NUMERAL = rf"[\d{_CN_DIGITS}{_CN_MAGNITUDES}]"
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PERCENT_WORDS = re.compile(rf"百分之([\d.{_CN_DIGITS}百千]+(?:点[{_CN_DIGITS}]+)?)")
_APPROXIMATE_INFIX = re.compile(rf"(?<={_NUMERAL})[余多]")              # 600余家, 3万多平方米, 十多个
_APPROXIMATE_PREFIX = re.compile(r"(?:超过|超|逾|近|约|达|共)(?=[\d" + _CN_DIGITS + "])")
_APPROXIMATE_SUFFIX = re.compile(r"(?:以上|左右)+$")
_ARABIC_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(万亿|亿|万)?")
_CHINESE_NUMBER = re.compile(rf"[{_CN_DIGITS}{_CN_MAGNITUDES}]+(?:点[{_CN_DIGITS}]+)?")
_MAGNITUDE = {"万": Decimal(10) ** 4, "亿": Decimal(10) ** 8, "万亿": Decimal(10) ** 12}


def _plain_number(value: Decimal) -> str:
    """A number written without exponent or trailing zeros: 30000, 1397600, 0.5."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _arabic_value(match: re.Match) -> str:
    return _plain_number(Decimal(match.group(1)) * _MAGNITUDE.get(match.group(2) or "", 1))


def _chinese_value(match: re.Match) -> str:
    run = match.group()
    if not any(char in _CN_DIGITS for char in run):      # 万里, 千方百计: magnitude words, not numbers
        return run
    import cn2an  # imported late: only Chinese numerals need it

    try:
        value = cn2an.cn2an(run, "smart")
    except ValueError:                                   # 十三五, 一二三四: a name or a list, not one number
        return run
    try:
        return _plain_number(Decimal(str(value)))
    except InvalidOperation:
        return run


def _strip_edges(text: str) -> str:
    """Drop punctuation (quotes, brackets, 。，) around the fact; % and ‰ stay."""
    def is_edge(char: str) -> bool:
        return unicodedata.category(char).startswith("P") and char not in _KEPT_AT_EDGES

    start, end = 0, len(text)
    while start < end and is_edge(text[start]):
        start += 1
    while end > start and is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def normalize_fact(text: str) -> str:
    """The canonical form two facts are compared in; see eval/README.md (fact@1) for each step."""
    text = normalize(unicodedata.normalize("NFKC", text)).translate(_QUOTES)
    text = _THOUSANDS_COMMA.sub("", _strip_edges(text))
    text = _PERCENT_WORDS.sub(r"\1%", text)
    text = _APPROXIMATE_INFIX.sub("", text)
    text = _APPROXIMATE_PREFIX.sub("", text)
    text = _APPROXIMATE_SUFFIX.sub("", text)
    # Arabic first: in 3万 the 万 belongs to the digits; a Chinese run never contains a digit.
    text = _ARABIC_NUMBER.sub(_arabic_value, text)
    text = _CHINESE_NUMBER.sub(_chinese_value, text)
    return text


def fact_hit(fact: str | None, gold_answer: str, question: str = "") -> bool:
    """True when the highlighted fact equals the gold answer in canonical form; no fact is a miss.

    With the question, a fact also equals a gold answer that only adds the noun the question counts
    ("几个小区": 10个 = 10个小区): the question already says what is counted.
    """
    if not fact or not gold_answer:
        return False
    fact_form, gold_form = normalize_fact(fact), normalize_fact(gold_answer)
    if fact_form == gold_form:
        return True
    rest = gold_form[len(fact_form):] if gold_form.startswith(fact_form) and fact_form[:1].isdigit() else ""
    return bool(rest) and normalize(unicodedata.normalize("NFKC", rest)) in normalize(unicodedata.normalize("NFKC", question))


def _coverage(passages: Sequence[str], evidence: Sequence[str]) -> list[frozenset[int]]:
    """For each passage, the indices of the evidence strings it contains."""
    wanted = [normalize(item) for item in evidence]
    covered = []
    for text in passages:
        passage = normalize(text)
        covered.append(frozenset(i for i, item in enumerate(wanted) if item in passage))
    return covered


def _scored_evidence(gold: Mapping) -> Sequence[str] | None:
    """The evidence to score against, or None for a question left out of retrieval metrics."""
    if gold["type"] == UNANSWERABLE or not gold["evidence"]:
        return None
    return gold["evidence"]


def recall_at_k(passages: Sequence[str], gold: Mapping, k: int) -> float | None:
    """Recall@k for one question; None for an unanswerable one.

    For `cross` questions it is the share of evidence strings found in the top k (each document
    must be reached); otherwise 1.0 when any of the top k passages is relevant.
    """
    evidence = _scored_evidence(gold)
    if evidence is None:
        return None
    covered = _coverage(passages[:k], evidence)
    if gold["type"] == CROSS:
        return len(frozenset().union(*covered)) / len(evidence)
    return 1.0 if any(covered) else 0.0


def mrr_at_k(passages: Sequence[str], gold: Mapping, k: int) -> float | None:
    """Reciprocal rank of the first relevant passage in the top k (0.0 when none); None for unanswerable."""
    evidence = _scored_evidence(gold)
    if evidence is None:
        return None
    for rank, covered in enumerate(_coverage(passages[:k], evidence), start=1):
        if covered:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(passages: Sequence[str], gold: Mapping, k: int) -> float | None:
    """nDCG@k with binary relevance; None for unanswerable.

    As in sentence-transformers, the relevant items are the gold items (here: the evidence strings)
    and the ideal DCG has min(k, number of evidence strings) relevant results at the top. A passage
    counts as relevant when it contains an evidence string that no higher passage contained: several
    overlapping chunks holding the same sentence are one relevant item seen twice, not two, so the
    value stays within [0, 1]. Consequence: one passage holding two evidence strings scores as one
    relevant result, so a `list` question answered by a single passage gets less than 1.0.
    """
    evidence = _scored_evidence(gold)
    if evidence is None:
        return None
    seen: set[int] = set()
    dcg = 0.0
    for position, covered in enumerate(_coverage(passages[:k], evidence)):
        if covered - seen:
            dcg += 1.0 / math.log2(position + 2)
            seen |= covered
    ideal = sum(1.0 / math.log2(position + 2) for position in range(min(k, len(evidence))))
    return dcg / ideal


def recall_cutoffs(k: int) -> tuple[int, ...]:
    """The recall@n cutoffs reported for a ranking of depth k: 1, 3, 5, 10 up to k, and k itself."""
    return tuple(sorted({n for n in RECALL_CUTOFFS if n <= k} | {k}))


def retrieval_scores(passages: Sequence[str], gold: Mapping, k: int = 10) -> dict[str, float] | None:
    """All retrieval metrics of one question's ranking: recall@n for each cutoff, mrr@k and ndcg@k."""
    if _scored_evidence(gold) is None:
        return None
    scores = {f"recall@{n}": recall_at_k(passages, gold, n) for n in recall_cutoffs(k)}
    scores[f"mrr@{k}"] = mrr_at_k(passages, gold, k)
    scores[f"ndcg@{k}"] = ndcg_at_k(passages, gold, k)
    return scores


@dataclass(frozen=True)
class Summary:
    """Mean scores over the questions that were scored, with each question's scores kept beside them."""

    questions: int                                   # how many questions were scored (None ones left out)
    mean: dict[str, float]
    individual_scores: dict[str, dict[str, float]]   # question id -> its scores


def aggregate(per_question: Mapping[str, Mapping[str, float] | None]) -> Summary:
    """Average each metric over the questions whose scores are not None (e.g. unanswerable ones)."""
    scored = {qid: dict(scores) for qid, scores in per_question.items() if scores is not None}
    names = next(iter(scored.values()), {}).keys()
    mean = {name: sum(scores[name] for scores in scored.values()) / len(scored) for name in names}
    return Summary(questions=len(scored), mean=mean, individual_scores=scored)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between the closest ranks, as numpy's default."""
    if not values:
        raise ValueError("percentile of no values: pass at least one value")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def latency_summary(milliseconds: Sequence[float]) -> dict[str, float]:
    """Mean, median and 95th percentile of a list of timings in milliseconds."""
    return {
        "mean_ms": sum(milliseconds) / len(milliseconds),
        "p50_ms": percentile(milliseconds, 50),
        "p95_ms": percentile(milliseconds, 95),
    }
