"""JSON form of an answer and its ranked passages: one line of runs.jsonl, and the app's `search` API."""
from __future__ import annotations

from retrieval.types import AskResult, Hit

BREADCRUMB_SEPARATOR = " › "


def breadcrumb(section_path) -> str:
    return BREADCRUMB_SEPARATOR.join(section_path)


def hit_record(result: AskResult, hit: Hit) -> dict:
    """One ranked passage, read from the index snapshot the result came from."""
    chunk = result.chunks[hit.chunk_id]
    meta = result.documents[chunk.doc_id].meta
    return {"rank": hit.rank, "chunk_id": hit.chunk_id, "doc": chunk.doc_id, "title": meta.title,
            "section": breadcrumb(chunk.section_path), "text": chunk.text, "score": hit.score,
            "span": list(chunk.char_span), "org": meta.org, "years": list(meta.years),
            "leg_ranks": dict(hit.leg_ranks), "matched_terms": list(hit.matched_terms)}


def ask_record(engine, result: AskResult, question_id: str | None = None) -> dict:
    """The runs.jsonl line of a result. `engine` is kept for callers' symmetry; the result carries its snapshot."""
    answer = None
    if result.answer is not None:
        a = result.answer
        answer = {"text": a.text, "chunk_id": a.chunk_id, "span": list(a.char_span),
                  "confidence": a.confidence, "fact": a.fact}
    return {"id": question_id, "question": result.question, "answer": answer,
            "results": {leg: [hit_record(result, h) for h in hits] for leg, hits in result.legs.items()}}
