"""The index store: the backend contract (backend.py), local segments with BM25 and dense parts, Milvus, their writers.

May import: retrieval.ingest, retrieval.corpus, retrieval.encode, retrieval.text, retrieval.errors, retrieval.types.
Never search/ or answer/.
"""
