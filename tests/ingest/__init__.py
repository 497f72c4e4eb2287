"""Tests of retrieval/ingest/."""
