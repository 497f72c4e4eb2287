"""What the app does with the engine: ask, list, upload or replace, delete and restore, edit metadata, audit.

The engine is shared by every session (it is the index); per-user things (the chat, the corpus version a
page last saw) live in gr.State. Questions never wait for indexing: the engine answers from its current
snapshot while its IndexingQueue applies changes in the background. Changes to the corpus files (checks,
trash, writes, the audit line) are serialised here, one at a time, and each is queued for indexing at once.
Nothing a user does loses a document: a deleted or replaced file goes to the trash (restorable for 30 days).
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.corpus.atomic import write_bytes_atomic
from retrieval.corpus.audit import AuditEntry, AuditLog
from retrieval.corpus.deletion import DeletionRefused
from retrieval.search.conversation import resolve_followup
from retrieval.corpus.files import sha256_bytes
from retrieval.errors import BackendUnavailable, InvalidQuery, RetrievalError
from retrieval.ingest.cleaning import clean_text
from retrieval.corpus.overrides import load_overrides, save_override
from retrieval.ingest.metadata import derive_metadata
from retrieval.search.query import organisation_names
from retrieval.corpus.trash import Trash, TrashEntry, TrashError
from retrieval.types import Answer, DocumentMeta
from retrieval.corpus.uploads import MAX_UPLOAD_BYTES, UploadRejected, check_upload, store_upload, too_large_message
from ui.auth import EDITOR, READER
from retrieval.validation import MAX_K, MAX_QUESTION_CHARS, MAX_YEAR, MIN_YEAR, validate_request
from retrieval.ingest.versions import near_duplicates
from ui import render

DEFAULT_K = 5
CITATIONS_SHOWN = 3
YEAR_RANGE = (MIN_YEAR, MAX_YEAR)
AUDIT_SHOWN = 200
logger = logging.getLogger(__name__)
_LIST_SEPARATORS = re.compile(r"[,，、;；\s]+")


BACKEND_DOWN_MESSAGE = "检索服务暂时连接不上，这个问题没有查成。请稍后再问；一直如此请联系管理员检查 Milvus 服务。"


class UserFacingError(Exception):
    """A failure whose message (Chinese, saying what to do next) is meant for the app user."""


@dataclass(frozen=True)
class Turn:
    """One question of a chat and what it produced, self-contained for re-rendering."""

    question: str                               # as typed
    asked: str                                  # after follow-up resolution
    filters: str                                # e.g. "吴淞 · 2021年", "" when none
    answer: Answer | None
    citations: tuple[render.Citation, ...]
    scope_note: str = ""                        # why 未找到 for the organisation or year asked about
    pending: tuple[str, ...] = ()               # titles of documents whose vectors are still being encoded
    older_versions: tuple[str, ...] = ()        # labels of older versions of the answer's document
    comparison: object | None = None            # a retrieval.search.compare.Comparison when the question asked one

    def html(self, index: int, explain: bool) -> str:
        if self.comparison is not None:
            return render.render_comparison_turn(index, self.question, self.asked, self.comparison, self.filters)
        return render.render_turn(index, self.question, self.asked, self.answer, self.citations, explain, self.filters,
                                  scope_note=self.scope_note, pending=self.pending, older_versions=self.older_versions)


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


def parse_aliases(text: str) -> list[str]:
    """Aliases typed as "宝山, 吴淞街道、吴淞镇" -> ["宝山", "吴淞街道", "吴淞镇"] (order kept, repeats dropped)."""
    return list(dict.fromkeys(part for part in _LIST_SEPARATORS.split(text or "") if part))


def parse_years(text: str) -> list[int]:
    """Years typed as "2020, 2021" -> [2020, 2021].

    Raises:
        UserFacingError: a part is not a four-digit year in a sensible range.
    """
    years = []
    for part in _LIST_SEPARATORS.split(text or ""):
        if not part:
            continue
        digits = part.removesuffix("年")
        if not digits.isdigit() or not YEAR_RANGE[0] <= int(digits) <= YEAR_RANGE[1]:
            raise UserFacingError(f"年份「{part}」看不懂。请写四位数字，例如 2021；多个年份用逗号隔开，例如 2020, 2021。")
        years.append(int(digits))
    if not years:
        raise UserFacingError("请至少填一个年份，例如 2021。")
    return sorted(set(years))


def check_request(question: object, k: object = DEFAULT_K, year: object = None) -> str:
    """validate_request with the reason in Chinese (the app and the API say the same, with the same limits).

    Returns the stripped question. Raises UserFacingError naming the bad value and what to do.
    """
    try:
        return validate_request(question, k=k, year=year)
    except InvalidQuery as error:
        logger.info("rejected request: %s", error)
        if not isinstance(question, str):
            message = f"question 必须是文字，现在是 {type(question).__name__}。"
        elif not question.strip():
            message = "请先输入问题，例如：吴淞今年拆违任务多少平方米。"
        elif len(question.strip()) > MAX_QUESTION_CHARS:
            message = f"问题太长（{len(question.strip())} 字），最多 {MAX_QUESTION_CHARS} 字。请一次只问一件事，把问题写短一些。"
        elif isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            message = f"k 必须是 1 到 {MAX_K} 之间的整数，现在是 {k!r:.80}。"
        elif year is not None:
            message = f"年份必须是 {MIN_YEAR} 到 {MAX_YEAR} 之间的整数，现在是 {year!r:.80}。不限年份请不传 year。"
        else:
            message = "问题里有无法识别的字符（控制字符或残缺的字符）。请删掉它们，或重新输入问题。"
        raise UserFacingError(message) from error


class AnswerCache:
    """Results of the engine's current index snapshot by question and filters.

    The engine never changes a snapshot, it swaps in a new one (new documents and chunks mappings), so a
    result stays exact for as long as its snapshot is current; the first ask after a swap empties the cache.
    Repeated questions (example buttons, the same question from many staff) then cost nothing.
    """

    def __init__(self, size: int):
        self.size = size
        self._snapshot: tuple = ()
        self._results: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get_or_ask(self, engine, key: tuple, ask: Callable[[], object]):
        snapshot = (engine.documents, engine.chunks, tuple(getattr(engine, "dense_pending", ())))
        with self._lock:
            if not self._same(snapshot):
                self._snapshot, self._results = snapshot, OrderedDict()
            elif key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        result = ask()
        with self._lock:
            if self._same(snapshot):
                self._results[key] = result
                while len(self._results) > self.size:
                    self._results.popitem(last=False)
        return result

    def _same(self, snapshot: tuple) -> bool:
        return (bool(self._snapshot) and self._snapshot[0] is snapshot[0] and self._snapshot[1] is snapshot[1]
                and self._snapshot[2] == snapshot[2])


def _stem(name: str) -> str:
    return name.rpartition(".")[0].casefold() if "." in name else name.casefold()


class EngineService:
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
        self._undo: dict[str, tuple[str, str, str]] = {}     # job_id -> (kind, doc_id, trash entry id) to cancel it
        self._hashes: dict[tuple[str, int, int], str] = {}
        for entry in self.trash.purge_expired():
            self.audit.record("purge", entry.doc_id, entry.sha256, "", trash=entry.entry_id, deleted_at=entry.deleted_at)

    # ---- roles ----------------------------------------------------------------------------

    def role_of(self, user: str | None) -> str:
        if self.users is None:
            return EDITOR
        return self.users.get(user or "", READER)

    def can_edit(self, user: str | None) -> bool:
        return self.role_of(user) == EDITOR

    def _require_editor(self, user: str | None) -> None:
        if not self.can_edit(user):
            logger.info("user %r (reader) tried to change the corpus", user)
            raise UserFacingError("你的账号只能提问和评估（只读），不能上传、替换、删除、恢复文档或修改别名年份。需要修改请联系管理员。")

    # ---- listings -------------------------------------------------------------------------

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

    # ---- asking ---------------------------------------------------------------------------

    def ask(self, question: str, previous_asked: str | None, org: str | None, year: int | None) -> Turn:
        """Resolve a follow-up against the previous turn, ask, and keep what the reply needs."""
        question = check_request(question if question is not None else "", DEFAULT_K, year)
        if org and org not in self.engine.documents:
            raise UserFacingError("「单位」里选的文档已被删除。请在「单位」里重新选择，或选「全部单位」。")
        names = self.org_names()
        asked = resolve_followup(question, previous_asked, self.engine.analyze, names)
        comparison = self.compare(asked)
        if comparison is not None:
            return Turn(question, asked, self._filters_label(org, year), None, (), comparison=comparison)
        try:
            result = self._ask(asked, DEFAULT_K, org or None, year)
        except InvalidQuery as error:
            logger.info("question refused by the engine: %s", error)
            raise UserFacingError("这个问题没法查询：请换个说法，或把问题写短一些。") from error
        except BackendUnavailable as error:      # the Milvus server went away: say so, the app stays up
            logger.warning("search backend failed: %s", error)
            raise UserFacingError(BACKEND_DOWN_MESSAGE) from error
        citations = render.build_citations(result, result.documents, result.chunks, CITATIONS_SHOWN)
        filters = self._filters_label(org, year)
        pending = tuple(result.documents[d].meta.title for d in getattr(result, "dense_pending", ()) if d in result.documents)
        older = tuple(f"《{result.documents[d].meta.title}》（文件 {d}）"
                      for d in getattr(result, "older_versions", ()) if d in result.documents)
        return Turn(question, asked, filters, result.answer, citations, getattr(result, "scope_note", ""), pending, older)

    def compare(self, question: str):
        """The comparison the question asks for (retrieval.search.compare.Comparison), or None for a normal question."""
        compare = getattr(self.engine, "compare", None)
        if compare is None:
            return None
        question = check_request(question)
        try:
            if self._answers is None:
                return compare(question)
            return self._answers.get_or_ask(self.engine, ("compare", question), lambda: compare(question))
        except InvalidQuery as error:
            logger.info("comparison refused by the engine: %s", error)
            raise UserFacingError("这个问题没法查询：请换个说法，或把问题写短一些。") from error
        except BackendUnavailable as error:
            logger.warning("search backend failed: %s", error)
            raise UserFacingError(BACKEND_DOWN_MESSAGE) from error

    def compare_record(self, question: str) -> dict:
        """The API: a comparison's rows as JSON ({"comparison": false, "rows": []} for a normal question)."""
        comparison = self.compare(question)
        if comparison is None:
            return {"question": check_request(question), "comparison": False, "rows": []}
        return comparison.as_dict()

    def comparison_cell_answer(self, comparison, chunk_id: str) -> Answer | None:
        """The cell of a comparison whose passage is `chunk_id`, as an Answer (sentence and value) to mark."""
        for cell in comparison.cells:
            if cell.found and cell.chunk_id == chunk_id:
                return Answer(text=cell.sentence, chunk_id=chunk_id, char_span=cell.sentence_span, confidence=1.0,
                              fact=cell.value)
        return None

    def _ask(self, question: str, k: int, org: str | None, year: int | None):
        if self._answers is None:
            return self.engine.ask(question, k=k, org=org, year=year)
        return self._answers.get_or_ask(self.engine, (question, k, org, year),
                                        lambda: self.engine.ask(question, k=k, org=org, year=year))

    def _filters_label(self, org: str | None, year: int | None) -> str:
        parts = []
        if org and org in self.engine.documents:
            parts.append(self.engine.documents[org].meta.org)
        if year:
            parts.append(f"{year}年")
        return " · ".join(parts)

    def citation_html(self, chunk_id: str, answer: Answer | None, terms: Sequence[str] = ()) -> str:
        """The whole document of a cited passage, scrolled to and marking it (and the answer in it)."""
        chunk = self.engine.chunks.get(chunk_id)
        document = self.engine.documents.get(chunk.doc_id) if chunk else None
        if chunk is None or document is None:
            return render.render_message("这段出处所在的文档已被删除或更新。请重新提问，再点新的出处。", "warn")
        if answer is not None and answer.chunk_id != chunk_id:
            answer = None
        return render.render_document(document, chunk.char_span, answer, terms)

    def document_html(self, doc_id: str) -> str:
        document = self.engine.documents.get(doc_id)
        if document is None:
            return render.render_message("这份文档已不在语料库里。请刷新文档列表。", "warn")
        return render.render_document(document)

    def search_record(self, question: str, k: int = DEFAULT_K, organisation: str | None = None, year: int | None = None) -> dict:
        """The API: one runs.jsonl-shaped record for a question. Raises UserFacingError on bad input."""
        from retrieval.serialize import ask_record  # the engine stack loads lazily

        k = DEFAULT_K if k is None else k
        if isinstance(k, float) and k.is_integer():
            k = int(k)                               # JSON clients may send 5.0
        if isinstance(year, float) and year.is_integer():
            year = int(year)
        question = check_request(question, k, year)
        doc_id = self.resolve_organisation(organisation) if organisation else None
        try:
            result = self._ask(question, k, doc_id, year)
        except InvalidQuery as error:
            logger.info("API question refused by the engine: %s", error)
            raise UserFacingError("问题无法查询：请换个说法，或把问题写短一些。") from error
        except BackendUnavailable as error:
            logger.warning("search backend failed: %s", error)
            raise UserFacingError(BACKEND_DOWN_MESSAGE) from error
        record = ask_record(self.engine, result)
        record.setdefault("scope_note", getattr(result, "scope_note", ""))
        record.setdefault("dense_pending", list(getattr(result, "dense_pending", ())))
        return record

    def resolve_organisation(self, organisation: str) -> str:
        """A doc_id from a doc_id, an organisation name or an alias. Raises UserFacingError when unknown."""
        if not isinstance(organisation, str):
            raise UserFacingError(f"organisation 必须是文字（单位名、别名或文件名），现在是 {type(organisation).__name__}。")
        wanted = organisation.strip()
        names = self.org_names()
        if wanted in names:
            return wanted
        for doc_id, doc_names in names.items():
            if wanted in doc_names or wanted == self.engine.documents[doc_id].meta.org:
                return doc_id
        known = "、".join(dict.fromkeys(self.engine.documents[d].meta.org for d in names))
        logger.info("unknown organisation %r asked for", wanted[:80])
        raise UserFacingError(f"找不到单位「{render.short(wanted, 40)}」。可用的单位：{known}；也可以传文档文件名。")

    # ---- changing the corpus --------------------------------------------------------------

    def _corpus_hashes(self) -> dict[str, str]:
        """File name -> sha256 of every document file in the corpus (indexed or still queued)."""
        from retrieval.corpus.files import corpus_files

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
        self._require_editor(user)
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
        self._require_editor(user)
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
        self._require_editor(user)
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
        self._require_editor(user)
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
        self._require_editor(user)
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
