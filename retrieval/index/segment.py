"""One immutable segment of the index: some documents' passages, their term postings and (once encoded) vectors.

    segments/<id>/
      documents.jsonl        metadata and cleaned text of each document of the segment
      chunks.jsonl           one passage a line (ensure_ascii=False), in row order
      vocabulary.json        the segment's terms, in posting-row order
      postings_indptr.npy    CSR over terms: the passages of term t are rows[indptr[t]:indptr[t+1]]
      postings_rows.npy, postings_tf.npy      passage row and term frequency of each posting
      lengths.npy            tokens per passage (BM25 length normalisation)
      unit_spans.npy         (passage row, start, end) of every answer unit (sentence), in passage order
      keys.json              sha1 of every vector input: passages first, then units (vectors are reused by it)
      vectors.npy            passage vectors then unit vectors, float32, written when the segment is encoded

A segment never changes once written, except that its vectors file is added when encoding finishes. A
document that changes gets a new segment; its old passages are marked deleted in the manifest, not erased.
Term frequencies, not BM25 weights, are stored: the weights depend on corpus-wide statistics (document
frequency, average length) that every change moves, and are computed at query time from global figures.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import sparse

from retrieval.ingest.passages import PreparedPassage
from retrieval.types import Chunk, Document, DocumentMeta

VECTORS_FILE = "vectors.npy"


@dataclass(frozen=True, eq=False)
class Segment:
    """Passages of whole documents, in row order; `vectors` is None until the segment is encoded."""

    segment_id: str
    documents: dict[str, Document]
    chunks: list[Chunk]
    vocabulary: list[str]
    postings: sparse.csr_matrix           # terms x passages, term frequencies (int32)
    lengths: np.ndarray                   # int32, tokens per passage
    unit_spans: np.ndarray                # int32 rows of (passage row, start, end)
    keys: list[str]                       # passage keys then unit keys
    vectors: np.ndarray | None = field(default=None)   # (passages + units) x dim, float32; memory-mapped when read

    @property
    def size(self) -> int:
        return len(self.chunks)

    @property
    def unit_count(self) -> int:
        return len(self.unit_spans)

    @property
    def encoded(self) -> bool:
        return self.vectors is not None

    @property
    def passage_vectors(self) -> np.ndarray:
        return self.vectors[:self.size]

    @property
    def unit_vectors(self) -> np.ndarray:
        return self.vectors[self.size:]

    @cached_property
    def term_rows(self) -> dict[str, int]:
        return {term: row for row, term in enumerate(self.vocabulary)}

    @cached_property
    def unit_rows(self) -> dict[tuple[int, int], int]:
        """(passage row, unit start) → unit row."""
        return {(int(c), int(s)): i for i, (c, s, _) in enumerate(self.unit_spans)}

    def with_vectors(self, vectors: np.ndarray) -> "Segment":
        if vectors.shape[0] != len(self.keys):
            raise ValueError(f"segment {self.segment_id} needs {len(self.keys)} vectors, got {vectors.shape[0]}")
        return Segment(self.segment_id, self.documents, self.chunks, self.vocabulary, self.postings, self.lengths,
                       self.unit_spans, self.keys, np.ascontiguousarray(vectors, dtype=np.float32))

    # ---------------------------------------------------------------- building
    @classmethod
    def build(cls, segment_id: str, documents: Sequence[Document], passages: Sequence[PreparedPassage]) -> "Segment":
        """A segment over prepared passages (in row order) of the given documents."""
        vocabulary: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for col, passage in enumerate(passages):
            for term, tf in Counter(passage.tokens).items():
                rows.append(vocabulary.setdefault(term, len(vocabulary)))
                cols.append(col)
                tfs.append(tf)
        postings = sparse.csr_matrix((np.asarray(tfs, dtype=np.int32), (np.asarray(rows, dtype=np.int64),
                                                                         np.asarray(cols, dtype=np.int64))),
                                     shape=(len(vocabulary), len(passages)))
        postings.sort_indices()
        lengths = np.asarray([len(p.tokens) for p in passages], dtype=np.int32)
        unit_spans = np.asarray([(row, s, e) for row, p in enumerate(passages) for s, e in p.units],
                                dtype=np.int32).reshape(-1, 3)
        keys = [p.key for p in passages] + [k for p in passages for k in p.unit_keys]
        return cls(segment_id, {d.doc_id: d for d in documents}, [p.chunk for p in passages],
                   sorted(vocabulary, key=vocabulary.get), postings, lengths, unit_spans, keys)

    @classmethod
    def merge(cls, segment_id: str, parts: Sequence[tuple["Segment", np.ndarray]]) -> "Segment":
        """One segment holding the live passages of several (each given with its boolean live mask), in order.

        Nothing is re-read or re-tokenised: postings are re-mapped onto one vocabulary, vectors concatenated.
        A part's vectors must all be present or all be missing, and then the merged segment has none.
        """
        vocabulary: dict[str, int] = {}
        postings, lengths, spans, keys, vectors, chunks, documents = [], [], [], [], [], [], {}
        offset = 0
        for segment, live in parts:
            kept = np.flatnonzero(live)
            new_row = np.full(segment.size, -1, dtype=np.int64)
            new_row[kept] = np.arange(kept.size)
            local = segment.postings[:, kept].tocoo()
            term_ids = np.asarray([vocabulary.setdefault(t, len(vocabulary)) for t in segment.vocabulary], dtype=np.int64)
            postings.append((term_ids[local.row], local.col.astype(np.int64) + offset, local.data))
            lengths.append(segment.lengths[kept])
            unit_live = live[segment.unit_spans[:, 0]] if segment.unit_count else np.zeros(0, bool)
            unit_spans = segment.unit_spans[unit_live].copy()
            unit_spans[:, 0] = new_row[unit_spans[:, 0]] + offset
            spans.append(unit_spans)
            keys.append(([segment.keys[i] for i in kept],
                         [segment.keys[segment.size + i] for i in np.flatnonzero(unit_live)]))
            vectors.append(None if segment.vectors is None else
                           (segment.passage_vectors[kept], segment.unit_vectors[unit_live]))
            chunks.extend(segment.chunks[i] for i in kept)
            kept_docs = {segment.chunks[i].doc_id for i in kept}
            documents.update({doc_id: d for doc_id, d in segment.documents.items() if doc_id in kept_docs})
            offset += kept.size
        rows = np.concatenate([p[0] for p in postings]) if postings else np.zeros(0, np.int64)
        cols = np.concatenate([p[1] for p in postings]) if postings else np.zeros(0, np.int64)
        tfs = np.concatenate([p[2] for p in postings]) if postings else np.zeros(0, np.int32)
        matrix = sparse.csr_matrix((tfs.astype(np.int32), (rows, cols)), shape=(len(vocabulary), offset))
        matrix.sort_indices()
        merged = cls(segment_id, documents, chunks, sorted(vocabulary, key=vocabulary.get), matrix,
                     np.concatenate(lengths).astype(np.int32) if lengths else np.zeros(0, np.int32),
                     np.concatenate(spans).astype(np.int32).reshape(-1, 3) if spans else np.zeros((0, 3), np.int32),
                     [k for passage_keys, _ in keys for k in passage_keys] + [k for _, unit_keys in keys for k in unit_keys])
        if vectors and all(v is not None for v in vectors):
            merged = merged.with_vectors(np.concatenate([v[0] for v in vectors] + [v[1] for v in vectors]))
        return merged

    # ---------------------------------------------------------------- files
    def write(self, directory: Path) -> None:
        """Write the segment's files into a new directory (vectors too, when it has them)."""
        directory.mkdir(parents=True)
        _write_jsonl(directory / "documents.jsonl",
                     ({"meta": asdict(d.meta), "text": d.text} for d in self.documents.values()))
        _write_jsonl(directory / "chunks.jsonl", ({"chunk_id": c.chunk_id, "doc_id": c.doc_id,
                                                   "section_path": list(c.section_path),
                                                   "char_span": list(c.char_span), "text": c.text,
                                                   "heading_spans": [list(s) for s in c.heading_spans]}
                                                  for c in self.chunks))
        (directory / "vocabulary.json").write_text(json.dumps(self.vocabulary, ensure_ascii=False), encoding="utf-8")
        np.save(directory / "postings_indptr.npy", self.postings.indptr.astype(np.int64), allow_pickle=False)
        np.save(directory / "postings_rows.npy", self.postings.indices.astype(np.int32), allow_pickle=False)
        np.save(directory / "postings_tf.npy", self.postings.data.astype(np.int32), allow_pickle=False)
        np.save(directory / "lengths.npy", self.lengths, allow_pickle=False)
        np.save(directory / "unit_spans.npy", self.unit_spans, allow_pickle=False)
        (directory / "keys.json").write_text(json.dumps(self.keys), encoding="utf-8")
        if self.vectors is not None:
            self.write_vectors(directory)

    def write_vectors(self, directory: Path) -> None:
        np.save(directory / VECTORS_FILE, np.asarray(self.vectors, dtype=np.float32), allow_pickle=False)

    @classmethod
    def read(cls, directory: Path, segment_id: str, with_vectors: bool) -> "Segment":
        """Read a segment written by `write`; its vectors are memory-mapped, not loaded."""
        documents = {}
        for row in _read_jsonl(directory / "documents.jsonl"):
            meta = row["meta"]
            meta["aliases"], meta["years"] = tuple(meta["aliases"]), tuple(meta["years"])
            documents[meta["doc_id"]] = Document(meta=DocumentMeta(**meta), text=row["text"])
        chunks = [Chunk(r["chunk_id"], r["doc_id"], tuple(r["section_path"]), tuple(r["char_span"]), r["text"],
                        tuple(tuple(s) for s in r.get("heading_spans", ())))
                  for r in _read_jsonl(directory / "chunks.jsonl")]
        vocabulary = json.loads((directory / "vocabulary.json").read_text(encoding="utf-8"))
        postings = sparse.csr_matrix((np.load(directory / "postings_tf.npy", allow_pickle=False),
                                      np.load(directory / "postings_rows.npy", allow_pickle=False),
                                      np.load(directory / "postings_indptr.npy", allow_pickle=False)),
                                     shape=(len(vocabulary), len(chunks)))
        lengths = np.load(directory / "lengths.npy", allow_pickle=False)
        unit_spans = np.load(directory / "unit_spans.npy", allow_pickle=False).reshape(-1, 3)
        keys = json.loads((directory / "keys.json").read_text(encoding="utf-8"))
        vectors = np.load(directory / VECTORS_FILE, mmap_mode="r", allow_pickle=False) if with_vectors else None
        if len(lengths) != len(chunks) or len(keys) != len(chunks) + len(unit_spans) or (
                vectors is not None and vectors.shape[0] != len(keys)):
            raise ValueError(f"segment {segment_id} is inconsistent: {len(chunks)} passages, {len(lengths)} lengths, "
                             f"{len(unit_spans)} units, {len(keys)} keys"
                             + ("" if vectors is None else f", {vectors.shape[0]} vectors"))
        return cls(segment_id, documents, chunks, vocabulary, postings, lengths, unit_spans, keys, vectors)


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
