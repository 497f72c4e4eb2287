"""Asking: a chat turn, the cache of answers of one index snapshot, comparisons, citations and the search API."""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.errors import BackendUnavailable, InvalidQuery
from retrieval.search.conversation import resolve_followup
from retrieval.types import Answer
from ui import render
from ui.requests import BACKEND_DOWN_MESSAGE, DEFAULT_K, UserFacingError, check_request

CITATIONS_SHOWN = 3
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Turn:
    """One question of a chat and what it produced, self-contained for re-rendering."""

    question: str                               # as typed
    asked: str                                  # after follow-up resolution
    filters: str                                # e.g. "吴淞 · 2021年", "" when none
    answer: Answer | None
    citations: tuple[render.Citation, ...]
    scope_note: str = ""                        # why 未找到 for the organisation or year asked about
    pending: tuple[str, ...] = ()               # titles of documents whose vectors are still being encoded
    older_versions: tuple[str, ...] = ()        # labels of older versions of the answer's document
    comparison: object | None = None            # a retrieval.search.compare.Comparison when the question asked one

    def html(self, index: int, explain: bool) -> str:
        if self.comparison is not None:
            return render.render_comparison_turn(index, self.question, self.asked, self.comparison, self.filters)
        return render.render_turn(index, self.question, self.asked, self.answer, self.citations, explain, self.filters,
                                  scope_note=self.scope_note, pending=self.pending, older_versions=self.older_versions)


class AnswerCache:
    """Results of the engine's current index snapshot by question and filters.

    The engine never changes a snapshot, it swaps in a new one (new documents and chunks mappings), so a
    result stays exact for as long as its snapshot is current; the first ask after a swap empties the cache.
    Repeated questions (example buttons, the same question from many staff) then cost nothing.
    """

    def __init__(self, size: int):
        self.size = size
        self._snapshot: tuple = ()
        self._results: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get_or_ask(self, engine, key: tuple, ask: Callable[[], object]):
        snapshot = (engine.documents, engine.chunks, tuple(getattr(engine, "dense_pending", ())))
        with self._lock:
            if not self._same(snapshot):
                self._snapshot, self._results = snapshot, OrderedDict()
            elif key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        result = ask()
        with self._lock:
            if self._same(snapshot):
                self._results[key] = result
                while len(self._results) > self.size:
                    self._results.popitem(last=False)
        return result

    def _same(self, snapshot: tuple) -> bool:
        return (bool(self._snapshot) and self._snapshot[0] is snapshot[0] and self._snapshot[1] is snapshot[1]
                and self._snapshot[2] == snapshot[2])


