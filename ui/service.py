"""What the app does with the engine: ask, show documents, upload, delete, edit metadata.

The engine is shared by every session (it is the index); per-user things (the chat) live in gr.State.
The engine swaps its whole index state at once when the corpus changes, so questions need no lock and
keep being answered (from the old state) while a document is indexed; changes to the corpus are
serialised here so an upload's write, indexing and rollback happen as one step.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.conversation import resolve_followup
from retrieval.errors import IngestError, InvalidQuery, RetrievalError
from retrieval.query import organisation_names
from retrieval.types import Answer, DocumentMeta
from retrieval.uploads import MAX_UPLOAD_BYTES, UploadRejected, store_upload
from ui import render

DEFAULT_K = 5
MAX_K = 50
CITATIONS_SHOWN = 3
YEAR_RANGE = (1949, 2100)
logger = logging.getLogger(__name__)
_LIST_SEPARATORS = re.compile(r"[,，、;；\s]+")


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

    def html(self, index: int, explain: bool) -> str:
        return render.render_turn(index, self.question, self.asked, self.answer, self.citations, explain, self.filters)


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


class EngineService:
    """The app's operations on one engine; corpus changes one at a time."""

    def __init__(self, engine, corpus_dir: str | Path):
        self.engine = engine
        self.corpus_dir = Path(corpus_dir)
        self._change_lock = threading.Lock()

    # ---- listings -------------------------------------------------------------------------

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
        """One row per document: title, organisation, aliases, years, kind, chunk count, file name."""
        counts = self.engine.chunk_counts()
        metas = sorted((d.meta for d in self.engine.documents.values()), key=lambda m: m.doc_id)
        return [
            [m.title, m.org, "、".join(m.aliases), "、".join(map(str, m.years)), m.kind, counts.get(m.doc_id, 0), m.doc_id]
            for m in metas
        ]

    def meta(self, doc_id: str) -> DocumentMeta:
        document = self.engine.documents.get(doc_id)
        if document is None:
            raise UserFacingError("这份文档已不在语料库里（可能刚被删除）。请刷新文档列表后重选。")
        return document.meta

    # ---- asking ---------------------------------------------------------------------------

    def ask(self, question: str, previous_asked: str | None, org: str | None, year: int | None) -> Turn:
        """Resolve a follow-up against the previous turn, ask, and keep what the reply needs."""
        question = (question or "").strip()
        if not question:
            raise UserFacingError("请先输入问题，例如：吴淞今年拆违任务多少平方米。")
        if org and org not in self.engine.documents:
            raise UserFacingError("「单位」里选的文档已被删除。请在「单位」里重新选择，或选「全部单位」。")
        names = self.org_names()
        asked = resolve_followup(question, previous_asked, self.engine.analyze, names)
        try:
            result = self.engine.ask(asked, k=DEFAULT_K, org=org or None, year=year)
        except InvalidQuery as error:
            raise UserFacingError(f"这个问题没法查询：{error}。请换个说法，或把问题写短一些。") from error
        citations = render.build_citations(result, result.documents, result.chunks, CITATIONS_SHOWN)
        filters = self._filters_label(org, year)
        return Turn(question, asked, filters, result.answer, citations)

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

        question = (question or "").strip()
        if not question:
            raise UserFacingError("question 不能为空：请传入一个问题，例如「吴淞今年拆违任务多少平方米」。")
        if k is None:
            k = DEFAULT_K
        if not 1 <= int(k) <= MAX_K:
            raise UserFacingError(f"k 必须在 1 到 {MAX_K} 之间，现在是 {k}。")
        doc_id = self.resolve_organisation(organisation) if organisation else None
        try:
            result = self.engine.ask(question, k=int(k), org=doc_id, year=int(year) if year else None)
        except InvalidQuery as error:
            raise UserFacingError(f"问题无法查询：{error}") from error
        return ask_record(self.engine, result)

    def resolve_organisation(self, organisation: str) -> str:
        """A doc_id from a doc_id, an organisation name or an alias. Raises UserFacingError when unknown."""
        wanted = organisation.strip()
        names = self.org_names()
        if wanted in names:
            return wanted
        for doc_id, doc_names in names.items():
            if wanted in doc_names or wanted == self.engine.documents[doc_id].meta.org:
                return doc_id
        known = "、".join(dict.fromkeys(self.engine.documents[d].meta.org for d in names))
        raise UserFacingError(f"找不到单位「{wanted}」。可用的单位：{known}；也可以传文档文件名。")

    # ---- changing the corpus --------------------------------------------------------------

    def add_upload(self, source: str | Path, original_name: str, progress: Callable[[float, str], None] = lambda f, d: None) -> DocumentMeta:
        """Store an uploaded file in the corpus and index it; on any failure the corpus is as before."""
        source = Path(source)
        progress(0.05, "检查文件")
        try:
            size = source.stat().st_size
        except OSError as error:
            raise UserFacingError("上传的文件读不到了，请重新选择文件再上传。") from error
        if size > MAX_UPLOAD_BYTES:
            raise UserFacingError(
                f"文件太大（{size / 1024 / 1024:.1f} MB），上限是 {MAX_UPLOAD_BYTES // 1024 // 1024} MB。请拆成几份后再上传。"
            )
        data = source.read_bytes()
        with self._change_lock:
            progress(0.2, "写入语料库")
            try:
                stored = store_upload(data, original_name, self.corpus_dir)
            except UploadRejected as error:
                raise UserFacingError(error.message_zh) from error
            except OSError as error:
                logger.exception("writing upload %r into %s failed", original_name, self.corpus_dir)
                raise UserFacingError("文件无法写入语料库目录（磁盘已满或没有写权限）。语料库和索引没有改动；请把这个问题告诉管理员。") from error
            progress(0.3, "建立索引（切分段落、编码向量）")
            try:
                meta = self.engine.add_document(
                    stored.path, progress=lambda fraction, _: progress(0.3 + 0.65 * fraction, "建立索引（切分段落、编码向量）")
                )
            except IngestError as error:
                stored.path.unlink(missing_ok=True)
                raise UserFacingError(
                    f"文件无法读取（{error.reason}）。请确认文件没有损坏或加密后重新上传；语料库和索引没有改动。"
                ) from error
            except Exception as error:
                stored.path.unlink(missing_ok=True)
                logger.exception("indexing upload %s failed", stored.doc_id)
                raise UserFacingError(
                    "建立索引时出错，这次上传已撤回，语料库没有改动。请稍后重试；如果再次出错，请把上传时间告诉管理员（详情在服务器日志里）。"
                ) from error
        progress(1.0, "完成")
        return meta

    def delete(self, doc_id: str) -> DocumentMeta:
        meta = self.meta(doc_id)
        if len(self.engine.documents) <= 1:
            raise UserFacingError("这是语料库里最后一份文档，不能删除：索引至少需要一份文档。请先上传新文档再删除它。")
        with self._change_lock:
            try:
                self.engine.remove_document(doc_id)
            except RetrievalError as error:
                logger.warning("deleting %s failed: %s", doc_id, error)
                raise UserFacingError("删除失败：这份文档已不在索引里，或它是最后一份文档。请刷新文档列表后再试。") from error
        return meta

    def update_metadata(self, doc_id: str, aliases_text: str, years_text: str) -> DocumentMeta:
        self.meta(doc_id)
        aliases, years = parse_aliases(aliases_text), parse_years(years_text)
        with self._change_lock:
            try:
                return self.engine.update_metadata(doc_id, aliases=aliases, years=years)
            except RetrievalError as error:
                logger.warning("updating metadata of %s failed: %s", doc_id, error)
                raise UserFacingError("保存失败：这份文档已不在索引里，或年份不在 1949–2100 之间。请刷新文档列表，检查年份后再试。") from error
