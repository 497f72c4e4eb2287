"""From documents to passages: chunks with the tokens BM25 indexes and the sentences the encoder reads."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from retrieval.ingest.chunking import ChunkingConfig, chunk_document
from retrieval.ingest.figures import extract_figures
from retrieval.ingest.units import answer_units
from retrieval.text.tokenizer import Tokenizer
from retrieval.types import FigureRecord
from retrieval.types import Chunk, Document


# The figure extraction's version (retrieval.ingest.figures.extract_figures), kept in the manifest: an index whose
# records another version made is built again (its vectors reused). 2: ranges are one value; 3: a five-year plan
# named inside a sentence of one year's section does not undate it.
FIGURES_VERSION = 3


@dataclass(frozen=True)
class PreparedPassage:
    """A passage ready for the index: its chunk, BM25 tokens, answer-unit spans, the keys of its vector inputs and
    its figure records."""

    chunk: Chunk
    tokens: list[str]
    units: list[tuple[int, int]]
    key: str                              # text_key of the passage's encoder input
    unit_keys: list[str]                  # text_key of each unit's text
    figures: tuple[FigureRecord, ...] = ()   # its values bound to their metrics (retrieval.ingest.figures)

    @property
    def vector_inputs(self) -> list[str]:
        """What the encoder reads for this passage: the passage, then each unit, in key order."""
        return [encoded_text(self.chunk)] + [self.chunk.text[s:e] for s, e in self.units]


def text_key(text: str) -> str:
    """The key of an encoder input: its vector is stored under it and reused for the same text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def indexed_text(document: Document, chunk: Chunk) -> str:
    """What BM25 sees: the document title and section path give a passage its context words."""
    return f"{document.meta.title}\n{' '.join(chunk.section_path)}\n{chunk.text}"


def encoded_text(chunk: Chunk) -> str:
    """What the encoder sees: the passage alone (on dev, headings in the input blurred the vectors)."""
    return chunk.text


def prepare_passages(document: Document, chunking: ChunkingConfig, tokenize: Tokenizer) -> list[PreparedPassage]:
    passages = []
    for chunk in chunk_document(document.doc_id, document.text, chunking):
        units = answer_units(chunk.text)
        passages.append(PreparedPassage(chunk, tokenize(indexed_text(document, chunk)), units,
                                        text_key(encoded_text(chunk)), [text_key(chunk.text[s:e]) for s, e in units],
                                        tuple(extract_figures(chunk, document.meta, document.text))))
    return passages
