"""A small deterministic stand-in for retrieval.engine.SearchEngine, for fast UI and API tests.

It follows the engine contract (documents, chunks, analyze, ask, add_document, delete_document, remove_document,
update_metadata) with character-bigram overlap instead of BM25 and a dense model.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

from retrieval.corpus.deletion import delete_document
from retrieval.errors import IngestError, InvalidQuery, RetrievalError
from retrieval.ingest.readers import SUPPORTED_SUFFIXES, read_text
from retrieval.types import Answer, AskResult, Chunk, Document, DocumentMeta, Hit, QueryAnalysis

_FACT = re.compile(r"\d+(?:\.\d+)?万?(?:平方米|个|项|家|亿元|座|%)")
_SENTENCE = re.compile(r"[^。；！？\n]+[。；！？]?")
_YEAR = re.compile(r"(20\d{2})")


def _bigrams(text: str) -> set[str]:
    text = re.sub(r"\s", "", text)
    return {text[i: i + 2] for i in range(len(text) - 1)}


class FakeEngine:
    def __init__(self, corpus_dir):
        self.corpus_dir = Path(corpus_dir)
        self.documents: dict[str, Document] = {}
        self.chunks: dict[str, Chunk] = {}
        self.asked: list[tuple] = []
        for path in sorted(self.corpus_dir.iterdir()):
            if path.suffix in SUPPORTED_SUFFIXES and not path.name.startswith("."):
                self.add_document(path)

    # ---- contract ------------------------------------------------------------------------

    def analyze(self, question: str) -> QueryAnalysis:
        orgs = tuple(
            doc_id for doc_id, doc in self.documents.items()
            if any(name and name in question for name in (doc.meta.org, *doc.meta.aliases))
        )
        return QueryAnalysis(text=question, orgs=orgs)

    def ask(self, question, k=5, org=None, year=None) -> AskResult:
        if not question.strip():
            raise InvalidQuery("empty question")
        self.asked.append((question, k, org, year))
        analysis = self.analyze(question)
        wanted = _bigrams(question)
        scored = []
        for chunk in self.chunks.values():
            meta = self.documents[chunk.doc_id].meta
            if org and chunk.doc_id != org or year and year not in meta.years:
                continue
            overlap = wanted & _bigrams(chunk.text)
            if overlap:
                # Like the engine, a named organisation is a strong preference, not a filter.
                preferred = 1000 if analysis.orgs and chunk.doc_id in analysis.orgs else 0
                scored.append((preferred + len(overlap), chunk.chunk_id, tuple(sorted(overlap))))
        scored.sort(key=lambda item: (-item[0], item[1]))
        hits = tuple(
            Hit(chunk_id, round(1 / (60 + rank), 4), rank, (("bm25", rank), ("dense", rank + 1)), terms)
            for rank, (_, chunk_id, terms) in enumerate(scored[:k], start=1)
        )
        answer = self._answer(question, hits)
        return AskResult(question, analysis, answer, hits, {"bm25": hits, "dense": hits, "hybrid": hits},
                         chunks=dict(self.chunks), documents=dict(self.documents))

    def _answer(self, question, hits):
        if not hits:
            return None
        chunk = self.chunks[hits[0].chunk_id]
        wanted = _bigrams(question)
        best = max(_SENTENCE.finditer(chunk.text), key=lambda m: len(wanted & _bigrams(m.group())), default=None)
        if best is None or len(wanted & _bigrams(best.group())) < 3:
            return None
        fact = _FACT.search(best.group())
        start = chunk.char_span[0] + best.start()
        return Answer(best.group(), chunk.chunk_id, (start, start + len(best.group())), 0.8, fact.group() if fact else "")

    def add_document(self, path, progress=lambda fraction, message: None) -> DocumentMeta:
        path = Path(path)
        progress(0.5, "indexing")
        text = read_text(path)
        stem = path.stem
        org = re.split(r"街道|开发区|\d", stem, maxsplit=1)[0] or stem
        years = tuple(int(y) for y in _YEAR.findall(stem)) or (2021,)
        meta = DocumentMeta(
            doc_id=path.name, title=text.strip().splitlines()[0][:60], org=org, aliases=(f"{org}街道",),
            years=years, kind="计划", sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        self.documents[path.name] = Document(meta, text)
        section: tuple[str, ...] = ()
        position = 0
        for line in text.splitlines(keepends=True):
            stripped = line.strip()
            if re.match(r"^[一二三四五六七八九十]+、", stripped):
                section = (stripped[:30],)
            elif re.match(r"^（[一二三四五六七八九十]+）", stripped):
                section = section[:1] + (stripped[:30],)
            if stripped:
                start = position + line.index(stripped)
                chunk_id = hashlib.sha1(f"{path.name}:{start}".encode()).hexdigest()[:12]
                self.chunks[chunk_id] = Chunk(chunk_id, path.name, section, (start, start + len(stripped)), stripped)
            position += len(line)
        return meta

    def chunk_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for chunk in self.chunks.values():
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
        return counts

    def remove_document(self, doc_id) -> None:
        if doc_id not in self.documents:
            raise RetrievalError(f"no document {doc_id!r} in the index")
        del self.documents[doc_id]
        self.chunks = {cid: c for cid, c in self.chunks.items() if c.doc_id != doc_id}
        (self.corpus_dir / doc_id).unlink(missing_ok=True)

    def delete_document(self, doc_id, user="", *, trash=None, audit=None):
        """As the engine: the corpus-level deletion, its index removal queued on this fake's `indexing`."""
        return delete_document(self.corpus_dir, doc_id, user, indexed=self.documents,
                               queue_removal=self.indexing.delete, trash=trash, audit=audit)

    def update_metadata(self, doc_id, aliases=None, years=None) -> DocumentMeta:
        if doc_id not in self.documents:
            raise RetrievalError(f"no document {doc_id!r} in the index")
        document = self.documents[doc_id]
        meta = replace(
            document.meta,
            # Like the engine, given aliases are added after the derived ones.
            aliases=tuple(dict.fromkeys([*document.meta.aliases, *aliases])) if aliases is not None
            else document.meta.aliases,
            years=tuple(years) if years is not None else document.meta.years,
        )
        self.documents[doc_id] = Document(meta, document.text)
        return meta


def failing_add(engine):
    """Make add_document raise IngestError, as the real engine does for a file it cannot read."""
    def add_document(path):
        raise IngestError(path, "boom")
    engine.add_document = add_document
    return engine
