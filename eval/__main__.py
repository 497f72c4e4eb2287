"""Entry point of `python -m eval --questions FILE.jsonl --out DIR`."""
from eval.runner import main

raise SystemExit(main())
