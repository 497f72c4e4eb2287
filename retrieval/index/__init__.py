"""The index store: a small backend interface (backend.py) and its local implementation over segments."""
