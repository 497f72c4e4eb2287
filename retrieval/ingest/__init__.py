"""Ingest: turn corpus files and uploads into plain text and documents."""
