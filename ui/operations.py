"""What the app does with the engine: ask, list, upload or replace, delete and restore, edit metadata, audit.

The engine is shared by every session (it is the index); per-user things (the chat, the corpus version a
page last saw) live in gr.State. Questions never wait for indexing: the engine answers from its current
snapshot while its IndexingQueue applies changes in the background. Changes to the corpus files (checks,
trash, writes, the audit line) are serialised, one at a time, and each is queued for indexing at once.
Nothing a user does loses a document: a deleted or replaced file goes to the trash (restorable for 30 days).
Each job has its module: ui.roles, ui.listings, ui.chat, ui.corpus_admin (and ui.requests for what users type).
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

from retrieval.corpus.audit import AuditLog
from retrieval.corpus.trash import Trash
from ui.chat import AnswerCache, Chat
from ui.corpus_admin import CorpusAdmin
from ui.listings import Listings
from ui.roles import Roles


class EngineService(Roles, Listings, Chat, CorpusAdmin):
    """The app's operations on one engine; corpus changes one at a time, each recorded in the audit log.

    users: name -> role when login is on; None when it is off (then whoever runs the app edits).
    answer_cache: how many results of the current index snapshot to keep (0: none); only for an engine
    that swaps snapshots instead of changing them (SearchEngine does).
    """

    def __init__(self, engine, corpus_dir: str | Path, users: Mapping[str, str] | None = None, answer_cache: int = 0):
        self.engine = engine
        self._answers = AnswerCache(answer_cache) if answer_cache else None
        self.corpus_dir = Path(corpus_dir)
        self.users = dict(users) if users is not None else None
        self.trash = Trash(self.corpus_dir)
        self.audit = AuditLog.of_corpus(self.corpus_dir)
        self._change_lock = threading.Lock()
        self._undo = {}
        self._hashes = {}
        for entry in self.trash.purge_expired():
            self.audit.record("purge", entry.doc_id, entry.sha256, "", trash=entry.entry_id, deleted_at=entry.deleted_at)
