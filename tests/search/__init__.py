"""Tests of retrieval/search/."""