class Chat:
    """Questions to the engine, answered as chat turns (the app) or records (the API); needs Listings.org_names."""

    engine: object
    _answers: AnswerCache | None                     # None: every question goes to the engine

    def ask(self, question: str, previous_asked: str | None, org: str | None, year: int | None) -> Turn:
        """Resolve a follow-up against the previous turn, ask, and keep what the reply needs."""
        question = check_request(question if question is not None else "", DEFAULT_K, year)
        if org and org not in self.engine.documents:
            raise UserFacingError("「单位」里选的文档已被删除。请在「单位」里重新选择，或选「全部单位」。")
        names = self.org_names()
        asked = resolve_followup(question, previous_asked, self.engine.analyze, names)
        comparison = self.compare(asked)
        if comparison is not None:
            return Turn(question, asked, self._filters_label(org, year), None, (), comparison=comparison)
        try:
            result = self._ask(asked, DEFAULT_K, org or None, year)
        except InvalidQuery as error:
            logger.info("question refused by the engine: %s", error)
            raise UserFacingError("这个问题没法查询：请换个说法，或把问题写短一些。") from error
        except BackendUnavailable as error:      # the Milvus server went away: say so, the app stays up
            logger.warning("search backend failed: %s", error)
            raise UserFacingError(BACKEND_DOWN_MESSAGE) from error
        citations = render.build_citations(result, result.documents, result.chunks, CITATIONS_SHOWN)
        filters = self._filters_label(org, year)
        pending = tuple(result.documents[d].meta.title for d in getattr(result, "dense_pending", ()) if d in result.documents)
        older = tuple(f"《{result.documents[d].meta.title}》（文件 {d}）"
                      for d in getattr(result, "older_versions", ()) if d in result.documents)
        return Turn(question, asked, filters, result.answer, citations, getattr(result, "scope_note", ""), pending, older)

    def compare(self, question: str):
        """The comparison the question asks for (retrieval.search.compare.Comparison), or None for a normal question."""
        compare = getattr(self.engine, "compare", None)
        if compare is None:
            return None
        question = check_request(question)
        try:
            if self._answers is None:
                return compare(question)
            return self._answers.get_or_ask(self.engine, ("compare", question), lambda: compare(question))
        except InvalidQuery as error:
            logger.info("comparison refused by the engine: %s", error)
            raise UserFacingError("这个问题没法查询：请换个说法，或把问题写短一些。") from error
        except BackendUnavailable as error:
            logger.warning("search backend failed: %s", error)
            raise UserFacingError(BACKEND_DOWN_MESSAGE) from error

    def compare_record(self, question: str) -> dict:
        """The API: a comparison's rows as JSON ({"comparison": false, "rows": []} for a normal question)."""
        comparison = self.compare(question)
        if comparison is None:
            return {"question": check_request(question), "comparison": False, "rows": []}
        return comparison.as_dict()

    def comparison_cell_answer(self, comparison, chunk_id: str) -> Answer | None:
        """The cell of a comparison whose passage is `chunk_id`, as an Answer (sentence and value) to mark."""
        for cell in comparison.cells:
            if cell.found and cell.chunk_id == chunk_id:
                return Answer(text=cell.sentence, chunk_id=chunk_id, char_span=cell.sentence_span, confidence=1.0,
                              fact=cell.value)
        return None

    def _ask(self, question: str, k: int, org: str | None, year: int | None):
        if self._answers is None:
            return self.engine.ask(question, k=k, org=org, year=year)
        return self._answers.get_or_ask(self.engine, (question, k, org, year),
                                        lambda: self.engine.ask(question, k=k, org=org, year=year))

    def _filters_label(self, org: str | None, year: int | None) -> str:
        parts = []
        if org and org in self.engine.documents:
            parts.append(self.engine.documents[org].meta.org)
        if year:
            parts.append(f"{year}年")
        return " · ".join(parts)

    def citation_html(self, chunk_id: str, answer: Answer | None, terms: Sequence[str] = ()) -> str:
        """The whole document of a cited passage, scrolled to and marking it (and the answer in it)."""
        chunk = self.engine.chunks.get(chunk_id)
        document = self.engine.documents.get(chunk.doc_id) if chunk else None
        if chunk is None or document is None:
            return render.render_message("这段出处所在的文档已被删除或更新。请重新提问，再点新的出处。", "warn")
        if answer is not None and answer.chunk_id != chunk_id:
            answer = None
        return render.render_document(document, chunk.char_span, answer, terms)

    def document_html(self, doc_id: str) -> str:
        document = self.engine.documents.get(doc_id)
        if document is None:
            return render.render_message("这份文档已不在语料库里。请刷新文档列表。", "warn")
        return render.render_document(document)

    def search_record(self, question: str, k: int = DEFAULT_K, organisation: str | None = None, year: int | None = None) -> dict:
        """The API: one runs.jsonl-shaped record for a question. Raises UserFacingError on bad input."""
        from retrieval.serialize import ask_record  # the engine stack loads lazily

        k = DEFAULT_K if k is None else k
        if isinstance(k, float) and k.is_integer():
            k = int(k)                               # JSON clients may send 5.0
        if isinstance(year, float) and year.is_integer():
            year = int(year)
        question = check_request(question, k, year)
        doc_id = self.resolve_organisation(organisation) if organisation else None
        try:
            result = self._ask(question, k, doc_id, year)
        except InvalidQuery as error:
            logger.info("API question refused by the engine: %s", error)
            raise UserFacingError("问题无法查询：请换个说法，或把问题写短一些。") from error
        except BackendUnavailable as error:
            logger.warning("search backend failed: %s", error)
            raise UserFacingError(BACKEND_DOWN_MESSAGE) from error
        record = ask_record(self.engine, result)
        record.setdefault("scope_note", getattr(result, "scope_note", ""))
        record.setdefault("dense_pending", list(getattr(result, "dense_pending", ())))
        return record

    def resolve_organisation(self, organisation: str) -> str:
        """A doc_id from a doc_id, an organisation name or an alias. Raises UserFacingError when unknown."""
        if not isinstance(organisation, str):
            raise UserFacingError(f"organisation 必须是文字（单位名、别名或文件名），现在是 {type(organisation).__name__}。")
        wanted = organisation.strip()
        names = self.org_names()
        if wanted in names:
            return wanted
        for doc_id, doc_names in names.items():
            if wanted in doc_names or wanted == self.engine.documents[doc_id].meta.org:
                return doc_id
        known = "、".join(dict.fromkeys(self.engine.documents[d].meta.org for d in names))
        logger.info("unknown organisation %r asked for", wanted[:80])
        raise UserFacingError(f"找不到单位「{render.short(wanted, 40)}」。可用的单位：{known}；也可以传文档文件名。")
