"""The search pipeline over one index snapshot: analyse → retrieve → fuse → prefer → answer.

Each step hands a value to the next and only calls downward (the index store through its backend
interface, retrieval.index.backend.IndexBackend; the encoder; the answer step); nothing here changes the index.
"""
from __future__ import annotations

import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable, Mapping

import numpy as np

from retrieval.answer.figures import (FigureFit, FigureQuestion, discriminating_terms, is_negated,
                                      question_metric_terms, rank_figures)
from retrieval.answer.facts import term_weights
from retrieval.answer.select import CANDIDATE_PASSAGES, extract_answer
from retrieval.ingest.units import answer_units
from retrieval.search.fusion import RRF_K
from retrieval.index.dense import SENTENCE_WEIGHT  # noqa: F401  (kept importable from here)
from retrieval.index.state import FiguresByDocument, IndexState, Memo, section_years  # noqa: F401  (kept importable from here)
from retrieval.search.orgs import OrganisationMatcher
from retrieval.text.normalize import normalize_question
from retrieval.search.query import analyze_query, strip_organisations
from retrieval.search.retrievers import BM25Retriever, DenseRetriever, HybridRetriever
from retrieval.text.statements import planning_year
from retrieval.text.synonyms import load_synonyms
from retrieval.types import Answer, AskResult, DocumentMeta, FigureRecord, Hit, QueryAnalysis  # noqa: F401
from retrieval.ingest.versions import VersionIndex

CANDIDATES_PER_LEG = 50
# Query-aware preferences, in units of the RRF score (rank 1 of one leg is 1/61 ≈ 0.016):
# a named organisation puts its plan first; a named year or half-year prefers the matching plan or section.
ORG_BONUS = 0.05
YEAR_BONUS = 0.02
PERIOD_BONUS = 0.02
# A passage stating a result when a result is asked (完成/去年), a target when a target is (目标/今年), for the
# year asked: half the year's bonus (the year matters more than the stance).
STANCE_BONUS = 0.01
LEG_WEIGHTS = {"bm25": 1.0, "dense": 1.0}
# A question is encoded on one of these threads while it is analysed and searched by BM25, which need no vector
# (the encoder's C engine releases the GIL); more threads than questions asked at once on this kind of machine.
_QUERY_ENCODING = ThreadPoolExecutor(max_workers=32, thread_name_prefix="query-encoding")


_MATCHERS: "weakref.WeakKeyDictionary[IndexState, OrganisationMatcher]" = weakref.WeakKeyDictionary()
_MATCHERS_LOCK = threading.Lock()


def org_matcher(state: IndexState) -> OrganisationMatcher:
    """Every document's organisation names in one automaton, built once per snapshot."""
    with _MATCHERS_LOCK:
        matcher = _MATCHERS.get(state)
    if matcher is None:
        matcher = OrganisationMatcher({doc_id: doc.meta for doc_id, doc in state.documents.items()})
        with _MATCHERS_LOCK:
            matcher = _MATCHERS.setdefault(state, matcher)
    return matcher


def asked_years(analysis: QueryAnalysis, meta: DocumentMeta) -> tuple[int, ...]:
    """The years a question asks about in one document: those it names, else 今年/去年/明年 read against the
    document's planning year (retrieval.text.statements.planning_year); () when it asks none."""
    if analysis.years:
        return analysis.years
    plan = planning_year(meta)
    if analysis.year_offset is None or plan is None:
        return ()
    return (plan + analysis.year_offset,)


# A figure record answers a number question when its metric names all of the question's metric words.
FIGURE_MIN_METRIC = 0.99
FIGURE_CONFIDENCE = 0.5            # the confidence of an answer a matching figure record gives (above 未找到's 0.2)


# The share (by length) of a question's metric words that some candidate record's metric must name.
FIGURE_MIN_SHARE = 0.6


def _term_weight(terms: list[str]) -> int:
    return sum(min(max(len(term), 2), 6) for term in terms)


def _figure_unit(analysis: QueryAnalysis, terms: list[str]) -> str:
    return FigureQuestion.of(analysis.text, terms, analysis.unit).unit


