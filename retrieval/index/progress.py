"""How a long index write reports and stops: the progress, phase and should-stop callables, their no-op defaults, and
the exception a cancelled write raises (the index stays as it was)."""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager

Progress = Callable[[float, str], None]       # (fraction 0..1, message for users)
Phase = Callable[[str], None]                 # "chunking" / "encoding"
ShouldStop = Callable[[], bool]               # asked between batches
Pause = Callable[[], bool]                    # asked after every batch: give way to other jobs now?
Timing = Callable[[str], ContextManager]      # a build stage's name → the context it runs in (the bench times them)


class IndexingCancelled(Exception):
    """Raised inside a build at a batch boundary when its job was cancelled; the index stays as it was."""


class EncodingPaused(Exception):
    """An encoding gave way to other jobs at a batch boundary, its work so far saved; the job goes on later."""


def no_progress(fraction: float, message: str) -> None:
    pass


def no_phase(name: str) -> None:
    pass


def never_stop() -> bool:
    return False


def no_timing(stage: str) -> ContextManager:
    return contextlib.nullcontext()
