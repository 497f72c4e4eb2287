"""Ingest: corpus files and uploads → plain text → documents (metadata derived) → sections, chunks and passages.

May import: retrieval.text, retrieval.errors, retrieval.types. Never corpus/, index/, search/ or answer/.
"""
