"""Changing the corpus from the app: upload or replace, delete, restore, cancel, edit metadata; one change at a
time, each recorded in the audit log, none losing a document (deleted and replaced files go to the trash)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from retrieval.corpus.atomic import write_bytes_atomic
from retrieval.corpus.audit import AuditLog
from retrieval.corpus.deletion import DeletionRefused
from retrieval.corpus.files import corpus_files, sha256_bytes
from retrieval.corpus.overrides import load_overrides, save_override
from retrieval.corpus.trash import Trash, TrashEntry, TrashError
from retrieval.corpus.uploads import MAX_UPLOAD_BYTES, UploadRejected, check_upload, store_upload, too_large_message
from retrieval.errors import RetrievalError
from retrieval.ingest.cleaning import clean_text
from retrieval.ingest.metadata import derive_metadata
from retrieval.ingest.versions import near_duplicates
from retrieval.types import DocumentMeta
from ui.requests import UserFacingError, parse_aliases, parse_years

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadOutcome:
    """What an upload did: queued for indexing (job), or waits for the user to confirm replacing `existing`."""

    doc_id: str                                 # the corpus file name it has (or would replace)
    job: object | None = None                   # the IndexingJob, None while confirmation is pending
    replaced: str = ""                          # doc_id of the document it replaced (now in the trash)
    needs_confirmation: bool = False
    warnings: tuple[str, ...] = ()              # e.g. a near-duplicate of another document
    # When confirmation is asked because the upload looks like a new version of `doc_id` (another name, most
    # paragraphs the same): the share of paragraphs shared. Confirm with replace, or keep both versions.
    version_share: float = 0.0


def _stem(name: str) -> str:
    return name.rpartition(".")[0].casefold() if "." in name else name.casefold()


class CorpusAdmin:
    """Corpus changes under one lock, each queued for indexing at once and undone if its job is cancelled.

    Needs Roles.require_editor and Listings.meta, and the attributes EngineService sets.
    """

    engine: object
    corpus_dir: Path
    trash: Trash
    audit: AuditLog
    _change_lock: threading.Lock
    _undo: dict[str, tuple[str, str, str]]           # job_id -> (kind, doc_id, trash entry id) to cancel it
    _hashes: dict[tuple[str, int, int], str]         # (name, mtime_ns, size) -> sha256 of a corpus file

    def _corpus_hashes(self) -> dict[str, str]:
        """File name -> sha256 of every document file in the corpus (indexed or still queued)."""
        hashes = {}
        for path in corpus_files(self.corpus_dir):
            stat = path.stat()
            key = (path.name, stat.st_mtime_ns, stat.st_size)
            if key not in self._hashes:
                self._hashes[key] = sha256_bytes(path.read_bytes())
            hashes[path.name] = self._hashes[key]
        return hashes

    def _label(self, doc_id: str) -> str:
        document = self.engine.documents.get(doc_id)
        return f"《{document.meta.title}》（文件 {doc_id}）" if document else f"文件 {doc_id}"

    def upload(self, source: str | Path, original_name: str, user: str | None = None,
               confirm_replace: bool = False, keep_both: bool = False) -> UploadOutcome:
        """Check an upload, store it and queue its indexing; returns as soon as the file is safely in the corpus.

        A file named like an existing document needs confirm_replace (the first call returns
        needs_confirmation); the replaced version goes to the trash. A file whose content equals an
        existing document's is refused, naming that document. A file with ≥ 90 % of its paragraphs in one
        document of the same organisation may be a new version of it: the first call asks (needs_confirmation
        with version_share); confirm_replace replaces that document, keep_both keeps both versions (answers
        cite the newer and say an older exists). A near-duplicate of another organisation's document is a warning.
        """
        self.require_editor(user)
        source = Path(source)
        try:
            size = source.stat().st_size
        except OSError as error:
            raise UserFacingError("上传的文件读不到了，请重新选择文件再上传。") from error
        if size > MAX_UPLOAD_BYTES:
            raise UserFacingError(too_large_message(size))
        data = source.read_bytes()
        with self._change_lock:
            try:
                name, _, raw = check_upload(data, original_name)
            except UploadRejected as error:
                raise UserFacingError(error.message_zh) from error
            scanned = not raw                     # check_upload accepted a scan: OCR reads it in the background
            cleaned = clean_text(raw) if raw else None
            text = cleaned.text if cleaned else ""
            if not text.strip() and not scanned:
                raise UserFacingError("文件里没有可检索的文字（可能是扫描件或只有图片）。请上传有文字的版本。")
            sha = sha256_bytes(data)
            on_disk = self._corpus_hashes()
            documents = self.engine.documents
            target = name if name in on_disk else next((d for d in sorted(on_disk) if _stem(d) == _stem(name)), "")
            same = next((d for d, h in on_disk.items() if h == sha), "") or next(
                (d for d, doc in documents.items() if doc.text == text), "")
            if same and same == target:
                raise UserFacingError(f"{self._label(same)} 的内容与这个文件完全相同，不需要替换。语料库没有改动。")
            if same:
                raise UserFacingError(f"这个文件与已有文档{self._label(same)}内容完全相同，没有重复加入。"
                                      "如果要改名，请删除旧文档后再上传。")
            if target and not confirm_replace:
                return UploadOutcome(target, needs_confirmation=True)
            versions, others = self._near_duplicates(name, text, sha, cleaned, exclude=target)
            if versions and not (confirm_replace or keep_both):
                return UploadOutcome(versions[0][0], needs_confirmation=True, version_share=versions[0][1])
            if versions and confirm_replace and not target:
                target = versions[0][0]           # the new version replaces the old one, under its own name
            warnings = tuple(self._near_duplicate_warning(doc_id, share) for doc_id, share in others)
            if versions and keep_both:
                warnings += (f"已作为{self._label(versions[0][0])}的另一个版本保留：回答会引用较新的版本，并注明还有旧版本。",)
            if scanned:
                warnings += ("这是扫描件：后台会先做文字识别（每页几秒），识别完成后才能问到其中的内容。",)
            try:
                if target:
                    return self._replace(target, name, data, sha, original_name, user, warnings)
                stored = store_upload(data, original_name, self.corpus_dir)
            except UploadRejected as error:
                raise UserFacingError(error.message_zh) from error
            except OSError as error:
                logger.exception("writing upload %r into %s failed", original_name, self.corpus_dir)
                raise UserFacingError("文件无法写入语料库目录（磁盘已满或没有写权限）。语料库和索引没有改动；请把这个问题告诉管理员。") from error
            self.audit.record("upload", stored.doc_id, sha, user, size=len(data))
            job = self.engine.indexing.add(stored.path, user=user or "")
            self._undo[job.job_id] = ("add", stored.doc_id, "")
            return UploadOutcome(stored.doc_id, job, warnings=warnings)

    def _near_duplicates(self, name: str, text: str, sha: str, cleaned, exclude: str
                         ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """(doc id, share) of the documents the upload is a near-duplicate of: those of its own organisation
        (possible versions of it), then those of others."""
        if not text.strip():
            return [], []
        org = derive_metadata(name, text, sha, cleaned.fields).org
        documents = self.engine.documents
        found = near_duplicates(text, documents, exclude=[exclude] if exclude else [])
        return ([(d, share) for d, share in found if documents[d].meta.org == org],
                [(d, share) for d, share in found if documents[d].meta.org != org])

    def _near_duplicate_warning(self, doc_id: str, share: float) -> str:
        return (f"这个文件有 {share:.0%} 的段落与{self._label(doc_id)}相同，可能是同一份文件的另一个版本。"
                "已照常加入；如果是重复的，请删除其中一份。")

    def _replace(self, target: str, name: str, data: bytes, sha: str, original_name: str, user: str | None,
                 warnings: tuple[str, ...]) -> UploadOutcome:
        """The old version to the trash, the new one into the corpus, indexing queued; under the change lock."""
        override = load_overrides(self.corpus_dir).get(target, {})
        if name == target:
            entry = self.trash.put(target, "replace", user or "", override, keep_original=True)
            write_bytes_atomic(self.corpus_dir / target, data)
            job = self.engine.indexing.replace(self.corpus_dir / target, user=user or "")
            doc_id = target
        else:
            # Same name, other type (x.txt -> x.docx): the new file keeps the old one's metadata edits.
            entry = self.trash.put(target, "replace", user or "", override)
            stored = store_upload(data, original_name, self.corpus_dir)
            doc_id = stored.doc_id
            if override:
                save_override(self.corpus_dir, doc_id, **override)
            self.engine.indexing.delete(target, user=user or "")
            job = self.engine.indexing.add(stored.path, user=user or "")
        self.audit.record("replace", doc_id, sha, user, replaced=target, replaced_sha256=entry.sha256, trash=entry.entry_id)
        self._undo[job.job_id] = ("replace", doc_id, entry.entry_id)
        return UploadOutcome(doc_id, job, replaced=target, warnings=warnings)

    def delete(self, doc_id: str, user: str | None = None) -> tuple[DocumentMeta, TrashEntry, object]:
        """Delete a document through the engine (retrieval.corpus.deletion). Returns (meta, trash entry, job)."""
        self.require_editor(user)
        meta = self.meta(doc_id)
        with self._change_lock:
            try:
                deletion = self.engine.delete_document(doc_id, user or "", trash=self.trash, audit=self.audit)
            except DeletionRefused as error:
                raise UserFacingError(error.message_zh) from error
            self._undo[deletion.job.job_id] = ("delete", doc_id, deletion.entry.entry_id)
        return meta, deletion.entry, deletion.job

    def restore(self, entry_id: str, user: str | None = None) -> tuple[TrashEntry, object]:
        """Put a trashed document back under its name (a current version of that name goes to the trash)."""
        self.require_editor(user)
        with self._change_lock:
            try:
                entry = self.trash.get(entry_id)
            except TrashError as error:
                raise UserFacingError(error.message_zh) from error
            path = self.corpus_dir / entry.doc_id
            swapped = ""
            if path.exists():
                current = self.trash.put(entry.doc_id, "replace", user or "", load_overrides(self.corpus_dir).get(entry.doc_id, {}))
                swapped = current.entry_id
            try:
                self.trash.take_back(entry_id)
            except TrashError as error:
                raise UserFacingError(f"{error.message_zh}请先把它删除或改名，再恢复。") from error
            if entry.override:
                save_override(self.corpus_dir, entry.doc_id, **entry.override)
            job = (self.engine.indexing.replace if swapped else self.engine.indexing.add)(path, user=user or "")
            self.audit.record("restore", entry.doc_id, entry.sha256, user, trash=entry.entry_id, replaced_into_trash=swapped)
            # Undoing a restore is undoing an add, or (when it swapped versions) a replacement.
            self._undo[job.job_id] = ("replace", entry.doc_id, swapped) if swapped else ("add", entry.doc_id, "")
        return entry, job

    def cancel(self, job_id: str, user: str | None = None) -> bool:
        """Cancel a queued or running indexing job and undo its corpus change, so files and index agree again.

        A cancelled job leaves the index as it was, so the files are put back to match it: an upload's file
        goes to the trash, a replacement gives the old version back, a deletion or restore is reversed.
        Returns False when the job had already finished (nothing is undone then).
        """
        self.require_editor(user)
        with self._change_lock:
            if not self.engine.indexing.cancel(job_id):
                return False
            kind, doc_id, entry_id = self._undo.pop(job_id, ("", "", ""))
            try:
                if kind == "add" and (self.corpus_dir / doc_id).exists():
                    entry = self.trash.put(doc_id, "delete", user or "", load_overrides(self.corpus_dir).get(doc_id, {}))
                    self.audit.record("delete", doc_id, entry.sha256, user, trash=entry.entry_id, cancelled_job=job_id)
                elif kind in ("replace", "delete") and entry_id:
                    if (self.corpus_dir / doc_id).exists():
                        newer = self.trash.put(doc_id, "replace", user or "", load_overrides(self.corpus_dir).get(doc_id, {}))
                        self.audit.record("delete", doc_id, newer.sha256, user, trash=newer.entry_id, cancelled_job=job_id)
                    back = self.trash.take_back(entry_id)
                    if back.override:
                        save_override(self.corpus_dir, back.doc_id, **back.override)
                    self.audit.record("restore", back.doc_id, back.sha256, user, trash=entry_id, cancelled_job=job_id)
            except (TrashError, OSError) as error:
                # The index was left as it was; re-read the corpus so it matches whatever the files are now.
                logger.warning("undoing cancelled job %s (%s %s) failed: %s", job_id, kind, doc_id, error)
                self.engine.indexing.rebuild(user=user or "")
            return True

    def update_metadata(self, doc_id: str, aliases_text: str, years_text: str, user: str | None = None) -> DocumentMeta:
        self.require_editor(user)
        before = self.meta(doc_id)
        aliases, years = parse_aliases(aliases_text), parse_years(years_text)
        with self._change_lock:
            try:
                meta = self.engine.update_metadata(doc_id, aliases=aliases, years=years)
            except RetrievalError as error:
                logger.warning("updating metadata of %s failed: %s", doc_id, error)
                raise UserFacingError("保存失败：这份文档已不在索引里，或年份不在 1949–2100 之间。请刷新文档列表，检查年份后再试。") from error
            self.audit.record("metadata", doc_id, meta.sha256, user, aliases_before=list(before.aliases),
                              aliases=list(meta.aliases), years_before=list(before.years), years=list(meta.years))
            return meta
