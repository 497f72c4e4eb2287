"""From documents to passages: chunks with the tokens BM25 indexes and the sentences the encoder reads."""
from __future__ import annotations

from dataclasses import dataclass

from retrieval.answer import answer_units
from retrieval.chunking import ChunkingConfig, chunk_document
from retrieval.figures import FigureRecord, extract_figures
from retrieval.tokenizer import Tokenizer
from retrieval.types import Chunk, Document


@dataclass(frozen=True)
class PreparedPassage:
    """A passage ready for the index: its chunk, BM25 tokens, answer-unit spans, the keys of its vector inputs and
    its figure records."""

    chunk: Chunk
    tokens: list[str]
    units: list[tuple[int, int]]
    key: str                              # text_key of the passage's encoder input
    unit_keys: list[str]                  # text_key of each unit's text
    figures: tuple[FigureRecord, ...] = ()   # its values bound to their metrics (retrieval.figures)

    @property
    def vector_inputs(self) -> list[str]:
        """What the encoder reads for this passage: the passage, then each unit, in key order."""
        return [encoded_text(self.chunk)] + [self.chunk.text[s:e] for s, e in self.units]


def indexed_text(document: Document, chunk: Chunk) -> str:
    """What BM25 sees: the document title and section path give a passage its context words."""
    return f"{document.meta.title}\n{' '.join(chunk.section_path)}\n{chunk.text}"


def encoded_text(chunk: Chunk) -> str:
    """What the encoder sees: the passage alone (on dev, headings in the input blurred the vectors)."""
    return chunk.text


def prepare_passages(document: Document, chunking: ChunkingConfig, tokenize: Tokenizer) -> list[PreparedPassage]:
    from retrieval.store import text_key

    passages = []
    for chunk in chunk_document(document.doc_id, document.text, chunking):
        units = answer_units(chunk.text)
        passages.append(PreparedPassage(chunk, tokenize(indexed_text(document, chunk)), units,
                                        text_key(encoded_text(chunk)), [text_key(chunk.text[s:e]) for s, e in units],
                                        tuple(extract_figures(chunk, document.meta, document.text))))
    return passages