class SearchPipeline:
    """Questions answered from one snapshot with a query encoder and the legs' fusion weights."""

    def __init__(self, state: IndexState, encode_query: Callable[[str], np.ndarray],
                 leg_weights: Mapping[str, float] | None = None, versions: VersionIndex | None = None):
        self.state = state
        self.encode_query = encode_query
        self.leg_weights = {**LEG_WEIGHTS, **(leg_weights or {})}
        self.versions = versions            # which documents of the snapshot are versions of one another

    def retrievers(self, tokenized: Mapping[str, list[str]] | None = None,
                   encode_query: Callable[[str], np.ndarray] | None = None
                   ) -> tuple[BM25Retriever, DenseRetriever, HybridRetriever]:
        """The legs over this snapshot; `tokenized` gives tokens already computed for some texts (the question),
        `encode_query` another way to the query vectors (one already being encoded)."""
        state = self.state
        known = tokenized or {}

        def tokenize(text: str) -> list[str]:
            return known[text] if text in known else state.tokenizer(text)
        bm25 = BM25Retriever(state.backend, tokenize)
        dense = DenseRetriever(state.backend, encode_query or self.encode_query)
        return bm25, dense, HybridRetriever([bm25, dense], self.leg_weights, RRF_K, CANDIDATES_PER_LEG)

    def _encoding_started(self, text: str) -> Callable[[str], np.ndarray]:
        """Start encoding `text` on another thread; the function returned waits for that vector when asked for
        `text` (and encodes any other text as usual)."""
        future = _QUERY_ENCODING.submit(self.encode_query, text)

        def encode(asked: str) -> np.ndarray:
            return future.result() if asked == text else self.encode_query(asked)
        return encode

    def analyze(self, question: str, with_asked_noun: bool = True) -> QueryAnalysis:
        return analyze_query(question, matcher=org_matcher(self.state), with_asked_noun=with_asked_noun)

    def _unit_similarity(self, question: str, candidates: list[Hit]):
        """Cosine of the question to each answer unit of the passages the answer step reads (fetched in one call)."""
        vector = self.encode_query(question)
        units = self.state.backend.unit_vectors([h.chunk_id for h in candidates[:CANDIDATE_PASSAGES]])

        def similarity(chunk_id: str, start: int, end: int) -> float:
            unit = units.get((chunk_id, start))
            return 0.0 if unit is None else float(np.asarray(unit, dtype=np.float32) @ vector)
        return similarity

    def _preference(self, analysis: QueryAnalysis, chunk_id: str) -> float:
        """Query-aware bonus on the fused score: the named organisation's plan, the named year or half-year."""
        state = self.state
        chunk = state.chunks[chunk_id]
        document = state.documents[chunk.doc_id]
        bonus = 0.0
        if analysis.orgs and chunk.doc_id in analysis.orgs:
            bonus += ORG_BONUS
        wanted = asked_years(analysis, document.meta)
        if wanted or analysis.stance:
            # The passage's sentences say which year they speak of and whether they state a result or a target.
            said = state.statements[chunk_id]
            dated = [s for s in said if not wanted or set(wanted) & set(s.years)]
            if wanted and dated:
                bonus += YEAR_BONUS
            if analysis.stance and any(s.stance == analysis.stance for s in dated):
                bonus += STANCE_BONUS
        if analysis.half and analysis.half == document.meta.period:
            bonus += PERIOD_BONUS
        return bonus

    def ask(self, question: str, k: int, org: str | None, year: int | None, legs: tuple[str, ...],
            with_answer: bool) -> AskResult:
        """Answer a checked question (see SearchEngine.ask)."""
        state = self.state
        # The dense leg's vector is encoded while the question is analysed and searched by BM25.
        encode = (self._encoding_started(normalize_question(question)) if "dense" in legs or "hybrid" in legs
                  else None)
        # What is asked for (the noun after 多少) is read by part-of-speech tagging, for the answer step only.
        analysis = self.analyze(question, with_asked_noun=with_answer)
        question = analysis.text                 # simplified characters, ASCII digits
        tokens = state.tokenizer(question)
        # The reports' names of the statistical indicators the question names otherwise (GDP → 地区生产总值).
        expansion = load_synonyms().expansions(question)
        search_tokens = tokens + [t for t in state.tokenizer(" ".join(expansion)) if t not in tokens] if expansion \
            else tokens
        n = max(CANDIDATES_PER_LEG, k)

        def allowed(chunk_id: str) -> bool:
            chunk = state.chunks[chunk_id]
            if org is not None and chunk.doc_id != org:
                return False
            return year is None or year in state.chunk_years[chunk_id]

        where = allowed if org is not None or year is not None else None
        bm25, dense, hybrid_retriever = self.retrievers({question: search_tokens}, encode)   # tokenised once, encoded once
        # Fusion reads CANDIDATES_PER_LEG of each leg. BM25 alone needs only its k best (the same k whatever the
        # pool: ties are broken by row); the dense leg keeps its pool, which sets how many sentences it reads.
        searched = {leg.name: leg.search(question, k if leg is bm25 and "hybrid" not in legs else n, where)
                    for leg in (bm25, dense) if leg.name in legs or "hybrid" in legs}
        results: dict[str, tuple[Hit, ...]] = {
            name: tuple(self._with_matched_terms(hits[:k], tokens)) for name, hits in searched.items()
            if name in legs}
        scope, scope_label = self._answer_scope(analysis)
        hybrid: tuple[Hit, ...] = ()
        fused: list[Hit] = []
        if "hybrid" in legs:
            fused = hybrid_retriever.fuse(searched, n, lambda chunk_id: self._preference(analysis, chunk_id))
            if scope is not None:
                # The organisation asked about comes first; other organisations' passages follow, labelled as such.
                inside = [h for h in fused if state.chunks[h.chunk_id].doc_id in scope]
                fused = inside + [h for h in fused if state.chunks[h.chunk_id].doc_id not in scope]
                fused = [replace(h, rank=rank) for rank, h in enumerate(fused, 1)]
        answer = best_guess = runner_up = None
        older_versions: tuple[str, ...] = ()
        scope_note = ""
        if with_answer and fused:
            candidates = fused if scope is None else [h for h in fused if state.chunks[h.chunk_id].doc_id in scope]
            candidates = self._newest_versions(candidates)
            if candidates:
                content = self.content_terms(question)
                scale = state.manifest["dense"]["query_unit_similarity"]
                answer, best_guess, runner_up = extract_answer(analysis, candidates, state.chunks, content,
                                                    state.backend.term_idf, self._unit_similarity(question, candidates),
                                                    (scale["mean"], scale["std"]))
                if analysis.answer_kind == "quantity":
                    answer, best_guess = self._answer_from_figures(analysis, candidates, answer, best_guess)
            if best_guess is not None:
                # Second stage: the passage holding the best-fitting sentence is cited first (the answer step
                # reads every sentence of the top passages, a finer judge than the passage-level fusion).
                first = [h for h in fused if h.chunk_id == best_guess.chunk_id]
                fused = [replace(h, rank=rank) for rank, h in
                         enumerate(first + [h for h in fused if h.chunk_id != best_guess.chunk_id], 1)]
            if answer is not None and self.versions is not None:
                older_versions = self.versions.older(state.chunks[answer.chunk_id].doc_id)
            if answer is not None and analysis.asks_organisation:
                # "哪个街道要建夜跑环道？" is answered by whose plan the sentence is in.
                answer = replace(answer, fact=state.documents[state.chunks[answer.chunk_id].doc_id].meta.org)
            if answer is None and scope is not None:
                scope_note = f"文档中没有{scope_label}的这项数据"
        if "hybrid" in legs:
            hybrid = tuple(self._with_matched_terms(fused[:k], tokens))
            results["hybrid"] = hybrid
        return AskResult(question=question, analysis=analysis, answer=answer, hits=hybrid, legs=results,
                         chunks=state.chunks, documents=state.documents, scope_note=scope_note,
                         best_guess=best_guess, runner_up=runner_up, older_versions=older_versions,
                         dense_pending=state.dense_pending)

    def content_terms(self, question: str) -> list[str]:
        """The question's content words as the answer step weighs them: tokens without organisation names."""
        return self.state.tokenizer(strip_organisations(question, matcher=org_matcher(self.state)))

    def fact_terms(self, question: str) -> dict[str, float]:
        """The question's content words with the idf the fact step weighs them by (for evaluation and training)."""
        return term_weights(self.content_terms(normalize_question(question)), self.state.backend.term_idf)

    def _newest_versions(self, candidates: list[Hit]) -> list[Hit]:
        """The candidates without the passages of a document whose newer version the candidates reach too: when
        two versions of a plan are kept, the answer is taken from the newer one (by publication date, then
        by when it was stored)."""
        if self.versions is None:
            return candidates
        reached = {self.state.chunks[h.chunk_id].doc_id for h in candidates}
        older = {doc_id for doc_id in reached if reached.intersection(self.versions.newer(doc_id))}
        return [h for h in candidates if self.state.chunks[h.chunk_id].doc_id not in older] if older else candidates

    def _answer_scope(self, analysis: QueryAnalysis) -> tuple[frozenset[str] | None, str]:
        """The documents an answer may come from, and how to name them in a 未找到 note.

        None when the question names no organisation (any document may answer). A named organisation limits
        the answer to its documents: an organisation no document belongs to ("火星街道") leaves none, so the
        answer is 未找到 rather than another organisation's figure. A named year the organisation's documents
        do not cover leaves none as well.
        """
        if not analysis.asked_org:
            return None, ""
        docs = frozenset(analysis.orgs)
        label = analysis.asked_org
        if docs and (analysis.years or analysis.year_offset is not None):
            # 今年/去年 are read in each document against its own planning year.
            wanted = {doc_id: asked_years(analysis, self.state.documents[doc_id].meta) for doc_id in docs}
            covering = frozenset(doc_id for doc_id in docs
                                 if not wanted[doc_id] or set(wanted[doc_id]) & self.state.document_years[doc_id])
            if not covering:
                named = sorted({year for years in wanted.values() for year in years})
                label = f"{analysis.asked_org}{'、'.join(str(y) for y in named)}年"
            docs = covering
        return docs, label

    def _answer_from_figures(self, analysis: QueryAnalysis, candidates: list[Hit], answer: Answer | None,
                             best_guess: Answer | None) -> tuple[Answer | None, Answer | None]:
        """A number question answered by the figure record of the candidate passages whose metric, unit, year
        and stance fit it best (retrieval.answer.figures): in a sentence of ten targets, the asked one, not the first
        number. A question naming a statistical indicator (retrieval/resources/statistical_synonyms.yaml) that no
        record of these passages measures in the asked unit, year and stance is 未找到, never the first number of
        a sentence; for any other question the answer step's own choice stands when no record fits."""
        fit = self.figure_for(analysis, [h.chunk_id for h in candidates[:CANDIDATE_PASSAGES]])
        if fit is None:
            if load_synonyms().indicators_in(analysis.text):
                return None, best_guess
            return answer, best_guess
        record = fit.record
        chunk = self.state.chunks[record.chunk_id]
        start, end = next(((s, e) for s, e in answer_units(chunk.text)
                           if s <= record.char_span[0] and record.char_span[1] <= e), record.sentence_span)
        text = chunk.text[start:end]
        lead = len(text) - len(text.lstrip())
        text = text.strip()
        offset = chunk.char_span[0] + start + lead
        confidence = max(best_guess.confidence if best_guess is not None else 0.0, FIGURE_CONFIDENCE)
        found = Answer(text=text, chunk_id=chunk.chunk_id, char_span=(offset, offset + len(text)),
                       confidence=round(confidence, 4), fact=record.value, fact_candidate=record.value,
                       fact_confidence=FIGURE_CONFIDENCE, fact_source="figure")
        return found, found

    def figure_for(self, analysis: QueryAnalysis, chunk_ids: list[str]) -> FigureFit | None:
        """The best-fitting figure record of these passages for a number question, None when no record's metric
        names everything the question's metric words name (synonyms applied) in a fitting unit and year."""
        state = self.state
        terms = question_metric_terms(strip_organisations(analysis.text, matcher=org_matcher(state)), state.tokenizer)
        found = state.backend.figures(chunk_ids)
        records = [record for chunk_id in chunk_ids for record in found.get(chunk_id, ())]
        unit = _figure_unit(analysis, terms)
        # A word of a candidate document's title (甘肃, 街道名) names the document, not what a figure measures.
        titles = {state.documents[record.doc_id].meta.title for record in records}
        terms = [term for term in terms if not any(term in title for title in titles)]
        measured = discriminating_terms(terms, records)
        # Most of what the question names must be what figures measure: "排进前几" names a ranking no record
        # measures, though one of its words (培育) is in a record's metric.
        if not measured or _term_weight(measured) < FIGURE_MIN_SHARE * _term_weight(terms):
            return None
        terms = measured
        question = FigureQuestion(tuple(terms), unit, analysis.years, analysis.year_offset, analysis.stance,
                                  is_negated(analysis.text))
        metas = {record.doc_id: state.documents[record.doc_id].meta for record in records}
        fits = [fit for fit in rank_figures(question, records, metas, min_metric=FIGURE_MIN_METRIC)
                if fit.year >= 0 and fit.stance >= 0]
        return fits[0] if fits else None

    def _with_matched_terms(self, hits, question_tokens: list[str]) -> list[Hit]:
        """Hits with the question's words that occur in the passage text itself, longest first (for highlighting)."""
        words = set(question_tokens)
        out = []
        for hit in hits:
            text = self.state.chunks[hit.chunk_id].text
            matched = sorted((w for w in words if w in text), key=lambda w: (-len(w), w))
            out.append(replace(hit, matched_terms=tuple(matched)))
        return out
