"""Reading, cleaning, chunking and tokenising a corpus for a full build, in worker processes when it is large."""
from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from retrieval.corpus.files import corpus_files, load_corpus, load_document
from retrieval.corpus.overrides import load_overrides
from retrieval.errors import IngestError
from retrieval.ingest.chunking import ChunkingConfig
from retrieval.ingest.passages import PreparedPassage, prepare_passages
from retrieval.text.tokenizer import JiebaTokenizer
from retrieval.types import Document

# Reading, cleaning and tokenising a large corpus are spread over worker processes (forked, so each starts
# with the tokenizer and its dictionary already built); a small corpus is faster in one process.
BUILD_WORKERS = min(2, os.cpu_count() or 1)
PARALLEL_MIN_DOCUMENTS = 64
_worker_tokenizer: JiebaTokenizer | None = None
_worker_chunking: ChunkingConfig | None = None


def _read_one(path: Path, override: dict | None) -> tuple[str, Document | None, str]:
    try:
        return path.name, load_document(path, override), ""
    except IngestError as error:
        return path.name, None, error.reason


def read_in_parallel(corpus_dir: Path, exclude: frozenset[str]) -> tuple[dict[str, Document], dict[str, str]]:
    """load_corpus over BUILD_WORKERS processes: the readable documents in file order, and why the others are not."""
    overrides = load_overrides(corpus_dir)
    paths = [p for p in corpus_files(corpus_dir) if p.name not in exclude]
    documents, skipped = {}, {}
    with multiprocessing.get_context("fork").Pool(BUILD_WORKERS) as pool:
        for name, document, reason in pool.starmap(_read_one, [(p, overrides.get(p.name)) for p in paths],
                                                  chunksize=4):
            if document is None:
                skipped[name] = reason
            else:
                documents[name] = document
    return documents, skipped


def _prepare_in_worker(document: Document) -> list[PreparedPassage]:
    return prepare_passages(document, _worker_chunking, _worker_tokenizer)


def prepared_passages(documents: list[Document], chunking: ChunkingConfig, tokenizer: JiebaTokenizer):
    """(document, its prepared passages) in order; chunked and tokenised by BUILD_WORKERS processes when large."""
    global _worker_tokenizer, _worker_chunking
    if len(documents) < PARALLEL_MIN_DOCUMENTS or BUILD_WORKERS < 2:
        for document in documents:
            yield document, prepare_passages(document, chunking, tokenizer)
        return
    _worker_tokenizer, _worker_chunking = tokenizer.load(), chunking
    try:
        with multiprocessing.get_context("fork").Pool(BUILD_WORKERS) as pool:
            yield from zip(documents, pool.imap(_prepare_in_worker, documents, chunksize=4))
    finally:
        _worker_tokenizer = _worker_chunking = None


def read_documents(corpus_dir: Path, exclude: frozenset[str], count: int) -> tuple[dict[str, Document], dict[str, str]]:
    """The readable documents of the corpus (without `exclude`) in file order, and why the others are not; read by
    BUILD_WORKERS processes when there are at least PARALLEL_MIN_DOCUMENTS of them (`count`)."""
    if count >= PARALLEL_MIN_DOCUMENTS and BUILD_WORKERS > 1:
        return read_in_parallel(corpus_dir, exclude)
    loaded = load_corpus(corpus_dir)
    documents = {doc_id: d for doc_id, d in loaded.documents.items() if doc_id not in exclude}
    skipped = {name: reason for name, reason in loaded.errors.items() if name not in exclude}
    return documents, skipped
