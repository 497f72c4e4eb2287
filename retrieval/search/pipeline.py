"""The search pipeline over one index snapshot: analyse → retrieve → fuse → prefer → answer.

Each step hands a value to the next and only calls downward (the index store through its backend
interface, retrieval.index.backend.IndexBackend; the encoder; the answer step); nothing here changes the index.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable, Generic, Mapping, TypeVar

import numpy as np

from retrieval.answer import CANDIDATE_PASSAGES, extract_answer
from retrieval.answer import answer_units
from retrieval.figures import (FigureFit, FigureQuestion, FigureRecord, discriminating_terms, question_metric_terms,
                               rank_figures)
from retrieval.fusion import RRF_K
from retrieval.index.backend import IndexBackend, LocalSegmentBackend
from retrieval.index.local import SegmentIndex
from retrieval.orgs import OrganisationMatcher
from retrieval.normalize import normalize_question
from retrieval.query import analyze_query, strip_organisations
from retrieval.retrievers import BM25Retriever, DenseRetriever, HybridRetriever
from retrieval.statements import FIVE_YEAR_PLANS, Statement, planning_year, statements
from retrieval.synonyms import load_synonyms
from retrieval.tokenizer import JiebaTokenizer
from retrieval.types import Answer, AskResult, Chunk, Document, DocumentMeta, Hit, QueryAnalysis

K = TypeVar("K")
V = TypeVar("V")

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
# The dense leg scores a passage by its own vector and by its best sentence ("answer unit"), half each:
# a 200-character passage about several things is found by the one sentence that matches.
SENTENCE_WEIGHT = 0.5
# A question is encoded on one of these threads while it is analysed and searched by BM25, which need no vector
# (the encoder's C engine releases the GIL); more threads than questions asked at once on this kind of machine.
_QUERY_ENCODING = ThreadPoolExecutor(max_workers=32, thread_name_prefix="query-encoding")


def section_years(chunk: Chunk, document: Document) -> tuple[int, ...]:
    """Years a passage is about: those in its section headings (a plan with a 2020 part and a 2021 part, a
    report's "“十四五”时期回顾": 2021–2025), else the plan's."""
    years = {int(y) for heading in chunk.section_path for y in re.findall(r"(20\d{2})\s*年", heading)}
    for heading in chunk.section_path:
        for name, (first, last) in FIVE_YEAR_PLANS.items():
            if name in heading and not years:
                years.update(range(first, last + 1))
    return tuple(sorted(years)) or document.meta.years


def asked_years(analysis: QueryAnalysis, meta: DocumentMeta) -> tuple[int, ...]:
    """The years a question asks about in one document: those it names, else 今年/去年/明年 read against the
    document's planning year (retrieval.statements.planning_year); () when it asks none."""
    if analysis.years:
        return analysis.years
    plan = planning_year(meta)
    if analysis.year_offset is None or plan is None:
        return ()
    return (plan + analysis.year_offset,)


class Memo(Generic[K, V]):
    """key → value, each computed on its first lookup and kept (a snapshot never changes). Two threads may
    compute the same value at once; both get it."""

    def __init__(self, compute: Callable[[K], V]):
        self._compute, self._values = compute, {}

    def __getitem__(self, key: K) -> V:
        try:
            return self._values[key]
        except KeyError:
            value = self._values[key] = self._compute(key)
            return value


@dataclass(frozen=True, eq=False)
class IndexState:
    """One immutable snapshot: the index store's view, the tokenizer it was built with, and its manifest.

    `index` is the local segments snapshot (None on a remote backend); `remote` a remote backend (Milvus).
    The pipeline reads either through `backend`.
    """

    manifest: dict
    index: SegmentIndex | None
    tokenizer: JiebaTokenizer
    terms: tuple[str, ...] = ()
    remote: IndexBackend | None = None

    @cached_property
    def backend(self) -> IndexBackend:
        return self.remote if self.remote is not None else LocalSegmentBackend.over(self.index)

    @cached_property
    def documents(self) -> dict[str, Document]:
        return self.backend.documents()

    @cached_property
    def chunks(self) -> dict[str, Chunk]:
        return self.backend.chunks()

    @property
    def dense_pending(self) -> tuple[str, ...]:
        """Documents whose vectors are being encoded (a remote backend only ever holds encoded documents)."""
        return self.index.dense_pending if self.index is not None else ()

    @cached_property
    def chunk_years(self) -> "Memo[str, tuple[int, ...]]":
        """Years each passage is about, worked out for the passages a question reaches (not all 1M at once)."""
        def years(chunk_id: str) -> tuple[int, ...]:
            chunk = self.chunks[chunk_id]
            return section_years(chunk, self.documents[chunk.doc_id])
        return Memo(years)

    def figures_of(self, chunk_id: str) -> tuple[FigureRecord, ...]:
        """The figure records of one live passage (retrieval.figures), in text order; () for an unknown id."""
        return self.backend.figures([chunk_id]).get(chunk_id, ())

    @cached_property
    def figures_by_document(self) -> Mapping[str, tuple[FigureRecord, ...]]:
        """doc_id → the figure records of its live passages, in passage order (read for a document when asked)."""
        return FiguresByDocument(self)

    @cached_property
    def statements(self) -> "Memo[str, tuple[Statement, ...]]":
        """The sentences of each passage with the year each speaks of and its stance (retrieval.statements)."""
        def of(chunk_id: str) -> tuple[Statement, ...]:
            chunk = self.chunks[chunk_id]
            document = self.documents[chunk.doc_id]
            return tuple(statements(chunk, document.meta, document.text))
        return Memo(of)

    @cached_property
    def organisation_names(self) -> dict[str, DocumentMeta]:
        return {doc_id: doc.meta for doc_id, doc in self.documents.items()}

    @cached_property
    def org_matcher(self) -> OrganisationMatcher:
        """Every document's organisation names in one automaton, built once per snapshot."""
        return OrganisationMatcher(self.organisation_names)

    @cached_property
    def document_years(self) -> "Memo[str, frozenset[int]]":
        """Years each document covers: its own and those its sections are about (a 总结 part and a 计划 part)."""
        def years(doc_id: str) -> frozenset[int]:
            found = set(self.documents[doc_id].meta.years)
            for chunk_id in self.chunk_ids_by_document.get(doc_id, ()):
                found.update(self.chunk_years[chunk_id])
                # a year one sentence speaks of ("2025年，全省生产总值增长5.6%"); not the spans of five-year periods
                found.update(s.year for s in self.statements[chunk_id] if s.year is not None)
            return frozenset(found)
        return Memo(years)

    @cached_property
    def chunk_ids_by_document(self) -> dict[str, list[str]]:
        """The live passages of each document, read from the segments' columns (no passage object is built)."""
        by_document: dict[str, list[str]] = {}
        if self.index is not None:
            for segment in self.index.segments:
                for chunk_id, doc_id, live in zip(segment.chunk_ids, segment.passage_doc_ids, self.index.live(segment)):
                    if live:
                        by_document.setdefault(doc_id, []).append(chunk_id)
        else:
            for chunk_id, chunk in self.chunks.items():
                by_document.setdefault(chunk.doc_id, []).append(chunk_id)
        return by_document


# A figure record answers a number question when its metric names all of the question's metric words.
FIGURE_MIN_METRIC = 0.99
FIGURE_CONFIDENCE = 0.5            # the confidence of an answer a matching figure record gives (above 未找到's 0.2)


def _figure_unit(analysis: QueryAnalysis, terms: list[str]) -> str:
    return FigureQuestion.of(analysis.text, terms, analysis.unit).unit


class FiguresByDocument(Mapping):
    """doc_id → figure records of a snapshot's live passages, each document's read from the backend on first access."""

    def __init__(self, state: IndexState):
        self._state = state
        self._memo = Memo(self._read)

    def _read(self, doc_id: str) -> tuple[FigureRecord, ...]:
        chunk_ids = self._state.chunk_ids_by_document[doc_id]
        found = self._state.backend.figures(chunk_ids)
        return tuple(record for chunk_id in chunk_ids for record in found.get(chunk_id, ()))

    def __getitem__(self, doc_id: str) -> tuple[FigureRecord, ...]:
        if doc_id not in self._state.chunk_ids_by_document:
            raise KeyError(doc_id)
        return self._memo[doc_id]

    def __iter__(self):
        return iter(self._state.chunk_ids_by_document)

    def __len__(self) -> int:
        return len(self._state.chunk_ids_by_document)


class SearchPipeline:
    """Questions answered from one snapshot with a query encoder and the legs' fusion weights."""

    def __init__(self, state: IndexState, encode_query: Callable[[str], np.ndarray],
                 leg_weights: Mapping[str, float] | None = None):
        self.state = state
        self.encode_query = encode_query
        self.leg_weights = {**LEG_WEIGHTS, **(leg_weights or {})}

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
        return analyze_query(question, matcher=self.state.org_matcher, with_asked_noun=with_asked_noun)

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
        answer = best_guess = None
        scope_note = ""
        if with_answer and fused:
            candidates = fused if scope is None else [h for h in fused if state.chunks[h.chunk_id].doc_id in scope]
            if candidates:
                content = state.tokenizer(strip_organisations(question, matcher=state.org_matcher))
                scale = state.manifest["dense"]["query_unit_similarity"]
                answer, best_guess = extract_answer(analysis, candidates, state.chunks, content,
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
                         best_guess=best_guess, dense_pending=state.dense_pending)

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
        and stance fit it best (retrieval.figures): in a sentence of ten targets, the asked one, not the first
        number. The answer step's own choice stands when no record's metric matches the question fully."""
        fit = self.figure_for(analysis, [h.chunk_id for h in candidates[:CANDIDATE_PASSAGES]])
        if fit is None:
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
                       confidence=round(confidence, 4), fact=record.value)
        return found, found

    def figure_for(self, analysis: QueryAnalysis, chunk_ids: list[str]) -> FigureFit | None:
        """The best-fitting figure record of these passages for a number question, None when no record's metric
        names everything the question's metric words name (synonyms applied) in a fitting unit and year."""
        state = self.state
        terms = question_metric_terms(strip_organisations(analysis.text, matcher=state.org_matcher), state.tokenizer)
        found = state.backend.figures(chunk_ids)
        records = [record for chunk_id in chunk_ids for record in found.get(chunk_id, ())]
        unit = _figure_unit(analysis, terms)
        terms = discriminating_terms(terms, records)
        if not terms:
            return None
        question = FigureQuestion(tuple(terms), unit, analysis.years, analysis.year_offset, analysis.stance)
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
