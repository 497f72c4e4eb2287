"""The local backend: immutable segments plus deleted rows, in one index directory, searched in this process.

    index/
      manifest.json      what retrieval.index.store records (versions, checksums of every file, …) plus
                         "segments": [{"id", "passages", "units", "encoded", "ivf"}] in row order and
                         "deleted": {segment id: [passage rows]}
      userdict.txt       the jieba dictionary the passages were tokenised with
      segments/<id>/     one retrieval.index.segment.Segment (and its IVF arrays when it is large); a segment
                         not encoded yet may hold checkpoint files of the vectors encoded so far

A change writes only its new segment: the files of the others are hard-linked into the new copy of the
directory (retrieval.index.store.save_index swaps it in atomically) with the checksums the manifest already has.
"""
from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

from retrieval.index import store
from retrieval.index.bm25 import SegmentedBM25
from retrieval.index.dense import DensePart, InvertedFile, SegmentedDense, needs_ivf
from retrieval.index.segment import KEYS_FILE, VECTORS_FILE, Segment, StoredPassages, as_stored
from retrieval.types import Chunk, Document

SEGMENTS_DIR = "segments"
PARTIAL = "checkpoint-"           # segments/<id>/checkpoint-00000.npy + .json: vectors of an encoding under way
# Index formats whose keys.json, vectors.npy and checkpoints mean what they mean now (6: float32 vectors;
# 7: no figure records), so a rebuild after a format change reuses their vectors.
REUSABLE_FORMATS = (6, 7, store.INDEX_FORMAT)
_counter = itertools.count()


def new_segment_id() -> str:
    """Unique within this index: time, process and a counter (a segment id is never reused)."""
    return f"{time.time_ns():x}-{os.getpid():x}-{next(_counter)}"


@dataclass(frozen=True)
class Ann:
    """The inverted file of one segment's passage vectors (None below the size threshold). Sentences need
    none: the dense leg reads only the sentences of the passages it found (retrieval.index.dense)."""

    passages: InvertedFile | None = None

    @classmethod
    def train(cls, segment: Segment) -> "Ann":
        return cls(InvertedFile.train(segment.passage_vectors) if needs_ivf(segment.size) else None)

    @property
    def empty(self) -> bool:
        return self.passages is None


