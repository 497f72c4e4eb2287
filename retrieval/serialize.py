"""JSON form of an answer and its ranked passages: one line of runs.jsonl, and the app's `search` API."""
from __future__ import annotations

from retrieval.types import AskResult, Hit

BREADCRUMB_SEPARATOR = " › "


def breadcrumb(section_path) -> str:
    return BREADCRUMB_SEPARATOR.join(section_path)


def hit_record(engine, hit: Hit) -> dict:
    chunk = engine.chunks[hit.chunk_id]
    meta = engine.documents[chunk.doc_id].meta
    return {"rank": hit.rank, "chunk_id": hit.chunk_id, "doc": chunk.doc_id, "title": meta.title,
            "section": breadcrumb(chunk.section_path), "text": chunk.text, "score": hit.score,
            "span": list(chunk.char_span), "org": meta.org, "years": list(meta.years),
            "leg_ranks": dict(hit.leg_ranks), "matched_terms": list(hit.matched_terms)}


def ask_record(engine, result: AskResult, question_id: str | None = None) -> dict:
    answer = None
    if result.answer is not None:
        a = result.answer
        answer = {"text": a.text, "chunk_id": a.chunk_id, "span": list(a.char_span),
                  "confidence": a.confidence, "fact": a.fact}
    return {"id": question_id, "question": result.question, "answer": answer,
            "results": {leg: [hit_record(engine, h) for h in hits] for leg, hits in result.legs.items()}}
