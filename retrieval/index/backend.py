"""The index store's interface: what the search pipeline and the writers need from any backend.

A backend holds documents' passages: their BM25 tokens, their vectors, and the chunks themselves. The
local segments (LocalSegmentBackend, below) are one backend; Milvus (retrieval.index.milvus) is the other,
behind the same methods and checked by the same contract tests (tests/index/test_backend_contract.py).

Writers use add / delete / flush; the search pipeline reads only through bm25 / dense / fetch / count and
the five read methods the answer step and the query analysis need (documents, chunks, term_idf,
unit_vectors, figures). Nothing here calls back into the pipeline.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from retrieval.index import store
from retrieval.index.local import Ann, SegmentIndex, new_segment_id
from retrieval.index.segment import Segment
from retrieval.ingest.passages import PreparedPassage
from retrieval.types import FigureRecord
from retrieval.types import Chunk, Document


@runtime_checkable
class IndexBackend(Protocol):
    def add(self, document: Document, passages: Sequence[PreparedPassage], vectors: np.ndarray | None = None) -> None:
        """Index one document's passages, replacing any earlier version of it. `vectors`: one row per vector
        input, in the order of `[text for p in passages for text in p.vector_inputs]`, or None (BM25 only)."""

    def delete(self, doc_id: str) -> None:
        """Take a document's passages out; unknown ids are an error."""

    def bm25(self, query_tokens: Sequence[str], k: int) -> list[tuple[str, float]]:
        """(chunk id, score) of the k best passages by BM25 over every live passage, best first."""

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, score) of the k best encoded passages for a query vector, best first."""

    def fetch(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        """The live chunks of these ids, in the order asked; unknown ids are left out."""

    def count(self) -> int:
        """Live passages."""

    def flush(self) -> None:
        """Make every change so far durable: a backend opened afterwards sees them."""

    def documents(self) -> Mapping[str, Document]:
        """Every live document by id: its metadata (organisation, aliases, years, …) and its cleaned text."""

    def chunks(self) -> Mapping[str, Chunk]:
        """Every live chunk by id (the pipeline reads the metadata of the candidates it ranks from it)."""

    def term_idf(self, term: str) -> float:
        """BM25 idf of one (local tokenizer) term over the live passages, as rank_bm25 computes it; 0 when no
        passage has it. The answer step weights a question's terms by it, whatever the backend's own scoring."""

    def unit_vectors(self, chunk_ids: Sequence[str]) -> dict[tuple[str, int], np.ndarray]:
        """(chunk id, start of the unit in the passage text) → vector of every answer unit of these passages
        (the answer step's sentence similarity); passages without vectors are left out."""

    def figures(self, chunk_ids: Sequence[str]) -> dict[str, tuple[FigureRecord, ...]]:
        """The figure records (retrieval.answer.figures) of these live passages, in text order; unknown ids are left
        out, a passage without a figure maps to ()."""


class LocalSegmentBackend:
    """The local segments in one directory: each add writes one segment, each delete marks rows deleted.

    Changes are kept in memory until flush(), which swaps a new copy of the directory in atomically.
    The index keeps the manifest of its owner (the engine's build settings) and adds its own entries.
    """

    def __init__(self, directory: Path, terms: Sequence[str] = (), manifest: dict | None = None,
                 index: SegmentIndex | None = None, sentence_weight: float = 0.5):
        self.directory = Path(directory)
        self.terms = list(terms)
        self.manifest = dict(manifest or {})
        self.index = index or SegmentIndex((), {}, {}, sentence_weight)

    @classmethod
    def over(cls, index: SegmentIndex) -> "LocalSegmentBackend":
        """A read view of one snapshot (the search pipeline's): writes go through retrieval.index.builder."""
        return cls(Path(), (), {}, index)

    @classmethod
    def open(cls, directory: Path, sentence_weight: float = 0.5) -> "LocalSegmentBackend":
        manifest = store.verify_index(Path(directory))
        terms = [t for t in (Path(directory) / "userdict.txt").read_text(encoding="utf-8").split("\n") if t]
        return cls(directory, terms, manifest, SegmentIndex.load(Path(directory), manifest, sentence_weight))

    def add(self, document: Document, passages: Sequence[PreparedPassage], vectors: np.ndarray | None = None) -> None:
        if not passages:
            raise ValueError(f"document {document.doc_id!r} has no passage to add")
        segment = Segment.build(new_segment_id(), [document], passages)
        if vectors is not None:
            # Inputs come passage by passage (its own text, then its units); a segment keeps passages first.
            starts = np.cumsum([0] + [1 + len(p.units) for p in passages])[:-1]
            order = [*starts, *(start + 1 + j for start, p in zip(starts, passages) for j in range(len(p.units)))]
            segment = segment.with_vectors(np.asarray(vectors, dtype=np.float32)[order])
        self.index = self.index.with_segment(segment, Ann.train(segment) if segment.encoded else Ann())

    def delete(self, doc_id: str) -> None:
        if doc_id not in self.index.documents:
            raise KeyError(f"no document {doc_id!r} in the index at {self.directory}")
        self.index = self.index.without([doc_id])

    def bm25(self, query_tokens: Sequence[str], k: int) -> list[tuple[str, float]]:
        ids = self.index.chunk_ids
        return [(ids[row], score) for row, score in self.index.bm25.top_k(query_tokens, k)]

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        if self.index.dense.passages == 0:
            return []
        ids = self.index.chunk_ids
        return [(ids[row], score) for row, score in self.index.dense.search(query_vector, k)[:k]]

    def fetch(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        chunks = self.index.chunks
        return [chunks[chunk_id] for chunk_id in chunk_ids if chunk_id in chunks]

    def count(self) -> int:
        return self.index.count()

    def documents(self) -> Mapping[str, Document]:
        return self.index.documents

    def chunks(self) -> Mapping[str, Chunk]:
        return self.index.chunks

    def term_idf(self, term: str) -> float:
        return self.index.bm25.term_idf(term)

    def unit_vectors(self, chunk_ids: Sequence[str]) -> dict[tuple[str, int], np.ndarray]:
        # One gather per segment into a plain float32 array: indexing the memory-mapped vectors row by row
        # made a numpy memmap object per row, most of this call's time.
        wanted: dict[str, tuple[Segment, list[tuple[str, int]], list[int]]] = {}
        for chunk_id in chunk_ids:
            location = self.index.locations.get(chunk_id)
            if location is None or not location[0].encoded:
                continue
            segment, row = location
            _, keys, rows = wanted.setdefault(segment.segment_id, (segment, [], []))
            units = segment.unit_rows_of(row)       # a passage's units are consecutive rows (no dict to build)
            keys.extend((chunk_id, start) for start in segment.unit_spans[units.start:units.stop, 1].tolist())
            rows.extend(units)
        found = {}
        for segment, keys, rows in wanted.values():
            if rows:
                gathered = np.asarray(segment.unit_vectors[np.asarray(rows)], dtype=np.float32)
                found.update(zip(keys, gathered))
        return found

    def figures(self, chunk_ids: Sequence[str]) -> dict[str, tuple[FigureRecord, ...]]:
        locations = self.index.locations
        return {chunk_id: locations[chunk_id][0].figures_of(locations[chunk_id][1])
                for chunk_id in chunk_ids if chunk_id in locations}

    def merge(self) -> None:
        """Every segment merged into one (live passages only)."""
        if len(self.index.segments) > 1 or self.index.deleted:
            self.index = self.index.merged([s.segment_id for s in self.index.segments])

    def flush(self) -> None:
        manifest = {key: value for key, value in self.manifest.items() if key != "files"}
        manifest.setdefault("format_version", store.INDEX_FORMAT)
        manifest["counts"] = {"documents": len(self.index.documents), "chunks": self.index.count(),
                              "units": self.index.unit_count()}
        self.manifest = self.index.save(self.directory, manifest, self.terms)

