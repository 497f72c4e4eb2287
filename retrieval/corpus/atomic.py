"""Atomic file writes shared by the corpus, metadata, trash, app and evaluation writers."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write through a flushed temporary file in the same directory, then rename: readers see the old
    file or the new one, never half of one, and a failure leaves the old file as it was. The temporary
    file is hidden and ends in .tmp, so the corpus never takes it for a document."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """write_bytes_atomic of the text in UTF-8."""
    write_bytes_atomic(path, text.encode("utf-8"))
