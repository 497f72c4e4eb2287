"""Tests of retrieval/encode/."""
