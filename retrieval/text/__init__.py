"""Text in one normal form and cut into tokens: normalize.py (繁→简, width, 中文数字) and tokenizer.py (jieba-rs).

May import: retrieval.errors, retrieval.types and the data files in retrieval/resources/. Nothing else of retrieval.
"""
