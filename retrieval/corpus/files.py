"""The corpus directory: which files are documents, reading and cleaning them, their fingerprints."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.errors import IngestError, RetrievalError
from retrieval.ingest.cleaning import clean_text
from retrieval.ingest.readers import CANNOT_OPEN_ZH, NOT_FOUND_ZH, SUPPORTED_SUFFIXES, read_bytes
from retrieval.corpus.overrides import METADATA_FILE, apply_overrides, load_overrides
from retrieval.ingest.metadata import derive_metadata
from retrieval.text.tokenizer import USER_DICTIONARY_FILE
from retrieval.types import Document

SETTINGS_FILES = (METADATA_FILE, USER_DICTIONARY_FILE)   # not documents: a change to one re-reads the whole corpus


@dataclass
class CorpusLoad:
    """The documents that could be read, and why each other file could not."""

    documents: dict[str, Document] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Document files of the corpus, by name; hidden files and temporary files are not documents."""
    if not corpus_dir.is_dir():
        raise RetrievalError(f"corpus directory {corpus_dir} does not exist: create it and put .txt/.md/.docx/.pdf files in it")
    return sorted(p for p in corpus_dir.iterdir()
                  if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                  and not p.name.startswith((".", "~$")) and not p.name.endswith(".tmp"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(corpus_dir: Path) -> dict[str, str]:
    """File name → sha256 of every document file, plus the metadata and dictionary files."""
    prints = {p.name: sha256_bytes(p.read_bytes()) for p in corpus_files(corpus_dir)}
    for name in (METADATA_FILE, USER_DICTIONARY_FILE):
        path = corpus_dir / name
        if path.exists():
            prints[name] = sha256_bytes(path.read_bytes())
    return prints


def load_document(path: Path, override: dict | None = None) -> Document:
    """Read, clean and describe one file. Raises IngestError naming the file and the reason."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise IngestError(path, f"cannot open the file ({error.strerror})",
                          NOT_FOUND_ZH if isinstance(error, FileNotFoundError) else CANNOT_OPEN_ZH) from error
    data_hash = sha256_bytes(data)
    raw = read_bytes(path.name, data)
    cleaned = clean_text(raw)
    text = cleaned.text
    if not text.strip():
        raise IngestError(path, "no text left after cleaning", "清理页眉页脚等之后没有剩下正文")
    meta = derive_metadata(path.name, text, data_hash, cleaned.fields)
    if override:
        meta = apply_overrides(meta, override)
    return Document(meta=meta, text=text)


def load_corpus(corpus_dir: Path) -> CorpusLoad:
    """Every readable document; an unreadable file is recorded in `errors` and never stops the others."""
    overrides = load_overrides(corpus_dir)
    loaded = CorpusLoad()
    for path in corpus_files(corpus_dir):
        try:
            loaded.documents[path.name] = load_document(path, overrides.get(path.name))
        except IngestError as error:
            loaded.errors[path.name] = error.reason
    return loaded
