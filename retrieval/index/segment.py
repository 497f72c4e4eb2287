"""One immutable segment of the index: some documents' passages, their term postings and (once encoded) vectors.

    segments/<id>/
      documents.json         metadata of each document of the segment, in document order (ensure_ascii=False)
      document_texts.txt     their cleaned texts one after another (UTF-8); document_offsets.npy: where each
                             starts, in characters (documents + 1, int64)
      passage_ids.txt        chunk id of each passage, one a line, in row order
      passages.npy           int32 row per passage: document, start, end (its span of the document text), section
      sections.json          the distinct section paths the passages name, [[heading, ...], ...]
      heading_offsets.npy    CSR over passages (int64): the title-only lines of passage p are
      heading_spans.npy      heading_spans[heading_offsets[p]:heading_offsets[p+1]], (start, end) in its text
      vocabulary.json        the segment's terms, in posting-row order
      postings_indptr.npy    CSR over terms: the passages of term t are rows[indptr[t]:indptr[t+1]]
      postings_rows.npy, postings_tf.npy      passage row and term frequency of each posting
      lengths.npy            tokens per passage (BM25 length normalisation)
      unit_spans.npy         (passage row, start, end) of every answer unit (sentence), in passage order
      keys.json              sha1 of every vector input: passages first, then units (vectors are reused by it)
      figures.jsonl          the figure records of each passage (retrieval.answer.figures.FigureRecord.as_row), one JSON
                             list a line in row order; figure_offsets.npy: byte offset of each line (passages + 1)
      vectors.npy            passage vectors then unit vectors, float16, written when the segment is encoded

A passage's text is not stored twice: it is its document's text at its span (the chunker cuts it so). Opening
a segment reads the columns, not one object per passage: a passage becomes a Chunk when it is first asked for
(StoredPassages), keys.json is read when vectors are reused, and postings and vectors are memory-mapped.

A segment never changes once written, except that its vectors file is added when encoding finishes. A
document that changes gets a new segment; its old passages are marked deleted in the manifest, not erased.
Term frequencies, not BM25 weights, are stored: the weights depend on corpus-wide statistics (document
frequency, average length) that every change moves, and are computed at query time from global figures.

Vectors are stored as float16: half the disk and page cache of float32, and the rounding (a relative 2^-11
per component) moves cosines by about 1e-4, below what separates ranked passages (dev and web-dev: the same
answers and metrics; a few neighbours at ranks 7-10 trade places). Every vector enters a segment rounded,
whether encoded now, reused or resumed from a checkpoint, so one passage has one vector whichever way it got
there. Searches compute in float32.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import sparse

from retrieval.types import FigureRecord
from retrieval.ingest.passages import PreparedPassage
from retrieval.types import Chunk, Document, DocumentMeta
from retrieval.index.store import load_array

VECTORS_FILE = "vectors.npy"
KEYS_FILE = "keys.json"
FIGURES_FILE, FIGURE_OFFSETS_FILE = "figures.jsonl", "figure_offsets.npy"
# What `write` writes besides the vectors.
SEGMENT_FILES = ("documents.json", "document_texts.txt", "document_offsets.npy", "passage_ids.txt", "passages.npy",
                 "sections.json", "heading_offsets.npy", "heading_spans.npy", "vocabulary.json", "postings_indptr.npy",
                 "postings_rows.npy", "postings_tf.npy", "lengths.npy", "unit_spans.npy", KEYS_FILE,
                 FIGURES_FILE, FIGURE_OFFSETS_FILE)
VECTOR_DTYPE = np.float16              # how vectors are stored (since retrieval.index.store.INDEX_FORMAT 7)


def as_stored(vectors) -> np.ndarray:
    """Vectors as a segment holds them: float16 (an array already float16, such as a memory map, is not copied)."""
    return np.ascontiguousarray(vectors, dtype=VECTOR_DTYPE)


class StoredPassages(Sequence):
    """The passages of a segment read from disk, as columns; row i becomes a Chunk when it is first asked for.

    Opening an index builds no object per passage: the chunk ids and each row's document are plain lists,
    and a Chunk (its text a slice of its document's text) is built and kept on first access.
    """

    def __init__(self, chunk_ids: list[str], doc_ids: list[str], texts: Sequence[str], columns: np.ndarray,
                 sections: list[list[str] | tuple[str, ...]], heading_offsets: np.ndarray, heading_spans: np.ndarray):
        self.chunk_ids = chunk_ids
        self._doc_ids = doc_ids                  # of the segment's documents, in document order
        self._texts = texts                      # their texts, in the same order
        self._columns = columns                  # passages x (document, start, end, section), int32
        self._sections = sections
        self._heading_offsets = heading_offsets
        self._heading_spans = heading_spans
        self._built: list[Chunk | None] = [None] * len(chunk_ids)
        self._all_built = False
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @cached_property
    def document_rows(self) -> np.ndarray:
        """Index (in document order) of each passage's document."""
        return np.ascontiguousarray(self._columns[:, 0])

    @cached_property
    def doc_ids(self) -> list[str]:
        """doc_id of each passage, in row order."""
        return [self._doc_ids[i] for i in self.document_rows.tolist()]

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        chunk = self._built[row]
        if chunk is None:
            with self._lock:                     # one Chunk per row, even when two threads ask at once
                chunk = self._built[row]
                if chunk is None:
                    chunk = self._built[row] = self._chunk(row)
        return chunk

    def __iter__(self):
        self.build_all()
        return iter(self._built)

    def build_all(self) -> None:
        """Every passage as a Chunk at once: the columns read in bulk, several times faster than row by row."""
        if self._all_built:
            return
        with self._lock:
            columns, offsets = self._columns.tolist(), self._heading_offsets.tolist()
            spans = list(map(tuple, self._heading_spans.tolist()))
            ids, doc_ids, texts, built = self.chunk_ids, self._doc_ids, self._texts, self._built
            for row, (document, start, end, section) in enumerate(columns):
                if built[row] is None:
                    built[row] = Chunk(ids[row], doc_ids[document], self._section(section), (start, end),
                                       texts[document][start:end], tuple(spans[offsets[row]:offsets[row + 1]]))
            self._all_built = True

    def peek(self, row: int) -> Chunk:
        """Row `row` as a Chunk without keeping it (encoding reads every passage of a segment once)."""
        return self._built[row] or self._chunk(row)

    def _chunk(self, row: int) -> Chunk:
        document, start, end, section = self._columns[row].tolist()
        first, last = self._heading_offsets[row:row + 2].tolist()
        headings = tuple(map(tuple, self._heading_spans[first:last].tolist()))
        return Chunk(self.chunk_ids[row], self._doc_ids[document], self._section(section), (start, end),
                     self._texts[document][start:end], headings)

    def _section(self, number: int) -> tuple[str, ...]:
        """Section path `number` as a tuple, made when a passage first names it (as read, it is a list)."""
        path = self._sections[number]
        if type(path) is not tuple:
            path = self._sections[number] = tuple(path)
        return path


class StoredKeys(Sequence):
    """A segment's vector keys, read from keys.json when first used (only rebuilds, merges and encoding use them)."""

    def __init__(self, path: Path, count: int):
        self.path = path
        self.count = count

    @cached_property
    def _keys(self) -> list[str]:
        keys = json.loads(self.path.read_text(encoding="utf-8"))
        if not isinstance(keys, list) or len(keys) != self.count:
            raise ValueError(f"{self.path} holds {len(keys) if isinstance(keys, list) else 'no list of'} keys, "
                             f"the segment has {self.count} passages and units")
        return keys

    def release(self) -> None:
        """Let go of the keys read (they are read again when next used)."""
        self.__dict__.pop("_keys", None)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):
        return self._keys[index]

    def __iter__(self):
        return iter(self._keys)


