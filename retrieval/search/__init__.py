"""The search pipeline: analyse the question → retrieve → fuse → prefer → answer, over the index store below it.

May import: retrieval.index, retrieval.answer, retrieval.ingest, retrieval.encode, retrieval.text, retrieval.errors,
retrieval.types. Never jobs or the engine.
"""
