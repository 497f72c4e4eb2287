"""Entry point: `python -m eval --questions FILE.jsonl --out DIR`, `python -m eval suites`, `python -m eval calibrate`,
`python -m eval compare --gold F`."""
import importlib
import sys

SUBCOMMANDS = {"suites": "eval.suites", "calibrate": "eval.calibrate", "compare": "eval.compare"}

if sys.argv[1:2] and sys.argv[1] in SUBCOMMANDS:
    raise SystemExit(importlib.import_module(SUBCOMMANDS[sys.argv[1]]).main(sys.argv[2:]))

from eval.runner import main  # noqa: E402  (the plain form: one questions file)

raise SystemExit(main())
