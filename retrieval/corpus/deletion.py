"""Deleting a document from the corpus, whole: the checks, its file and metadata entry to the trash, its removal
from the index queued, the audit line."""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from retrieval.corpus.audit import AuditLog
from retrieval.corpus.overrides import load_overrides
from retrieval.corpus.trash import Trash, TrashEntry
from retrieval.errors import RetrievalError

GONE_ZH = "这份文档已不在语料库里（可能刚被别人删除或替换）。列表已刷新，请重新选择。"
LAST_DOCUMENT_ZH = "这是语料库里最后一份文档，不能删除：索引至少需要一份文档。请先上传新文档再删除它。"
FILE_GONE_ZH = "这份文档的文件已不在语料库里（可能刚被别人删除）。列表已刷新。"


class DeletionRefused(RetrievalError):
    """A document that cannot be deleted now; `message_zh` says why and what to do, for the app user."""

    def __init__(self, reason: str, message_zh: str):
        self.message_zh = message_zh
        super().__init__(reason)


@dataclass(frozen=True)
class Deletion:
    """What a deletion did: the trash entry that can bring the document back, and the queued index removal."""

    entry: TrashEntry
    job: object                      # the retrieval.jobs.IndexingJob removing its passages from the index


def delete_document(corpus_dir: Path, doc_id: str, user: str, *, indexed: Collection[str],
                    queue_removal: Callable[..., object], trash: Trash | None = None,
                    audit: AuditLog | None = None) -> Deletion:
    """Move corpus/doc_id (with its metadata.yaml entry) to the trash, queue its removal from the index and record
    it in the audit log. The queued job (the engine's remove_document) drops the metadata entry and the passages.

    indexed: the doc_ids the index holds (the engine's documents mapping will do).

    Raises:
        DeletionRefused: the document is not indexed, is the last one, or its file is already gone.
    """
    if doc_id not in indexed:
        raise DeletionRefused(f"no document {doc_id!r} in the index", GONE_ZH)
    if len(indexed) <= 1:
        raise DeletionRefused("cannot delete the last document: the index needs at least one", LAST_DOCUMENT_ZH)
    trash = trash or Trash(corpus_dir)
    audit = audit or AuditLog.of_corpus(corpus_dir)
    override = load_overrides(corpus_dir).get(doc_id, {})
    try:
        entry = trash.put(doc_id, "delete", user, override)
    except FileNotFoundError as error:
        raise DeletionRefused(f"{doc_id} is no longer in {corpus_dir}", FILE_GONE_ZH) from error
    job = queue_removal(doc_id, user=user)
    audit.record("delete", doc_id, entry.sha256, user, trash=entry.entry_id)
    return Deletion(entry, job)
