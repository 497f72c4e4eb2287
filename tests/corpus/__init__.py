"""Tests of retrieval/corpus/."""