class StoredFigures(Sequence):
    """A segment's figure records by passage row, read from figures.jsonl when first asked for; a row's line is
    parsed when its records are first asked for (a question reads the records of a few passages)."""

    def __init__(self, directory: Path, chunk_ids: list[str], doc_ids: Sequence[str], offsets: np.ndarray):
        self.path = directory / FIGURES_FILE
        self._chunk_ids, self._doc_ids = chunk_ids, doc_ids
        self._offsets = offsets
        self._parsed: dict[int, tuple[FigureRecord, ...]] = {}

    @cached_property
    def _bytes(self) -> bytes:
        data = self.path.read_bytes()
        if len(data) != int(self._offsets[-1]):
            raise ValueError(f"{self.path} holds {len(data)} bytes, its offsets end at {int(self._offsets[-1])}")
        return data

    def __len__(self) -> int:
        return len(self._chunk_ids)

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        found = self._parsed.get(row)
        if found is None:
            line = self._bytes[int(self._offsets[row]):int(self._offsets[row + 1])]
            rows = json.loads(line.decode("utf-8"))
            chunk_id, doc_id = self._chunk_ids[row], self._doc_ids[row]
            found = self._parsed[row] = tuple(FigureRecord.from_row(chunk_id, doc_id, r) for r in rows)
        return found


