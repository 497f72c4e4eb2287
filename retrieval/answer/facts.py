"""The fact inside an answer sentence: the value a question asks for, not just any number or name in it.

The question's kind (retrieval.answer.kinds) names the candidate generators; every candidate of the sentence is
described by named features (retrieval.answer.candidates) and scored with fitted weights
(retrieval.answer.fact_model). The best candidate is the fact; it is shown only when its calibrated probability
of being right passes its kind's gate. Below the gate the answer sentence stands without a big fact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from retrieval.answer.candidates import (NAMED, PLACE, QUOTED, Candidate, FactQuestion, features, generate,
                                         is_single_verb_or_adverb)
from retrieval.answer.fact_model import FactModel, load_model
from retrieval.answer.kinds import kind_named
from retrieval.types import QueryAnalysis


@dataclass(frozen=True)
class ScoredCandidate:
    candidate: Candidate
    features: Mapping[str, float]
    score: float


@dataclass(frozen=True)
class FactChoice:
    """The best candidate fact of a sentence and whether it is shown.

    text: the candidate ("" when the sentence has none of the asked kind); confidence: the calibrated
    probability that it is right; shown: whether it passes the kind's gate; sources: the generators that found it.
    """

    text: str
    confidence: float
    shown: bool
    sources: tuple[str, ...] = ()
    kind: str = ""

    @property
    def fact(self) -> str:
        return self.text if self.shown else ""


NO_FACT = FactChoice("", 0.0, False)


def candidates_of(sentence: str, analysis: QueryAnalysis, term_weights: Mapping[str, float]
                  ) -> tuple[FactQuestion, list[Candidate], list[Mapping[str, float]]]:
    """The candidates of the question's kind in the sentence, each with its features."""
    question = FactQuestion.of(analysis, term_weights)
    kind = kind_named(analysis.answer_kind)
    found = generate(sentence, question, kind.generators, kind.accepts)
    # Never words the question already contains (人才计划是哪个 over 深化人才计划: not 人才).
    if not kind.shares_question:
        found = [c for c in found if c.text.strip("“”《》\"") not in analysis.text]
    if kind.names_only:
        found = [c for c in found if not is_single_verb_or_adverb(c.text)]
    decisive = [c for c in found if c.sources & set(kind.decisive)]
    found = decisive or found
    if kind.shares_question:
        # Among quoted terms, those sharing the question's content (“零事故” for 有没有…事故) are the evidence.
        quoted = [c for c in found if "quoted" in c.sources]
        sharing = [c for c in quoted if any(len(term) >= 2 and term in c.text for term in question.weights)]
        if sharing:
            found = [c for c in found if c in sharing or "quoted" not in c.sources]
    return question, found, [features(sentence, candidate, question, found) for candidate in found]


def rank_candidates(sentence: str, analysis: QueryAnalysis, term_weights: Mapping[str, float],
                    model: FactModel | None = None) -> list[ScoredCandidate]:
    """Every candidate of the sentence, best first."""
    model = model or load_model()
    _question, found, described = candidates_of(sentence, analysis, term_weights)
    scored = [ScoredCandidate(c, f, model.score(f)) for c, f in zip(found, described)]
    return sorted(scored, key=lambda s: (-s.score, s.candidate.start))


def choose_fact(sentence: str, analysis: QueryAnalysis, term_weights: Mapping[str, float],
                model: FactModel | None = None, sentence_confidence: float = 1.0) -> FactChoice:
    """The fact of the sentence for this question, with its confidence and whether it passes the gate.

    `sentence_confidence` is how sure the answer step is of the sentence itself (Answer.confidence)."""
    model = model or load_model()
    ranked = rank_candidates(sentence, analysis, term_weights, model)
    if not ranked:
        return NO_FACT
    best = ranked[0]
    margin = best.score - ranked[1].score if len(ranked) > 1 else MARGIN_ALONE
    confidence = model.probability(best.score, margin, sentence_confidence)
    kind = kind_named(analysis.answer_kind)
    return FactChoice(best.candidate.text, round(confidence, 4), confidence >= model.threshold(kind.gate),
                      tuple(sorted(best.candidate.sources)), kind.name)


# The margin of a lone candidate: as clear as a choice gets (the largest margin the calibration saw is ~this).
MARGIN_ALONE = 5.0


def extract_fact(sentence: str, analysis: QueryAnalysis, term_weights: Mapping[str, float]) -> str:
    """The short fact of the answer sentence for this question, or "" when none passes the gate.

    `term_weights` maps the question's content words (organisation names removed) to their idf.
    """
    return choose_fact(sentence, analysis, term_weights).fact


def has_name(sentence: str) -> bool:
    """Whether the sentence holds a quoted term, a place or an organisation's name (a cheap test)."""
    return bool(QUOTED.search(sentence) or PLACE.search(sentence) or NAMED.search(sentence))


def has_value_of_kind(sentence: str, analysis: QueryAnalysis) -> bool:
    """Whether the sentence holds a value of the asked kind at all (an amount for 多少, a date for 哪天); True
    for kinds that need none."""
    kind = kind_named(analysis.answer_kind)
    if not kind.needs_value:
        return True
    return bool(generate(sentence, FactQuestion(analysis, {}), kind.generators, kind.accepts))


def term_weights(terms: Sequence[str], idf) -> dict[str, float]:
    """Question content words with their idf (at least 0.1, so a word every passage has still counts a little)."""
    return {term: max(idf(term), 0.1) for term in dict.fromkeys(terms)}
