"""The retrieval library. Top level: the engine facade, the job queue and the records and checks every layer shares.

Layers, lowest first; a module imports only from its own layer or the ones before it:
    errors, types, validation  →  text/  →  ingest/  →  corpus/  →  encode/  →  index/  →  answer/, search/  →  jobs, engine
"""