@dataclass(frozen=True, eq=False)
class SegmentIndex:
    """One snapshot of the local backend. Searches read it while a change builds the next one."""

    segments: tuple[Segment, ...]
    deleted: Mapping[str, frozenset[int]] = field(default_factory=dict)
    ann: Mapping[str, Ann] = field(default_factory=dict)
    sentence_weight: float = 0.5
    # Vectors already encoded for segments that are not encoded yet (checkpoints of an interrupted encoding).
    partial: Mapping[str, dict[str, np.ndarray]] = field(default_factory=dict)

    # ---------------------------------------------------------------- what is live
    def live(self, segment: Segment) -> np.ndarray:
        mask = np.ones(segment.size, dtype=bool)
        gone = self.deleted.get(segment.segment_id)
        if gone:
            mask[list(gone)] = False
        return mask

    @cached_property
    def chunk_ids(self) -> list[str]:
        """Chunk id of every row, live or deleted, across segments in order (the retrievers' row numbering)."""
        return [chunk_id for segment in self.segments for chunk_id in segment.chunk_ids]

    @cached_property
    def locations(self) -> dict[str, tuple[Segment, int]]:
        """Live chunk id → (segment, row in it)."""
        found: dict[str, tuple[Segment, int]] = {}
        for segment in self.segments:
            ids = segment.chunk_ids
            gone = self.deleted.get(segment.segment_id)
            rows = range(segment.size) if not gone else np.flatnonzero(self.live(segment)).tolist()
            found.update((ids[row], (segment, row)) for row in rows)
        return found

    @cached_property
    def chunks(self) -> "LiveChunks":
        """Live chunk id → Chunk; a stored passage becomes a Chunk only when it is read."""
        return LiveChunks(self.locations)

    def _live_doc_ids(self, segment: Segment) -> list[str]:
        """The documents of a segment that still have a live passage there, in document order."""
        if not self.deleted.get(segment.segment_id):
            return list(segment.documents)
        ids = segment.passage_doc_ids
        live = {ids[row] for row in np.flatnonzero(self.live(segment)).tolist()}
        return [doc_id for doc_id in segment.documents if doc_id in live]

    @cached_property
    def documents(self) -> dict[str, Document]:
        live_docs = {doc_id for segment in self.segments for doc_id in self._live_doc_ids(segment)}
        return {doc_id: doc for segment in self.segments for doc_id, doc in segment.documents.items()
                if doc_id in live_docs}

    @cached_property
    def dense_pending(self) -> tuple[str, ...]:
        """Documents whose passages have no vectors yet (the dense leg does not see them, BM25 does)."""
        return tuple(dict.fromkeys(doc_id for segment in self.segments if not segment.encoded
                                   for doc_id in self._live_doc_ids(segment)))

    def count(self) -> int:
        return sum(segment.size - len(self.deleted.get(segment.segment_id, ())) for segment in self.segments)

    def unit_count(self) -> int:
        return sum(int(self.live(s)[s.unit_spans[:, 0]].sum()) if s.unit_count else 0 for s in self.segments)

    # ---------------------------------------------------------------- searching
    @cached_property
    def bm25(self) -> SegmentedBM25:
        return SegmentedBM25([(segment, self.live(segment)) for segment in self.segments])

    @cached_property
    def dense(self) -> SegmentedDense:
        parts, offset = [], 0
        for segment in self.segments:
            if segment.encoded:
                live = self.live(segment)
                ann = self.ann.get(segment.segment_id, Ann())
                parts.append(DensePart(segment, None if live.all() else live, offset, ann.passages))
            offset += segment.size
        return SegmentedDense(parts, self.sentence_weight)

    def unit_vector(self, chunk_id: str, start: int) -> np.ndarray | None:
        """The vector of the answer unit starting at `start` in a live passage, None when it has none."""
        segment, row = self.locations[chunk_id]
        unit = segment.unit_row(row, start)
        if unit is None or not segment.encoded:
            return None
        return segment.unit_vectors[unit]

    def vectors_by_key(self, doc_ids: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Input-text key → vector of encoded passages and units (of `doc_ids` only, when given), for reuse."""
        wanted = None if doc_ids is None else set(doc_ids)
        found: dict[str, np.ndarray] = {}
        for segment in self.segments:
            if wanted is not None and not wanted & set(segment.documents):
                continue
            if segment.encoded:
                found.update(zip(segment.keys, segment.vectors))
            else:
                found.update(self.partial.get(segment.segment_id, {}))
        return found

    # ---------------------------------------------------------------- changing (each returns a new snapshot)
    def _deleting(self, doc_ids: set[str]) -> dict[str, frozenset[int]]:
        deleted = dict(self.deleted)
        for segment in self.segments:
            if doc_ids & set(segment.documents):
                rows = {i for i, doc_id in enumerate(segment.passage_doc_ids) if doc_id in doc_ids}
                deleted[segment.segment_id] = frozenset(deleted.get(segment.segment_id, frozenset()) | rows)
        return deleted

    def _replace(self, segments, deleted, ann) -> "SegmentIndex":
        # Segments whose every passage is deleted are dropped: nothing of them can be found any more.
        kept = tuple(s for s in segments if len(deleted.get(s.segment_id, ())) < s.size)
        ids = {s.segment_id for s in kept}
        return SegmentIndex(kept, {k: v for k, v in deleted.items() if k in ids and v},
                            {k: v for k, v in ann.items() if k in ids}, self.sentence_weight,
                            {k: v for k, v in self.partial.items() if k in ids})

    def with_segment(self, segment: Segment, ann: Ann | None = None) -> "SegmentIndex":
        """The new segment added; earlier passages of its documents marked deleted."""
        deleted = self._deleting(set(segment.documents))
        return self._replace((*self.segments, segment), deleted, {**self.ann, segment.segment_id: ann or Ann()})

    def with_encoded(self, segment: Segment, ann: Ann | None = None) -> "SegmentIndex":
        """A segment of this snapshot replaced by its encoded version (same id, same passages)."""
        segments = tuple(segment if s.segment_id == segment.segment_id else s for s in self.segments)
        partial = {k: v for k, v in self.partial.items() if k != segment.segment_id}
        return SegmentIndex(segments, self.deleted, {**self.ann, segment.segment_id: ann or Ann()},
                            self.sentence_weight, partial)

    def without(self, doc_ids: Iterable[str]) -> "SegmentIndex":
        return self._replace(self.segments, self._deleting(set(doc_ids)), self.ann)

    def merged(self, segment_ids: Iterable[str], merged_id: str | None = None) -> "SegmentIndex":
        """The given segments replaced by one holding their live passages, placed where the first of them was."""
        chosen = set(segment_ids)
        parts = [(s, self.live(s)) for s in self.segments if s.segment_id in chosen]
        merged = Segment.merge(merged_id or new_segment_id(), parts)
        ann = Ann.train(merged) if merged.encoded else Ann()
        segments, placed = [], False
        for segment in self.segments:
            if segment.segment_id not in chosen:
                segments.append(segment)
            elif not placed:
                segments.append(merged)
                placed = True
        return self._replace(segments, {k: v for k, v in self.deleted.items() if k not in chosen},
                             {**self.ann, merged.segment_id: ann})

    # ---------------------------------------------------------------- files
    def manifest_entries(self) -> dict:
        return {"segments": [{"id": s.segment_id, "passages": s.size, "units": s.unit_count, "encoded": s.encoded,
                              "ivf": not self.ann.get(s.segment_id, Ann()).empty} for s in self.segments],
                "deleted": {k: sorted(v) for k, v in sorted(self.deleted.items())}}

    def save(self, index_dir: Path, manifest: dict, terms: list[str],
             partial: tuple[str, list[str], np.ndarray] | None = None) -> dict:
        """Write this snapshot as the index directory and return the manifest saved.

        Files of segments already on disk are carried over (hard links, recorded checksums); a segment
        encoded since gets only its vectors written. `partial` = (segment id, keys, vectors) adds one
        checkpoint file of vectors encoded so far for a segment that is not encoded yet: they are kept
        across a restart and reused by key (vectors_by_key) when encoding resumes.
        """
        index_dir = Path(index_dir)
        previous = _recorded_files(index_dir)
        carried: dict[str, str] = {}
        new: list[Segment] = []
        vectors_only: list[Segment] = []
        for segment in self.segments:
            prefix = f"{SEGMENTS_DIR}/{segment.segment_id}/"
            files = {name: digest for name, digest in previous.items() if name.startswith(prefix)}
            if not files:
                new.append(segment)
            elif not segment.encoded or f"{prefix}{VECTORS_FILE}" in files:
                carried.update(files)
            else:                                # encoded since it was saved: its checkpoints give way to vectors
                carried.update({name: digest for name, digest in files.items() if PARTIAL not in name})
                vectors_only.append(segment)

        def write_ann(segment: Segment, target: Path) -> None:
            ann = self.ann.get(segment.segment_id, Ann())
            if ann.passages is not None:
                ann.passages.write(target, "passage_ivf")

        def write(directory: Path) -> None:
            for segment in new:
                target = directory / SEGMENTS_DIR / segment.segment_id
                if segment.stored_at is not None:        # written during the build (store.build_directory)
                    segment.write_linked(target)
                else:
                    segment.write(target)
                write_ann(segment, target)
            for segment in vectors_only:
                target = directory / SEGMENTS_DIR / segment.segment_id
                segment.write_vectors(target)
                write_ann(segment, target)
            if partial is not None:
                segment_id, keys, vectors = partial
                target = directory / SEGMENTS_DIR / segment_id
                number = len(list(target.glob(f"{PARTIAL}*.npy")))
                np.save(target / f"{PARTIAL}{number:05d}.npy", as_stored(vectors), allow_pickle=False)
                (target / f"{PARTIAL}{number:05d}.json").write_text(json.dumps(keys), encoding="utf-8")
            (directory / "userdict.txt").write_text("\n".join(terms) + "\n", encoding="utf-8")

        full = {**manifest, **self.manifest_entries()}
        return store.save_index(index_dir, full, write, carried)

    @classmethod
    def load(cls, index_dir: Path, manifest: dict, sentence_weight: float) -> "SegmentIndex":
        """Read the segments a verified manifest lists (vectors memory-mapped)."""
        segments, ann = [], {}
        for entry in manifest["segments"]:
            directory = Path(index_dir) / SEGMENTS_DIR / entry["id"]
            segment = Segment.read(directory, entry["id"], with_vectors=entry["encoded"])
            if segment.size != entry["passages"] or segment.unit_count != entry["units"]:
                raise ValueError(f"segment {entry['id']} holds {segment.size} passages and {segment.unit_count} "
                                 f"units, the manifest says {entry['passages']} and {entry['units']}")
            segments.append(segment)
            ann[entry["id"]] = Ann(InvertedFile.read(directory, "passage_ivf"))
        deleted = {k: frozenset(v) for k, v in manifest.get("deleted", {}).items()}
        partial = {segment.segment_id: read_checkpoints(Path(index_dir) / SEGMENTS_DIR / segment.segment_id)
                   for segment in segments if not segment.encoded}
        return cls(tuple(segments), deleted, ann, sentence_weight, {k: v for k, v in partial.items() if v})


class LiveChunks(Mapping):
    """Live chunk id → Chunk over a snapshot's locations: the retrievers' fetch, the pipeline's passages."""

    def __init__(self, locations: Mapping[str, tuple[Segment, int]]):
        self._locations = locations

    def __getitem__(self, chunk_id: str) -> Chunk:
        segment, row = self._locations[chunk_id]
        return segment.chunks[row]

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._locations

    def __iter__(self) -> Iterator[str]:
        return iter(self._locations)

    def __len__(self) -> int:
        return len(self._locations)

    def values(self):
        self._build_all()
        return super().values()

    def items(self):
        self._build_all()
        return super().items()

    def _build_all(self) -> None:
        """Before a pass over every passage: each segment's Chunks built in bulk, not one lookup at a time."""
        for segment in {id(segment): segment for segment, _ in self._locations.values()}.values():
            if isinstance(segment.chunks, StoredPassages):
                segment.chunks.build_all()


def reusable_vectors(index_dir: Path, manifest: dict) -> dict[str, np.ndarray]:
    """Key → vector of the encoded segments and checkpoints of a verified index of a REUSABLE_FORMATS format:
    only keys.json and vectors.npy are read (memory-mapped), whichever way that format stores passages."""
    found: dict[str, np.ndarray] = {}
    for entry in manifest["segments"]:
        directory = Path(index_dir) / SEGMENTS_DIR / entry["id"]
        if not entry["encoded"]:
            found.update(read_checkpoints(directory))
            continue
        keys = json.loads((directory / KEYS_FILE).read_text(encoding="utf-8"))
        vectors = store.load_array(directory / VECTORS_FILE, mapped=True)
        if len(keys) != len(vectors):
            raise ValueError(f"{directory} holds {len(vectors)} vectors for {len(keys)} keys")
        found.update(zip(keys, vectors))
    return found


def read_checkpoints(directory: Path) -> dict[str, np.ndarray]:
    """Key → vector of the checkpoint files of a segment whose encoding was interrupted."""
    found: dict[str, np.ndarray] = {}
    for path in sorted(directory.glob(f"{PARTIAL}*.npy")):
        keys = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        vectors = store.load_array(path)
        if len(keys) != len(vectors):
            raise ValueError(f"{path} holds {len(vectors)} vectors for {len(keys)} keys")
        found.update(zip(keys, vectors))
    return found


def _recorded_files(index_dir: Path) -> dict[str, str]:
    """Checksums the live index's manifest records, {} when there is no readable index."""
    try:
        manifest = store.read_manifest(index_dir)
    except Exception:  # noqa: BLE001 - an unreadable manifest only means writing every segment anew
        return {}
    files = (manifest or {}).get("files")
    return files if isinstance(files, dict) else {}
