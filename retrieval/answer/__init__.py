"""The answer step: the sentence that answers (select.py) and the fact inside it: the answer-kind table (kinds.py),
the candidates and their features (candidates.py), the fitted weights and gate (fact_model.py, reading
retrieval/resources/fact_weights.json), the choice (facts.py); number questions against figure records (figures.py).

May import: retrieval.ingest (the answer units; figure extraction), retrieval.search.query (the analysed question),
retrieval.text, retrieval.errors, retrieval.types. Never index/, corpus/, the rest of search/, jobs or the engine.
"""
