"""The answer step: the sentence that answers (select.py) and the fact inside it (facts.py).

May import: retrieval.search.query (the analysed question), retrieval.text, retrieval.errors, retrieval.types.
Never index/, corpus/, the rest of search/, jobs or the engine.
"""
