"""Evaluation on gold questions: metrics (eval.metrics) and the `python -m eval` runner (eval.runner)."""
