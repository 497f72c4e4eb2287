"""The corpus directory: its files and fingerprints, metadata.yaml overrides, uploads, trash, audit log, the watcher.

May import: retrieval.ingest, retrieval.text, retrieval.errors, retrieval.types. Never index/, search/, answer/ or the engine.
"""
