"""Extractive answers: the one sentence or clause of the top passages that best answers the question."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Sequence

from retrieval.answer.facts import (RATIO, TRAILING_QUALIFIERS, extract_fact, has_name, has_value_of_kind, quantities,
                             term_weights)
from retrieval.ingest.units import answer_units
from retrieval.text.quantities import compatible_units
from retrieval.types import Answer, Chunk, Hit, QueryAnalysis

CANDIDATE_PASSAGES = 5
# Below this confidence the documents are taken not to answer the question. Chosen with `python -m eval
# calibrate` over dev and web-dev together (90 questions): the highest threshold that silences no right fact;
# unanswerable questions are mostly stopped earlier, by having no value of the asked kind (confidence 0).
NOT_FOUND_BELOW = 0.20
# Similarities enter in standard deviations of the encoder's query-to-sentence cosines, measured on the
# corpus at build time (manifest dense.query_unit_similarity), so the weights hold for any encoder.
RELATIVE_SIMILARITY_WEIGHT = 0.072   # per std below the best candidate's similarity
ABSOLUTE_SIMILARITY_WEIGHT = 0.09    # per std above the corpus mean, in the confidence
SIMILARITY_OFFSET = 0.22
RANK_WEIGHT = 0.3                  # the top passage's sentences get +0.3, the second's +0.15, …

@dataclass(frozen=True)
class Candidate:
    chunk: Chunk
    start: int              # offset in chunk.text
    end: int
    text: str
    hit_rank: int
    similarity: float       # the unit's cosine with the query, in std above the corpus mean


def _is_heading_line(chunk: Chunk, start: int, end: int) -> bool:
    """A section title names a topic and never answers a question; numbered items are body text.

    The chunker records the title parts of a passage (Chunk.heading_spans); a unit mostly inside one is a title.
    """
    length = max(1, end - start)
    for span_start, span_end in chunk.heading_spans:
        if min(end, span_end) - max(start, span_start) > length / 2:
            return True
    return False


# Questions about the document itself (when it was published, its 文号) are answered by its page information
# lines, whose labels say what they hold although they share no word with the question.
PAGE_INFORMATION_COVERAGE = 0.6
PUBLICATION_CUES = ("发布", "发文", "印发", "公布", "公开", "挂", "网上", "上网", "出台", "成文", "签发", "下发")
PUBLICATION_LABELS = re.compile(r"发布时间|发布日期|发文日期|成文日期|印发日期|公开日期")


def _answers_about_the_document(text: str, analysis: QueryAnalysis) -> bool:
    if analysis.answer_kind == "doc_number":
        return has_value_of_kind(text, analysis)
    if analysis.answer_kind == "date" and any(cue in analysis.text for cue in PUBLICATION_CUES):
        return bool(PUBLICATION_LABELS.search(text)) and has_value_of_kind(text, analysis)
    return False


def _type_fit(candidate: str, analysis: QueryAnalysis) -> float:
    """How well the clause has the kind of thing asked for: an amount in the asked unit, a date, a name."""
    kind = analysis.answer_kind
    if kind in ("date", "doc_number"):
        return 0.45 if has_value_of_kind(candidate, analysis) else -0.6
    if kind == "quantity":
        if not has_value_of_kind(candidate, analysis):
            return -0.6
        found = [m.group() for m in quantities(candidate)]
        if not analysis.unit:
            return 0.2
        if analysis.unit == "%":
            return 0.45 if "%" in candidate or "百分之" in candidate or RATIO.search(candidate) else -0.2
        if any(analysis.unit in value for value in found):
            return 0.45
        if any(value.rstrip("".join(TRAILING_QUALIFIERS)).endswith(tuple(compatible_units(analysis.unit)))
               for value in found):
            return 0.3
        return -0.2          # an amount of something else (三年 for 多少钱)
    if kind == "person":
        return 0.45 if extract_fact(candidate, analysis, {}) else -0.6     # 谁 needs a person's name
    if kind == "entity":
        return 0.15 if has_name(candidate) else 0.0
    return 0.0


class AnswerPick(NamedTuple):
    answer: Answer | None           # None: 未找到
    best_guess: Answer | None       # the best unit whatever its confidence
    runner_up: Answer | None        # the best unit citing another passage or giving another fact


@dataclass(frozen=True)
class ScoredUnit:
    candidate: Candidate
    coverage: float          # idf-weighted share of the question's content terms in the unit (and its headings)
    fit: float               # coverage + meaning relative to the best unit + kind of thing asked, no rank


def score_units(analysis: QueryAnalysis, hits: Sequence[Hit], chunks: Mapping[str, Chunk],
                content_terms: Sequence[str], idf: Callable[[str], float],
                unit_similarity: Callable[[str, int, int], float],
                similarity_scale: tuple[float, float]) -> list[ScoredUnit]:
    """Every answer unit of the given passages with how well it answers the question.

    `similarity_scale` is (mean, std) of the encoder's query-to-sentence cosines on this corpus.
    """
    mean, std = similarity_scale
    std = std if std > 1e-6 else 1.0
    terms = list(dict.fromkeys(content_terms))
    weights = {t: max(idf(t), 0.1) for t in terms}
    total = sum(weights.values()) or 1.0
    raw: list[tuple[Candidate, float]] = []
    for hit in hits:
        chunk = chunks[hit.chunk_id]
        context = "".join(chunk.section_path)
        for start, end in answer_units(chunk.text):
            text = chunk.text[start:end]
            if _is_heading_line(chunk, start, end):
                continue
            z = (unit_similarity(chunk.chunk_id, start, end) - mean) / std
            in_unit = sum(w for t, w in weights.items() if t in text)
            in_context = sum(w for t, w in weights.items() if t not in text and t in context)
            coverage = (in_unit + 0.3 * in_context) / total
            if _answers_about_the_document(text, analysis):
                coverage = max(coverage, PAGE_INFORMATION_COVERAGE)
            raw.append((Candidate(chunk, start, end, text, hit.rank, z), coverage))
    if not raw:
        return []
    top_similarity = max(c.similarity for c, _ in raw)
    return [ScoredUnit(c, coverage, coverage + RELATIVE_SIMILARITY_WEIGHT * (c.similarity - top_similarity)
                       + _type_fit(c.text, analysis) - 0.001 * len(c.text))
            for c, coverage in raw]


def extract_answer(analysis: QueryAnalysis, hits: Sequence[Hit], chunks: Mapping[str, Chunk],
                   content_terms: Sequence[str], idf: Callable[[str], float],
                   unit_similarity: Callable[[str, int, int], float],
                   similarity_scale: tuple[float, float],
                   threshold: float = NOT_FOUND_BELOW) -> AnswerPick:
    """The best answer unit of the top passages: (answer, best_guess, runner_up).

    `answer` is None (未找到) when the best unit falls below `threshold`; `best_guess` is that best unit
    whatever its confidence (None only when no passage has a candidate), for calibration reports;
    `runner_up` the best unit that would be another answer (its confidence left at 0), so a caller can see
    how clear the choice was: each carries its choice score.
    A unit scores by the share of the question's content terms it contains (idf-weighted; terms only in
    its section headings count less), its similarity to the question, the rank of its passage, and
    whether it holds the kind of thing asked (an amount in the asked unit, a date, a name).
    """
    scored = score_units(analysis, hits[:CANDIDATE_PASSAGES], chunks, content_terms, idf, unit_similarity,
                         similarity_scale)
    if not scored:
        return AnswerPick(None, None, None)
    ranked = sorted(scored, key=choice_score, reverse=True)
    best = ranked[0]
    candidate, coverage = best.candidate, best.coverage
    # Confidence: how much of the question the unit covers, and how close it is in meaning.
    evidence = coverage + SIMILARITY_OFFSET + ABSOLUTE_SIMILARITY_WEIGHT * candidate.similarity
    confidence = 1 / (1 + math.exp(-8 * (evidence - 0.45)))
    if analysis.answer_kind in ("quantity", "date", "doc_number", "person") and _type_fit(candidate.text, analysis) < 0:
        confidence = 0.0     # a 多少/哪天 question needs an amount / a date; a sentence without one does not answer
    weights = term_weights(content_terms, idf)
    guess = _as_answer(best, analysis, weights, confidence)
    # The runner-up is the best unit that would be another answer: another passage cited, or another fact.
    runner_up = next((answer for answer in (_as_answer(unit, analysis, weights, 0.0) for unit in ranked[1:])
                      if (answer.chunk_id, answer.fact) != (guess.chunk_id, guess.fact)), None)
    return AnswerPick(guess if confidence >= threshold else None, guess, runner_up)


def choice_score(unit: ScoredUnit) -> float:
    """What picks the answer among the units: how well it answers, plus the rank of its passage."""
    return unit.fit + RANK_WEIGHT / unit.candidate.hit_rank


def _as_answer(unit: ScoredUnit, analysis: QueryAnalysis, weights, confidence: float) -> Answer:
    candidate = unit.candidate
    text = candidate.text.strip()
    lead = len(candidate.text) - len(candidate.text.lstrip())
    start = candidate.chunk.char_span[0] + candidate.start + lead
    return Answer(text=text, chunk_id=candidate.chunk.chunk_id, char_span=(start, start + len(text)),
                  confidence=round(confidence, 4), fact=extract_fact(text, analysis, weights),
                  score=round(choice_score(unit), 6))
