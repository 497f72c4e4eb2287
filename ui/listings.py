"""The app's tables and choices: documents, organisations, years, the trash, the audit log, indexing jobs."""
from __future__ import annotations

import hashlib
import logging

from retrieval.corpus.audit import AuditEntry, AuditLog
from retrieval.corpus.trash import Trash, TrashEntry
from retrieval.search.query import organisation_names
from retrieval.types import DocumentMeta
from ui import render
from ui.requests import UserFacingError

AUDIT_SHOWN = 200
logger = logging.getLogger(__name__)


class Listings:
    """What the corpus and index hold now, as table rows, dropdown choices and API records."""

    engine: object
    trash: Trash
    audit: AuditLog

    def corpus_version(self) -> str:
        """A short fingerprint of what the index holds (files, hashes, metadata): it moves on every change."""
        documents = self.engine.documents
        digest = hashlib.sha256()
        for doc_id in sorted(documents):
            meta = documents[doc_id].meta
            digest.update(repr((doc_id, meta.sha256, meta.title, meta.org, meta.aliases, meta.years, meta.kind,
                                meta.published, meta.issuer, meta.doc_number)).encode("utf-8"))
        return digest.hexdigest()[:16]

    def org_names(self) -> dict[str, tuple[str, ...]]:
        """doc_id -> names a user may type for its organisation, canonical name first."""
        return {doc_id: tuple(organisation_names(document.meta)) for doc_id, document in self.engine.documents.items()}

    def org_choices(self) -> list[tuple[str, str]]:
        """(label, doc_id) for the organisation filter, "" meaning all."""
        metas = sorted((d.meta for d in self.engine.documents.values()), key=lambda m: (m.org, m.doc_id))
        return [("全部单位", "")] + [(f"{meta.org}（{render.years_label(meta.years)}{meta.kind}）", meta.doc_id) for meta in metas]

    def year_choices(self) -> list[tuple[str, str]]:
        years = sorted({year for d in self.engine.documents.values() for year in d.meta.years}, reverse=True)
        return [("全部年份", "")] + [(f"{year}年", str(year)) for year in years]

    def document_choices(self) -> list[tuple[str, str]]:
        metas = sorted((d.meta for d in self.engine.documents.values()), key=lambda m: m.doc_id)
        return [(f"{meta.title}（{meta.doc_id}）", meta.doc_id) for meta in metas]

    def document_rows(self) -> list[list]:
        """One row per document: title, organisation, level and parent chain, aliases, years, kind, publication
        (date · issuer · 文号), passages, index state, file."""
        counts = self.engine.chunk_counts()
        pending = set(getattr(self.engine, "dense_pending", ()))
        metas = sorted((d.meta for d in self.engine.documents.values()), key=lambda m: m.doc_id)
        return [
            [m.title, m.org, render.level_label(m), "、".join(m.aliases), "、".join(map(str, m.years)), m.kind,
             " · ".join(part for part in (m.published, m.issuer, m.doc_number) if part), counts.get(m.doc_id, 0),
             "向量编码中" if m.doc_id in pending else "已索引", m.doc_id]
            for m in metas
        ]

    def trash_entries(self) -> list[TrashEntry]:
        return self.trash.entries()

    def trash_rows(self) -> list[list]:
        reasons = {"delete": "删除", "replace": "被新版本替换"}
        return [[entry.doc_id, reasons.get(entry.reason, entry.reason), render.local_time(entry.deleted_at), entry.user,
                 render.local_time(entry.expires().isoformat()), entry.entry_id] for entry in self.trash.entries()]

    def trash_choices(self) -> list[tuple[str, str]]:
        return [(f"{entry.doc_id}（{render.local_time(entry.deleted_at)} {'删除' if entry.reason == 'delete' else '替换'}）",
                 entry.entry_id) for entry in self.trash.entries()]

    def audit_entries(self, limit: int = AUDIT_SHOWN) -> list[AuditEntry]:
        return self.audit.entries(limit)

    def audit_rows(self, limit: int = AUDIT_SHOWN) -> list[list]:
        return [[render.local_time(e.time), render.AUDIT_ACTIONS.get(e.action, e.action), e.file, e.user, e.sha256[:12],
                 render.audit_detail(e.detail)] for e in self.audit.entries(limit)]

    def indexing_jobs(self, limit: int = 20) -> list:
        """The latest indexing jobs, newest first."""
        return list(reversed(self.engine.indexing.status()))[:limit]

    def indexing_record(self) -> dict:
        """The API's view of background indexing: every recent job and the documents still waiting for vectors."""
        jobs = [{"job_id": j.job_id, "kind": j.kind, "doc": j.doc, "state": j.state, "progress": round(j.progress, 3),
                 "message": j.message, "user": j.user, "submitted": j.submitted, "started": j.started,
                 "finished": j.finished} for j in self.engine.indexing.status()]
        return {"corpus_version": self.corpus_version(), "documents": len(self.engine.documents),
                "dense_pending": list(getattr(self.engine, "dense_pending", ())), "jobs": jobs}

    def meta(self, doc_id: str) -> DocumentMeta:
        document = self.engine.documents.get(doc_id) if isinstance(doc_id, str) else None
        if document is None:
            raise UserFacingError("这份文档已不在语料库里（可能刚被别人删除或替换）。列表已刷新，请重新选择。")
        return document.meta
