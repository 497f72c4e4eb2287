"""One immutable index snapshot (IndexState) as the index store builds it and the search pipeline reads it, with the
per-passage facts derived from it on demand (section years, statements, figure records)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Generic, Mapping, TypeVar

from retrieval.index.backend import IndexBackend, LocalSegmentBackend
from retrieval.index.local import SegmentIndex
from retrieval.text.statements import FIVE_YEAR_PLANS, Statement, statements
from retrieval.text.tokenizer import JiebaTokenizer
from retrieval.types import Chunk, Document, FigureRecord

K = TypeVar("K")
V = TypeVar("V")


def section_years(chunk: Chunk, document: Document) -> tuple[int, ...]:
    """Years a passage is about: those in its section headings (a plan with a 2020 part and a 2021 part, a
    report's "“十四五”时期回顾": 2021–2025), else the plan's."""
    years = {int(y) for heading in chunk.section_path for y in re.findall(r"(20\d{2})\s*年", heading)}
    for heading in chunk.section_path:
        for name, (first, last) in FIVE_YEAR_PLANS.items():
            if name in heading and not years:
                years.update(range(first, last + 1))
    return tuple(sorted(years)) or document.meta.years


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
        """The figure records of one live passage (retrieval.answer.figures), in text order; () for an unknown id."""
        return self.backend.figures([chunk_id]).get(chunk_id, ())

    @cached_property
    def figures_by_document(self) -> Mapping[str, tuple[FigureRecord, ...]]:
        """doc_id → the figure records of its live passages, in passage order (read for a document when asked)."""
        return FiguresByDocument(self)

    @cached_property
    def statements(self) -> "Memo[str, tuple[Statement, ...]]":
        """The sentences of each passage with the year each speaks of and its stance (retrieval.text.statements)."""
        def of(chunk_id: str) -> tuple[Statement, ...]:
            chunk = self.chunks[chunk_id]
            document = self.documents[chunk.doc_id]
            return tuple(statements(chunk, document.meta, document.text))
        return Memo(of)

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
