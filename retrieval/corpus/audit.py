"""The corpus audit trail: one JSON line per upload, replace, delete, restore or metadata edit, only ever appended."""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

AUDIT_FILE = ".audit.jsonl"          # hidden, and not a document suffix: never indexed
ACTIONS = ("upload", "replace", "delete", "restore", "metadata", "purge")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditEntry:
    """One change to the corpus: when, by whom, to which file, and the hash of the content concerned."""

    time: str                        # ISO 8601, UTC, seconds
    action: str                      # one of ACTIONS
    file: str                        # the document's file name in the corpus
    sha256: str = ""                 # of the content uploaded, removed or restored
    user: str = ""                   # the logged-in user, "" when login is off
    detail: dict = field(default_factory=dict)   # e.g. the replaced hash, the edited fields


class AuditLog:
    """Append-only JSON Lines file; each entry is written with one write() on an O_APPEND descriptor and fsynced."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def of_corpus(cls, corpus_dir: str | os.PathLike) -> "AuditLog":
        return cls(Path(corpus_dir) / AUDIT_FILE)

    def record(self, action: str, file: str, sha256: str = "", user: str | None = "", **detail) -> AuditEntry:
        """Append one entry and return it.

        Raises:
            ValueError: an action outside ACTIONS (a programming error, never user input).
        """
        if action not in ACTIONS:
            raise ValueError(f"audit action must be one of {ACTIONS}, got {action!r}")
        entry = AuditEntry(datetime.now(timezone.utc).isoformat(timespec="seconds"), action, file, sha256 or "",
                           user or "", detail)
        line = (json.dumps(asdict(entry), ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        return entry

    def entries(self, limit: int | None = None) -> list[AuditEntry]:
        """Entries newest first (at most `limit`); a damaged line is skipped and logged, never fatal."""
        if not self.path.exists():
            return []
        entries = []
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    entries.append(AuditEntry(**{key: data[key] for key in AuditEntry.__dataclass_fields__ if key in data}))
                except (ValueError, TypeError) as error:
                    logger.warning("%s line %d is not an audit entry (%s); skipped", self.path, number, error)
        entries.reverse()
        return entries[:limit] if limit is not None else entries
