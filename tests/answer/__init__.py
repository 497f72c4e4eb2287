"""Tests of retrieval/answer/."""
