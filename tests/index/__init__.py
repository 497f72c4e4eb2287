"""Tests of retrieval/index/."""
