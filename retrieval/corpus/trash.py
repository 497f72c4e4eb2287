"""The corpus trash: deleted and replaced documents kept in corpus/.trash/ (never indexed), restorable for 30 days.

Each entry is a folder `.trash/<time>-<random>/` holding the file under its own name and `entry.json`
(original name, when, why, by whom, hash, and the document's metadata.yaml entry so a restore brings
its aliases and years back). Moving a file in or out is a rename inside one file system: atomic.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from retrieval.corpus.files import sha256_bytes
from retrieval.errors import RetrievalError
from retrieval.corpus.atomic import write_text_atomic

TRASH_DIR = ".trash"                 # hidden: corpus scans skip it (they list files, not folders, anyway)
ENTRY_FILE = "entry.json"
RETENTION_DAYS = 30
REASONS = ("delete", "replace")
logger = logging.getLogger(__name__)


class TrashError(RetrievalError):
    """A trash entry that cannot be restored; `message_zh` says why and what to do, for the app user."""

    def __init__(self, reason: str, message_zh: str):
        self.message_zh = message_zh
        super().__init__(reason)


@dataclass(frozen=True)
class TrashEntry:
    entry_id: str                    # the entry's folder name, e.g. "20240301T101500-3fa2c1"
    doc_id: str                      # the file name it had (and gets back) in the corpus
    deleted_at: str                  # ISO 8601, UTC
    reason: str                      # "delete" or "replace"
    sha256: str
    user: str = ""
    override: dict = field(default_factory=dict)   # its metadata.yaml entry when it was removed

    def expires(self, retention_days: int = RETENTION_DAYS) -> datetime:
        return datetime.fromisoformat(self.deleted_at) + timedelta(days=retention_days)


class Trash:
    """The trash folder of one corpus directory."""

    def __init__(self, corpus_dir: str | os.PathLike, retention_days: int = RETENTION_DAYS):
        self.corpus_dir = Path(corpus_dir)
        self.folder = self.corpus_dir / TRASH_DIR
        self.retention_days = retention_days

    def put(self, doc_id: str, reason: str, user: str = "", override: dict | None = None,
            keep_original: bool = False) -> TrashEntry:
        """Move (or, with keep_original, copy) corpus/doc_id into a new trash entry.

        Raises:
            FileNotFoundError: the corpus has no such file.
            ValueError: a reason outside REASONS or a doc_id that is not a plain file name.
        """
        if reason not in REASONS:
            raise ValueError(f"trash reason must be one of {REASONS}, got {reason!r}")
        if Path(doc_id).name != doc_id or doc_id.startswith("."):
            raise ValueError(f"doc_id must be a plain corpus file name, got {doc_id!r}")
        source = self.corpus_dir / doc_id
        data = source.read_bytes()                       # FileNotFoundError when it is gone
        now = datetime.now(timezone.utc)
        entry = TrashEntry(f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}", doc_id,
                           now.isoformat(timespec="seconds"), reason, sha256_bytes(data), user or "", dict(override or {}))
        folder = self.folder / entry.entry_id
        folder.mkdir(parents=True)
        try:
            write_text_atomic(folder / ENTRY_FILE, json.dumps(asdict(entry), ensure_ascii=False, indent=1))
            if keep_original:
                shutil.copy2(source, folder / doc_id)
            else:
                os.replace(source, folder / doc_id)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return entry

    def entries(self) -> list[TrashEntry]:
        """Entries still restorable, newest first; a damaged entry is logged and left alone."""
        if not self.folder.is_dir():
            return []
        found = []
        for folder in self.folder.iterdir():
            entry = self._read(folder)
            if entry is not None:
                found.append(entry)
        return sorted(found, key=lambda e: (e.deleted_at, e.entry_id), reverse=True)

    def _read(self, folder: Path) -> TrashEntry | None:
        try:
            data = json.loads((folder / ENTRY_FILE).read_text(encoding="utf-8"))
            entry = TrashEntry(**{key: data[key] for key in TrashEntry.__dataclass_fields__ if key in data})
        except (OSError, ValueError, TypeError) as error:
            logger.warning("trash entry %s is unreadable (%s); left as it is", folder, error)
            return None
        if entry.entry_id != folder.name or not (folder / entry.doc_id).is_file():
            logger.warning("trash entry %s does not hold its file; left as it is", folder)
            return None
        return entry

    def get(self, entry_id: str) -> TrashEntry:
        """Raises TrashError when there is no such (readable) entry."""
        folder = self.folder / Path(str(entry_id)).name
        entry = self._read(folder) if folder.is_dir() and Path(str(entry_id)).name == entry_id else None
        if entry is None:
            raise TrashError(f"no trash entry {entry_id!r}",
                             "回收站里没有这一项（可能已被别人恢复，或超过保留期限被清理）。请刷新回收站列表。")
        return entry

    def file_of(self, entry: TrashEntry) -> Path:
        return self.folder / entry.entry_id / entry.doc_id

    def take_back(self, entry_id: str) -> TrashEntry:
        """Move an entry's file back to its corpus name and drop the entry.

        Raises:
            TrashError: no such entry, or a document of that name is in the corpus now (move it away first).
        """
        entry = self.get(entry_id)
        target = self.corpus_dir / entry.doc_id
        try:
            os.link(self.file_of(entry), target)          # fails instead of overwriting a file of that name
        except FileExistsError as error:
            raise TrashError(f"{target} exists", f"语料库里已有同名文档「{entry.doc_id}」。") from error
        shutil.rmtree(self.folder / entry.entry_id, ignore_errors=True)
        return entry

    def purge_expired(self, now: datetime | None = None) -> list[TrashEntry]:
        """Remove entries older than the retention period; returns what was removed."""
        now = now or datetime.now(timezone.utc)
        removed = []
        for entry in self.entries():
            if entry.expires(self.retention_days) <= now:
                shutil.rmtree(self.folder / entry.entry_id, ignore_errors=True)
                removed.append(entry)
        return removed
