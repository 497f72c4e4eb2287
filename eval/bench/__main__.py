"""`python -m eval.bench`: the scale benchmark's command line (and, with --phase, one phase in a child process)."""
import sys

from eval.bench.driver import main

sys.exit(main())
