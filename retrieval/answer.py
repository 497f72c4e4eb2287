"""Extractive answers: the one sentence or clause of the top passages that best answers the question."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from retrieval.query import UNITS
from retrieval.types import Answer, Chunk, Hit, QueryAnalysis

ANSWER_MAX_CHARS = 100
CANDIDATE_PASSAGES = 5
# Below this confidence the corpus is taken not to answer the question (calibrated on eval/dev.jsonl:
# unanswerable questions fall below it without silencing answerable ones).
NOT_FOUND_BELOW = 0.40

_NUMBER = r"(?:\d+(?:[.,]\d+)*|[零一二两三四五六七八九十百千]+)"
_UNIT_PATTERN = "|".join(re.escape(u) for u in UNITS)
QUANTITY = re.compile(rf"(?:约|近|超|超过|逾|达|共)?{_NUMBER}(?:[万亿千百])?(?:余|多)?(?:{_UNIT_PATTERN})")
YEAR_OR_DATE = re.compile(r"^(?:19|20)\d{2}(?:年度?|-)|^\d{1,2}[月日号]$|^\d{1,2}月")
_SENTENCE = re.compile(r"[^。！？；;!?\n]+[。！？；;!?]?[”’」』]?")
_CLAUSE = re.compile(r"[^，,：:]+[，,：:]?")
_QUOTED = re.compile(r"[“《「\"]([^“”《》「」\"\n]{2,20})[”》」\"]")
_PLACE = re.compile(r"[\u4e00-\u9fff]{1,8}(?:路|街|弄|巷|大道)\d*(?:号|弄)?(?:\d+号)?")
_NAMED = re.compile(r"[\u4e00-\u9fff]{2,10}(?:事务所|服务社|中心|公司|集团|学院|基地|平台|工作室|联盟|品牌|项目)")


@dataclass(frozen=True)
class Candidate:
    chunk: Chunk
    start: int              # offset in chunk.text
    end: int
    text: str
    hit_rank: int


def _candidates(chunk: Chunk, hit_rank: int) -> list[Candidate]:
    """Sentences of the passage up to 100 characters, and for longer ones runs of clauses that fit."""
    out = []
    for sentence in _SENTENCE.finditer(chunk.text):
        s_text = sentence.group()
        if not s_text.strip():
            continue
        if len(s_text) <= ANSWER_MAX_CHARS:
            out.append(Candidate(chunk, sentence.start(), sentence.end(), s_text, hit_rank))
            continue
        clauses = [(m.start() + sentence.start(), m.end() + sentence.start()) for m in _CLAUSE.finditer(s_text)]
        for i in range(len(clauses)):
            j = i
            while j + 1 < len(clauses) and clauses[j + 1][1] - clauses[i][0] <= ANSWER_MAX_CHARS:
                j += 1
            start, end = clauses[i][0], min(clauses[j][1], clauses[i][0] + ANSWER_MAX_CHARS)
            out.append(Candidate(chunk, start, end, chunk.text[start:end], hit_rank))
    return out


def quantities(text: str) -> list[re.Match]:
    """Number-with-unit spans that are amounts, not years or dates."""
    return [m for m in QUANTITY.finditer(text) if not YEAR_OR_DATE.match(m.group().lstrip("约近超过逾达共"))]


def _fact(candidate: str, analysis: QueryAnalysis) -> str:
    if analysis.answer_kind == "quantity":
        found = quantities(candidate)
        if analysis.unit:
            with_unit = [m for m in found if m.group().endswith(analysis.unit) or analysis.unit in m.group()]
            found = with_unit or found
        return found[0].group() if found else ""
    if analysis.answer_kind == "entity":
        for pattern in (_QUOTED, _PLACE, _NAMED):
            match = pattern.search(candidate)
            if match:
                return match.group(1) if pattern is _QUOTED else match.group()
    return ""


def _type_fit(candidate: str, analysis: QueryAnalysis) -> float:
    """How well the clause has the kind of thing asked for: an amount in the asked unit, a name."""
    if analysis.answer_kind == "quantity":
        found = quantities(candidate)
        if not found:
            # "第几轮" / "几加几" answers are ordinals or formulas without a unit.
            return 0.1 if re.search(r"\d\+\d|“[一二三四五六七八九十]+[五四三二一]”", candidate) else -0.6
        if analysis.unit and any(analysis.unit in m.group() for m in found):
            return 0.45
        return 0.2
    if analysis.answer_kind == "entity":
        return 0.15 if (_QUOTED.search(candidate) or _PLACE.search(candidate) or _NAMED.search(candidate)) else 0.0
    return 0.0


def extract_answer(analysis: QueryAnalysis, hits: Sequence[Hit], chunks: Mapping[str, Chunk],
                   content_terms: Sequence[str], idf: Callable[[str], float]) -> Answer | None:
    """The best clause of the top passages, or None (未找到) when none answers with enough confidence.

    A clause scores by the share of the question's content terms it contains (weighted by idf), by the
    rank of its passage, and by whether it holds the kind of thing asked (an amount in the asked unit,
    a name); confidence squashes that score into 0..1.
    """
    terms = [t for t in dict.fromkeys(content_terms) if len(t) >= 1]
    weights = {t: max(idf(t), 0.1) for t in terms}
    total = sum(weights.values()) or 1.0
    best: tuple[float, Candidate] | None = None
    for hit in hits[:CANDIDATE_PASSAGES]:
        chunk = chunks[hit.chunk_id]
        context = "".join(chunk.section_path)
        for candidate in _candidates(chunk, hit.rank):
            in_clause = sum(w for t, w in weights.items() if t in candidate.text)
            in_context = sum(w for t, w in weights.items() if t not in candidate.text and t in context)
            coverage = (in_clause + 0.3 * in_context) / total
            score = coverage + 0.25 / (1 + 0.5 * (hit.rank - 1)) + _type_fit(candidate.text, analysis) \
                - 0.0015 * len(candidate.text)
            if best is None or score > best[0]:
                best = (score, candidate)
    if best is None:
        return None
    score, candidate = best
    confidence = 1 / (1 + math.exp(-6 * (score - 0.6)))
    if confidence < NOT_FOUND_BELOW:
        return None
    text = candidate.text.strip()
    lead = len(candidate.text) - len(candidate.text.lstrip())
    start = candidate.chunk.char_span[0] + candidate.start + lead
    return Answer(text=text, chunk_id=candidate.chunk.chunk_id, char_span=(start, start + len(text)),
                  confidence=round(confidence, 4), fact=_fact(text, analysis))