@dataclass(frozen=True, eq=False)
class Segment:
    """Passages of whole documents, in row order; `vectors` is None until the segment is encoded."""

    segment_id: str
    documents: dict[str, Document]
    chunks: Sequence[Chunk]               # a list, or StoredPassages when read from disk
    vocabulary: list[str]
    postings: sparse.csr_matrix           # terms x passages, term frequencies (int32)
    lengths: np.ndarray                   # int32, tokens per passage
    unit_spans: np.ndarray                # int32 rows of (passage row, start, end)
    keys: Sequence[str]                   # passage keys then unit keys (StoredKeys when read from disk)
    vectors: np.ndarray | None = field(default=None)   # (passages + units) x dim, float16; memory-mapped when read
    # The directory it was read from: its files can be linked into a new index instead of written again.
    stored_at: Path | None = field(default=None, repr=False)
    # The figure records of each passage row (a list, or StoredFigures when read from disk); None: none made.
    figures: Sequence[tuple[FigureRecord, ...]] | None = field(default=None, repr=False)

    def figures_of(self, row: int) -> tuple[FigureRecord, ...]:
        """The figure records of passage `row`."""
        return self.figures[row] if self.figures is not None else ()

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
    def chunk_ids(self) -> list[str]:
        """Chunk id of each passage, in row order (read from its column, no Chunk built)."""
        if isinstance(self.chunks, StoredPassages):
            return self.chunks.chunk_ids
        return [chunk.chunk_id for chunk in self.chunks]

    @cached_property
    def passage_doc_ids(self) -> list[str]:
        """doc_id of each passage, in row order (read from its column, no Chunk built)."""
        if isinstance(self.chunks, StoredPassages):
            return self.chunks.doc_ids
        return [chunk.doc_id for chunk in self.chunks]

    @cached_property
    def term_rows(self) -> dict[str, int]:
        return {term: row for row, term in enumerate(self.vocabulary)}

    @cached_property
    def unit_bounds(self) -> np.ndarray:
        """int64, passages + 1: the units of passage row r are rows unit_bounds[r]:unit_bounds[r + 1] (units are
        stored grouped by passage, in row order)."""
        return np.searchsorted(np.ascontiguousarray(self.unit_spans[:, 0]), np.arange(self.size + 1)).astype(np.int64)

    def unit_rows_of(self, row: int) -> range:
        """Unit rows of one passage row."""
        return range(int(self.unit_bounds[row]), int(self.unit_bounds[row + 1]))

    def unit_row(self, row: int, start: int) -> int | None:
        """The unit of passage `row` that starts at `start`, None when there is none."""
        for unit in self.unit_rows_of(row):
            if self.unit_spans[unit, 1] == start:
                return unit
        return None

    def with_vectors(self, vectors: np.ndarray) -> "Segment":
        if vectors.shape[0] != len(self.keys):
            raise ValueError(f"segment {self.segment_id} needs {len(self.keys)} vectors, got {vectors.shape[0]}")
        return Segment(self.segment_id, self.documents, self.chunks, self.vocabulary, self.postings, self.lengths,
                       self.unit_spans, self.keys, as_stored(vectors), self.stored_at, self.figures)

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
                   sorted(vocabulary, key=vocabulary.get), postings, lengths, unit_spans, keys,
                   figures=[tuple(p.figures) for p in passages])

    @classmethod
    def merge(cls, segment_id: str, parts: Sequence[tuple["Segment", np.ndarray]]) -> "Segment":
        """One segment holding the live passages of several (each given with its boolean live mask), in order.

        Nothing is re-read or re-tokenised: postings are re-mapped onto one vocabulary, vectors concatenated.
        A part's vectors must all be present or all be missing, and then the merged segment has none.
        """
        vocabulary: dict[str, int] = {}
        postings, lengths, spans, keys, vectors, chunks, documents = [], [], [], [], [], [], {}
        figures: list[tuple[FigureRecord, ...]] = []
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
            figures.extend(segment.figures_of(i) for i in kept.tolist())
            kept_docs = {segment.passage_doc_ids[i] for i in kept}
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
                     [k for passage_keys, _ in keys for k in passage_keys] + [k for _, unit_keys in keys for k in unit_keys],
                     figures=figures)
        if vectors and all(v is not None for v in vectors):
            merged = merged.with_vectors(np.concatenate([v[0] for v in vectors] + [v[1] for v in vectors]))
        return merged

    # ---------------------------------------------------------------- files
    def write(self, directory: Path) -> None:
        """Write the segment's files into a new directory (vectors too, when it has them)."""
        directory.mkdir(parents=True)
        documents = list(self.documents.values())
        order = {document.doc_id: number for number, document in enumerate(documents)}
        sections: dict[tuple[str, ...], int] = {}
        columns = np.zeros((self.size, 4), dtype=np.int32)
        heading_offsets = np.zeros(self.size + 1, dtype=np.int64)
        heading_spans: list[tuple[int, int]] = []
        for row, chunk in enumerate(self.chunks):
            number = order.get(chunk.doc_id)
            start, end = chunk.char_span
            if number is None or documents[number].text[start:end] != chunk.text:
                # Only a chunker's passage is stored as a span: anything else would be read back changed.
                raise ValueError(f"passage {chunk.chunk_id} of segment {self.segment_id} is not the text of its "
                                 f"document {chunk.doc_id!r} at {chunk.char_span}")
            columns[row] = (number, start, end, sections.setdefault(tuple(chunk.section_path), len(sections)))
            heading_spans.extend(chunk.heading_spans)
            heading_offsets[row + 1] = len(heading_spans)
        (directory / "documents.json").write_text(
            json.dumps([asdict(d.meta) for d in documents], ensure_ascii=False), encoding="utf-8")
        with (directory / "document_texts.txt").open("w", encoding="utf-8", newline="") as handle:
            for document in documents:
                handle.write(document.text)
        offsets = np.cumsum([0] + [len(d.text) for d in documents], dtype=np.int64)
        np.save(directory / "document_offsets.npy", offsets, allow_pickle=False)
        (directory / "passage_ids.txt").write_text("\n".join(self.chunk_ids), encoding="utf-8")
        np.save(directory / "passages.npy", columns, allow_pickle=False)
        (directory / "sections.json").write_text(json.dumps([list(p) for p in sections], ensure_ascii=False),
                                                 encoding="utf-8")
        np.save(directory / "heading_offsets.npy", heading_offsets, allow_pickle=False)
        np.save(directory / "heading_spans.npy", np.asarray(heading_spans, dtype=np.int32).reshape(-1, 2),
                allow_pickle=False)
        (directory / "vocabulary.json").write_text(json.dumps(self.vocabulary, ensure_ascii=False), encoding="utf-8")
        np.save(directory / "postings_indptr.npy", self.postings.indptr.astype(np.int64), allow_pickle=False)
        np.save(directory / "postings_rows.npy", self.postings.indices.astype(np.int32), allow_pickle=False)
        np.save(directory / "postings_tf.npy", self.postings.data.astype(np.int32), allow_pickle=False)
        np.save(directory / "lengths.npy", self.lengths, allow_pickle=False)
        np.save(directory / "unit_spans.npy", self.unit_spans, allow_pickle=False)
        (directory / KEYS_FILE).write_text(json.dumps(list(self.keys)), encoding="utf-8")
        self._write_figures(directory)
        if self.vectors is not None:
            self.write_vectors(directory)

    def _write_figures(self, directory: Path) -> None:
        offsets = np.zeros(self.size + 1, dtype=np.int64)
        with (directory / FIGURES_FILE).open("wb") as handle:
            for row in range(self.size):
                line = json.dumps([r.as_row() for r in self.figures_of(row)], ensure_ascii=False).encode("utf-8")
                handle.write(line + b"\n")
                offsets[row + 1] = offsets[row] + len(line) + 1
        np.save(directory / FIGURE_OFFSETS_FILE, offsets, allow_pickle=False)

    def write_vectors(self, directory: Path) -> None:
        np.save(directory / VECTORS_FILE, as_stored(self.vectors), allow_pickle=False)

    def write_linked(self, directory: Path) -> None:
        """`write`, for a segment read from disk: its files are hard-linked into the new directory (copied across
        file systems) instead of written from its passages again; its vectors, when it has them, are written."""
        if self.stored_at is None:
            raise ValueError(f"segment {self.segment_id} was not read from disk: write it")
        directory.mkdir(parents=True)
        for name in SEGMENT_FILES:
            try:
                os.link(self.stored_at / name, directory / name)
            except OSError:
                shutil.copyfile(self.stored_at / name, directory / name)
        if self.vectors is not None:
            self.write_vectors(directory)

    @classmethod
    def read(cls, directory: Path, segment_id: str, with_vectors: bool) -> "Segment":
        """Read a segment written by `write`: documents whole, passages as columns (StoredPassages), keys when
        first used; postings and vectors memory-mapped, not loaded."""
        metas = json.loads((directory / "documents.json").read_text(encoding="utf-8"))
        texts = (directory / "document_texts.txt").read_text(encoding="utf-8")
        offsets = load_array(directory / "document_offsets.npy").tolist()
        if len(offsets) != len(metas) + 1 or offsets[-1] != len(texts):
            raise ValueError(f"segment {segment_id} is inconsistent: {len(metas)} documents, {len(offsets)} text "
                             f"offsets up to {offsets[-1] if offsets else None}, {len(texts)} characters of text")
        documents = {}
        for number, meta in enumerate(metas):
            meta["aliases"], meta["years"] = tuple(meta["aliases"]), tuple(meta["years"])
            meta["parents"] = tuple(meta.get("parents", ()))
            documents[meta["doc_id"]] = Document(meta=DocumentMeta(**meta),
                                                 text=texts[offsets[number]:offsets[number + 1]])
        del texts
        ids = (directory / "passage_ids.txt").read_text(encoding="utf-8")
        chunk_ids = ids.split("\n") if ids else []
        columns = load_array(directory / "passages.npy").reshape(-1, 4)
        sections = json.loads((directory / "sections.json").read_text(encoding="utf-8"))   # lists: see _section
        heading_offsets = load_array(directory / "heading_offsets.npy")
        heading_spans = load_array(directory / "heading_spans.npy").reshape(-1, 2)
        doc_ids = list(documents)
        if len(columns) != len(chunk_ids) or len(heading_offsets) != len(chunk_ids) + 1 or (len(columns) and (
                columns[:, 0].min() < 0 or columns[:, 0].max() >= len(doc_ids)
                or columns[:, 3].min() < 0 or columns[:, 3].max() >= len(sections))) \
                or heading_offsets[-1] != len(heading_spans):
            raise ValueError(f"segment {segment_id} is inconsistent: {len(chunk_ids)} passage ids, {len(columns)} "
                             f"passage rows, {len(heading_offsets)} heading offsets")
        chunks = StoredPassages(chunk_ids, doc_ids, [documents[d].text for d in doc_ids], columns, sections,
                                heading_offsets, heading_spans)
        vocabulary = json.loads((directory / "vocabulary.json").read_text(encoding="utf-8"))
        postings = sparse.csr_matrix((load_array(directory / "postings_tf.npy", mapped=True),
                                      load_array(directory / "postings_rows.npy", mapped=True),
                                      load_array(directory / "postings_indptr.npy")),
                                     shape=(len(vocabulary), len(chunks)))
        lengths = load_array(directory / "lengths.npy")
        unit_spans = load_array(directory / "unit_spans.npy").reshape(-1, 3)
        keys = StoredKeys(directory / KEYS_FILE, len(chunks) + len(unit_spans))
        vectors = load_array(directory / VECTORS_FILE, mapped=True) if with_vectors else None
        figure_offsets = load_array(directory / FIGURE_OFFSETS_FILE)
        if len(figure_offsets) != len(chunks) + 1:
            raise ValueError(f"segment {segment_id} is inconsistent: {len(chunks)} passages, "
                             f"{len(figure_offsets)} figure offsets")
        figures = StoredFigures(directory, chunk_ids, chunks.doc_ids, figure_offsets)
        if len(lengths) != len(chunks) or (vectors is not None and (
                vectors.shape[0] != len(keys) or vectors.dtype != VECTOR_DTYPE)):
            raise ValueError(f"segment {segment_id} is inconsistent: {len(chunks)} passages, {len(lengths)} lengths, "
                             f"{len(unit_spans)} units"
                             + ("" if vectors is None else f", {vectors.shape[0]} vectors of {vectors.dtype}"))
        return cls(segment_id, documents, chunks, vocabulary, postings, lengths, unit_spans, keys, vectors, directory,
                   figures)
