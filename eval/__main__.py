"""Entry point: `python -m eval --questions FILE.jsonl --out DIR`, `python -m eval suites`, `python -m eval calibrate`,
`python -m eval compare --gold F`,
`python -m eval train-facts`, `python -m eval facts-cv`."""
import importlib
import sys

SUBCOMMANDS = {"suites": "eval.suites:main", "calibrate": "eval.calibrate:main", "compare": "eval.compare:main",
               "train-facts": "eval.facts:train_main", "facts-cv": "eval.facts:main"}

if sys.argv[1:2] and sys.argv[1] in SUBCOMMANDS:
    module, function = SUBCOMMANDS[sys.argv[1]].split(":")
    raise SystemExit(getattr(importlib.import_module(module), function)(sys.argv[2:]))

from eval.runner import main  # noqa: E402  (the plain form: one questions file)

raise SystemExit(main())
