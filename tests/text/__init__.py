"""Tests of retrieval/text/."""
