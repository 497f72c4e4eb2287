"""The Gradio Blocks app: ask (chat with citations; comparisons as a table, a chart and a CSV), documents
(upload, replace, delete, trash, audit, indexing progress), evaluation, and the search, compare and
indexing-status APIs."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import gradio as gr
import pandas as pd

from retrieval.corpus.uploads import MAX_UPLOAD_BYTES, MB, TOO_LARGE_MESSAGE
from ui import evaluation, render
from retrieval.validation import MAX_QUESTION_CHARS
from ui.chat import Turn
from ui.operations import EngineService
from ui.requests import UserFacingError

ROOT = Path(__file__).resolve().parents[1]
DEV_QUESTIONS = ROOT / "eval" / "dev.jsonl"
APP_TITLE = "街道工作计划查询"
EXAMPLES = (
    "吴淞今年拆违任务多少平方米",
    "永兴今年一共排了多少项具体任务？",
    "万里放暑假孩子没人带，街道有啥安排？",
    "经开区2020年税收总收入大概多少？",
)
HOW_TO = (
    "**怎么问：** 用一句中文直接问，写上单位和年份更准，例如「吴淞今年拆违任务多少平方米」。"
    "接着追问时可以只说变化的部分，例如「那万里呢？」。"
    "答案在最前面，下面的 [1] [2] [3] 是出处；点「查看原文」在右侧打开整篇文档并定位到那一段。"
)
DOC_PLACEHOLDER = "点出处里的「查看原文」，整篇文档会显示在这里，并滚动到引用的段落。"
DOC_HEADERS = ["标题", "单位", "级别（上级）", "别名", "年份", "类型", "发布（日期 · 机构 · 文号）", "段落数", "索引", "文件名"]
TRASH_HEADERS = ["文件名", "原因", "移入时间", "用户", "保留到", "编号"]
AUDIT_HEADERS = ["时间", "操作", "文件", "用户", "内容哈希", "说明"]
# Questions run in parallel (the engine reads an immutable snapshot; numpy/faiss release the GIL). More of them
# than the cores: their query encodings are batched together (retrieval.encode.batching), which is where the time goes.
# Corpus edits run one at a time; status polls are trivial and never wait behind either.
QUESTION_CONCURRENCY = 4 * (os.cpu_count() or 2)
STATUS_POLL_SECONDS = 2.0
UPLOAD_FRAMING_BYTES = MB           # multipart headers around one uploaded file, with room to spare
ANSWER_CACHE_SIZE = 2048        # results of the current index snapshot; emptied whenever the index changes


# The page's script and styles live in ui/assets/ as the files they are.
ASSETS = Path(__file__).with_name("assets")
CHAT_JS = (ASSETS / "chat.js").read_text(encoding="utf-8")     # the chat: open a cited document, scroll to answers
DOC_JS = (ASSETS / "doc.js").read_text(encoding="utf-8")       # the document view: scroll to the cited passage
CSS = (ASSETS / "app.css").read_text(encoding="utf-8")
# The page refuses a file over a box's limit before sending it (a capturing listener runs before Gradio's own),
# with the server's Chinese message in the box's status panel: Gradio's client-side check over its max_file_size
# would show an English toast. Runs as the status panel's js_on_load (`props.value` re-renders the panel).
SIZE_GUARD_JS = (ASSETS / "size_guard.js").read_text(encoding="utf-8")


def size_guard_js(box_id: str, limit: int, message: str) -> str:
    """SIZE_GUARD_JS for the file box `box_id`: files over `limit` bytes get `message` (where "__SIZE__" becomes
    the file's size in MB, one decimal, as the server writes it) as an error panel."""
    return (SIZE_GUARD_JS.replace("__BOX__", box_id).replace("__LIMIT__", str(limit)).replace("__MB__", str(MB))
            .replace("__REFUSAL__", json.dumps(render.render_message(message, "error"), ensure_ascii=False)))


UPLOAD_GUARD_JS = size_guard_js("upload-file", MAX_UPLOAD_BYTES, "上传失败：" + TOO_LARGE_MESSAGE.format(
    size="__SIZE__", limit=MAX_UPLOAD_BYTES // MB))
GOLD_GUARD_JS = size_guard_js("gold-file", evaluation.MAX_GOLD_BYTES, evaluation.GOLD_TOO_LARGE_MESSAGE)

# What the page means, as data attributes (for scripts and the browser tests, which never read text layout):
# the upload box's file name once it reached the server ("" when the box is empty), and that a page opening
# has received its lists and controls.
MARK_UPLOAD_JS = """(file) => {
  document.getElementById('upload-file').dataset.file = file ? (file.orig_name || '') : '';
  return [];
}"""
MARK_READY_JS = "() => { document.body.dataset.appReady = 'true'; return []; }"


def launch_options() -> dict:
    """Arguments for demo.launch() that belong to this UI (in Gradio 6 theme and css go to launch)."""
    theme = gr.themes.Default(
        font=["Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", "system-ui", "sans-serif"],
        font_mono=["Noto Sans Mono CJK SC", "DejaVu Sans Mono", "monospace"],
    )
    # Gradio's own cap sits above ours by the multipart framing app.RequestGuard allows, so it never answers first:
    # the page refuses a file over MAX_UPLOAD_BYTES, the guard a request over the file and its framing, and the
    # service a file just over the limit, all with the same Chinese message.
    return {"theme": theme, "css": CSS, "max_file_size": MAX_UPLOAD_BYTES + UPLOAD_FRAMING_BYTES}


def comparison_frame(comparison) -> pd.DataFrame:
    """The chart's data: one bar per filled row (in the table's order), its value in the shared base unit."""
    years_differ = len({cell.year for cell in comparison.cells}) > 1
    found = [cell for cell in comparison.cells if cell.found and cell.number is not None]
    return pd.DataFrame({"单位": [render.comparison_label(cell, years_differ) for cell in found],
                         "数值": [cell.number for cell in found],
                         "原文": [cell.value for cell in found]})


def write_comparison_csv(comparison) -> str:
    """The comparison as a CSV file (UTF-8 with BOM, so Excel reads the Chinese) in a temporary folder."""
    import hashlib
    import tempfile

    from retrieval.search.compare import to_csv

    text = to_csv(comparison)
    folder = Path(tempfile.gettempdir()) / "plan-compare"
    folder.mkdir(exist_ok=True)
    path = folder / f"比较-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:10]}.csv"
    path.write_text(text, encoding="utf-8-sig")
    return str(path)


def _frame(headers: list[str], rows: list[list]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=headers)


def _user(request: gr.Request | None) -> str | None:
    """The logged-in user of a request, None when login is off."""
    return getattr(request, "username", None) if request is not None else None


def build_app(engine, corpus_dir: str | Path | None = None, dev_questions: str | Path = DEV_QUESTIONS,
              users: Mapping[str, str] | None = None) -> gr.Blocks:
    """The whole app around one engine. Per-user chat history and the corpus version a page saw live in
    gr.State; the engine is shared. users: name -> role ("editor" / "reader") when login is on, else None."""
    corpus_dir = Path(corpus_dir or getattr(engine, "corpus_dir", "corpus"))
    service = EngineService(engine, corpus_dir, users, answer_cache=ANSWER_CACHE_SIZE)
    dev_questions = Path(dev_questions)
    listing: dict = {}          # the listing components, filled in by the layout below

    # ---- listings: every page reflects the current corpus ----------------------------------

    def page_version() -> str:
        """What a page's lists depend on: the indexed documents (and which wait for vectors), the audit log."""
        audit_size = service.audit.path.stat().st_size if service.audit.path.exists() else 0
        pending = len(getattr(service.engine, "dense_pending", ()))
        return f"{service.corpus_version()}-{pending}-{audit_size}"

    def listings(seen: str | None, selected: str | None = None, force: bool = False) -> dict:
        """Fresh choices and tables when the corpus moved since the page last looked (or when forced); else nothing.

        Choices keep the user's selection when it still exists.
        """
        now = page_version()
        if now == seen and not force:
            return {}
        doc_choices = service.document_choices()
        ids = {value for _, value in doc_choices}
        return {
            listing["docs_table"]: _frame(DOC_HEADERS, service.document_rows()),
            listing["doc_select"]: gr.update(choices=doc_choices, **({"value": selected if selected in ids else None}
                                                                      if selected is not None or force else {})),
            listing["org_filter"]: gr.update(choices=service.org_choices()),
            listing["year_filter"]: gr.update(choices=service.year_choices()),
            listing["trash_table"]: _frame(TRASH_HEADERS, service.trash_rows()),
            listing["trash_select"]: gr.update(choices=service.trash_choices(), value=None),
            listing["audit_table"]: _frame(AUDIT_HEADERS, service.audit_rows()),
            listing["version"]: now,
        }

    # ---- handlers: asking -----------------------------------------------------------------

    def transcript(turns: tuple[Turn, ...], explain: bool) -> str:
        return render.render_transcript([turn.html(index, explain) for index, turn in enumerate(turns)])

    def ask(question, turns, org_choice, year_choice, explain, seen):
        turns = tuple(turns or ())
        previous = turns[-1].asked if turns else None
        refreshed = listings(seen)
        try:
            year = int(year_choice) if year_choice else None
        except (TypeError, ValueError):
            gr.Warning("「年份」里的选择已失效，请重新选择。")
            return refreshed
        try:
            turn = service.ask(question, previous, org_choice or None, year)
        except UserFacingError as error:
            gr.Warning(render.escape(str(error)))   # Gradio may render a warning as HTML
            return refreshed
        turns = (*turns, turn)
        return {listing["question"]: "", listing["chat"]: transcript(turns, explain), listing["turns"]: turns,
                **comparison_outputs(turn), **refreshed}

    def comparison_outputs(turn: Turn | None) -> dict:
        """The chart and the CSV download of the latest comparison; hidden after a normal question."""
        comparison = turn.comparison if turn is not None else None
        if comparison is None:
            return {listing["compare_tools"]: gr.update(visible=False)}
        frame = comparison_frame(comparison)
        return {listing["compare_tools"]: gr.update(visible=True),
                listing["compare_plot"]: gr.update(value=frame, visible=comparison.chartable,
                                                   sort=list(frame["单位"]), y_lim=[0, None],  # bars from zero
                                                   y_title=f"数值（{comparison.unit}）" if comparison.unit else "数值"),
                listing["compare_csv"]: gr.update(value=write_comparison_csv(comparison), visible=True)}

    def open_citation(turns, evt: gr.EventData):
        data = getattr(evt, "_data", None) or {}
        chunk_id, turn_index = data.get("chunk_id"), data.get("turn")
        turns = tuple(turns or ())
        if not chunk_id:
            return gr.update()
        answer, terms = None, ()
        if isinstance(turn_index, int) and 0 <= turn_index < len(turns):
            turn = turns[turn_index]
            answer = turn.answer
            if turn.comparison is not None:
                answer = service.comparison_cell_answer(turn.comparison, chunk_id)
            terms = next((c.hit.matched_terms for c in turn.citations if c.chunk.chunk_id == chunk_id), ())
        return service.citation_html(chunk_id, answer, terms)

    def clear_chat():
        return transcript((), False), (), render.render_message(DOC_PLACEHOLDER), gr.update(visible=False)

    # ---- handlers: documents --------------------------------------------------------------

    def on_load(request: gr.Request):
        """A page opening (or reloading): current lists, and the editing controls only for editors."""
        editable = service.can_edit(_user(request))
        role = "" if service.users is None else (
            f"已登录：{_user(request)}（{'编辑' if editable else '只读：可以提问和评估，不能修改文档'}）")
        return {**listings(None, force=True),
                listing["editor_tools"]: gr.update(visible=editable),
                listing["manage_tools"]: gr.update(visible=editable),
                listing["trash_tools"]: gr.update(visible=editable),
                listing["cancel_tools"]: gr.update(visible=editable),
                listing["role_note"]: role,
                listing["index_status"]: render.indexing_html(service.indexing_jobs())}

    def poll(seen):
        """Every few seconds: indexing progress, and the lists when anyone changed the corpus."""
        jobs = service.indexing_jobs()
        active = [job for job in jobs if job.state in render.ACTIVE_JOB_STATES]
        return {listing["index_status"]: render.indexing_html(jobs),
                listing["job_select"]: gr.update(choices=[(f"{render.JOB_KINDS.get(j.kind, j.kind)} {j.doc or '语料库'}"
                                                           f"（{render.JOB_STATES.get(j.state, j.state)}）", j.job_id)
                                                          for j in active]),
                **listings(seen)}

    def show_document(doc_id):
        if not doc_id:
            return "", "", render.render_message("从上面选择一份文档，可在这里预览全文。")
        try:
            meta = service.meta(doc_id)
        except UserFacingError as error:
            return "", "", render.render_message(str(error), "warn")
        return "、".join(meta.aliases), ", ".join(map(str, meta.years)), service.document_html(doc_id)

    def upload(file_path, seen, request: gr.Request):
        return _upload(file_path, seen, request, confirm=False)

    def confirm_replace(pending_path, seen, request: gr.Request):
        return _upload(pending_path, seen, request, confirm=True)

    def keep_both(pending_path, seen, request: gr.Request):
        return _upload(pending_path, seen, request, confirm=False, keep_both=True)

    def _upload(file_path, seen, request, confirm: bool, keep_both: bool = False):
        hide = {listing["replace_row"]: gr.update(visible=False), listing["pending_upload"]: None}
        if not file_path:
            return {listing["upload_status"]: render.render_message("请先选择要上传的文件（.txt / .md / .docx / .pdf）。", "warn"),
                    **hide, **listings(seen)}
        try:
            outcome = service.upload(file_path, Path(file_path).name, _user(request), confirm_replace=confirm,
                                     keep_both=keep_both)
        except UserFacingError as error:
            return {listing["upload_status"]: render.render_message(f"上传失败：{error}", "error"), **hide, **listings(seen)}
        if outcome.needs_confirmation:
            question = (f"语料库里已有「{outcome.doc_id}」。替换已有文档？旧版本会移到回收站，30 天内可以恢复。")
            if outcome.version_share:
                question = (f"这个文件有 {outcome.version_share:.0%} 的段落与「{outcome.doc_id}」相同，可能是它的新版本。"
                            "替换已有文档？旧版本会移到回收站，30 天内可以恢复；也可以两个版本都保留，"
                            "回答会引用较新的版本，并注明还有旧版本。")
            return {listing["upload_status"]: render.render_message(question, "warn"),
                    listing["replace_row"]: gr.update(visible=True), listing["pending_upload"]: file_path,
                    listing["keep_both_button"]: gr.update(visible=bool(outcome.version_share)),
                    **listings(seen)}
        done = (f"已替换「{outcome.replaced}」（旧版本在回收站），新文件 {outcome.doc_id}" if outcome.replaced
                else f"已保存 {outcome.doc_id}")
        message = f"{done}。索引正在后台更新（进度见下方「索引任务」），完成后就能在「问答」页问到。"
        status = render.render_message(message, "ok") + "".join(render.render_message(w, "warn") for w in outcome.warnings)
        return {listing["upload_status"]: status, **hide, listing["upload_file"]: None,
                listing["index_status"]: render.indexing_html(service.indexing_jobs()), **listings(seen, force=True)}

    def cancel_replace(seen):
        return {listing["upload_status"]: render.render_message("已取消，语料库没有改动。", "info"),
                listing["replace_row"]: gr.update(visible=False), listing["pending_upload"]: None, **listings(seen)}

    def save_metadata(doc_id, aliases_text, years_text, seen, request: gr.Request):
        if not doc_id:
            return {listing["manage_status"]: render.render_message("请先在上面选择一份文档。", "warn"), **listings(seen)}
        try:
            meta = service.update_metadata(doc_id, aliases_text, years_text, _user(request))
        except UserFacingError as error:
            return {listing["manage_status"]: render.render_message(str(error), "error"),
                    **listings(seen, selected=doc_id, force=True)}
        message = f"已保存《{meta.title}》：别名 {'、'.join(meta.aliases) or '（无）'}，年份 {render.years_label(meta.years)}。索引已更新。"
        return {listing["manage_status"]: render.render_message(message, "ok"), **listings(seen, selected=doc_id, force=True)}

    def delete_document(doc_id, confirmed, seen, request: gr.Request):
        if not doc_id:
            return {listing["manage_status"]: render.render_message("请先在上面选择要删除的文档。", "warn"), **listings(seen)}
        if not confirmed:
            return {listing["manage_status"]: render.render_message("请先勾选「确认删除」，再点「删除文档」。", "warn"),
                    **listings(seen)}
        try:
            meta, entry, _ = service.delete(doc_id, _user(request))
        except UserFacingError as error:
            return {listing["manage_status"]: render.render_message(str(error), "error"), **listings(seen, force=True)}
        message = f"已删除《{meta.title}》（{meta.doc_id}），已移到回收站（30 天内可在下方「回收站」恢复）。索引正在后台更新。"
        return {listing["manage_status"]: render.render_message(message, "ok"), listing["delete_confirm"]: False,
                listing["doc_preview"]: render.render_message("文档已删除。"),
                listing["index_status"]: render.indexing_html(service.indexing_jobs()), **listings(seen, force=True)}

    def restore_document(entry_id, seen, request: gr.Request):
        if not entry_id:
            return {listing["trash_status"]: render.render_message("请先在回收站里选择要恢复的文档。", "warn"), **listings(seen)}
        try:
            entry, _ = service.restore(entry_id, _user(request))
        except UserFacingError as error:
            return {listing["trash_status"]: render.render_message(str(error), "error"), **listings(seen, force=True)}
        message = f"已恢复 {entry.doc_id}。索引正在后台更新，完成后就能在「问答」页问到。"
        return {listing["trash_status"]: render.render_message(message, "ok"),
                listing["index_status"]: render.indexing_html(service.indexing_jobs()), **listings(seen, force=True)}

    def cancel_job(job_id, seen, request: gr.Request):
        if not job_id:
            return {listing["cancel_status"]: render.render_message("请先选择一个进行中的索引任务。", "warn")}
        try:
            cancelled = service.cancel(job_id, _user(request))
        except UserFacingError as error:
            return {listing["cancel_status"]: render.render_message(str(error), "error")}
        message = ("已取消，这次改动已撤回（文件在回收站，可恢复）。" if cancelled
                   else "这个任务已经结束，无法取消。")
        return {listing["cancel_status"]: render.render_message(message, "ok" if cancelled else "warn"),
                listing["index_status"]: render.indexing_html(service.indexing_jobs()), **listings(seen, force=True)}

    # ---- handlers: evaluation -------------------------------------------------------------

    def run_evaluation(gold_path, progress=gr.Progress()):
        empty = (gr.update(), gr.update(), gr.update(), gr.update(), gr.update())
        try:
            source = Path(gold_path) if gold_path else dev_questions
            questions = evaluation.load_gold(source)
            progress(0, desc="开始评估")
            report = evaluation.run(service.engine, questions, lambda f, d: progress(f, desc=d))
        except UserFacingError as error:
            return render.render_message(str(error), "error"), *empty
        name = "上传的标注文件" if gold_path else f"开发集 {dev_questions.name}"
        return (
            render.render_message(f"评估完成：{name}，{len(questions)} 题。", "ok"),
            report.summary_markdown,
            _frame(*report.leg_table),
            _frame(*report.type_table),
            pd.DataFrame(report.recall_curve),
            report.missed_html,
        )

    # ---- the API --------------------------------------------------------------------------

    def search(question: str, k: int = 5, organisation: str | None = None, year: int | None = None) -> dict:
        """Ask one question; returns the same JSON as a line of the eval command's runs.jsonl.

        Args:
            question: the question in Chinese, e.g. "吴淞今年拆违任务多少平方米" (at most 500 characters).
            k: how many passages per ranking (1-100).
            organisation: optional filter: an organisation name, alias or document file name.
            year: optional filter: a year the document covers, e.g. 2021.
        """
        try:
            return service.search_record(question, k, organisation, year)
        except UserFacingError as error:
            # Plain text for JSON clients (the page never shows this error); one log line, no traceback.
            raise gr.Error(str(error), print_exception=False) from error

    def compare(question: str) -> dict:
        """Compare one figure across organisations or years, e.g. "各省今年地区生产总值增长目标是多少？".

        Returns {"comparison": true, "rows": [{organisation, year, value (as written, null = 未找到), number, unit,
        stance, doc, section, sentence, ...}], "sorted_by_value", "unit", "note"}; {"comparison": false, "rows": []}
        when the question asks no comparison (use search for it). Each row's value comes only from that
        organisation's own documents for that year.

        Args:
            question: the question in Chinese (at most 500 characters).
        """
        try:
            return service.compare_record(question)
        except UserFacingError as error:
            raise gr.Error(render.escape(str(error)), print_exception=False) from error

    def indexing_status() -> dict:
        """Background indexing: recent jobs (state, progress 0-1, message), documents still waiting for vectors,
        and the corpus version (it changes whenever the indexed documents do)."""
        return service.indexing_record()

    # ---- layout ---------------------------------------------------------------------------

    with gr.Blocks(title=APP_TITLE) as demo:
        turns_state = gr.State(())
        version_state = gr.State("")
        pending_upload = gr.State(None)
        gr.Markdown(f"## {APP_TITLE}", elem_id="app-title")
        role_note = gr.Markdown("", elem_id="role-note")
        with gr.Tabs():
            with gr.Tab("问答", id="ask-tab", elem_id="ask-tab"):
                gr.Markdown(HOW_TO, elem_id="how-to")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=420):
                        with gr.Row():
                            # Custom values allowed: a page's choices may lag another user's change for a moment;
                            # the service then answers in Chinese instead of Gradio refusing in English.
                            org_filter = gr.Dropdown(service.org_choices(), value="", label="单位", elem_id="org-filter",
                                                     allow_custom_value=True)
                            year_filter = gr.Dropdown(service.year_choices(), value="", label="年份", elem_id="year-filter",
                                                      allow_custom_value=True)
                            explain = gr.Checkbox(label="显示检索排名（BM25 / 向量 / 融合分）", elem_id="explain")
                        chat = gr.HTML(transcript((), False), js_on_load=CHAT_JS, max_height=700,
                                       elem_id="chat-log", padding=True)
                        with gr.Row():
                            question = gr.Textbox(show_label=False, placeholder="输入问题，例如：吴淞今年拆违任务多少平方米",
                                                  elem_id="question", scale=5, lines=1, max_lines=3, submit_btn=False,
                                                  max_length=MAX_QUESTION_CHARS)
                            ask_button = gr.Button("提问", variant="primary", elem_id="ask-btn", scale=1, min_width=80)
                        with gr.Column(visible=False, elem_id="compare-tools") as compare_tools:
                            compare_plot = gr.BarPlot(x="单位", y="数值", title="比较（按数值排序）", x_title="单位",
                                                      y_title="数值", x_label_angle=-30, elem_id="compare-plot",
                                                      label="比较图")
                            compare_csv = gr.DownloadButton("下载表格（CSV）", elem_id="compare-csv", size="sm")
                        with gr.Row():
                            example_buttons = [
                                gr.Button(text, size="sm", elem_classes=["example-q"], elem_id=f"example-{index}")
                                for index, text in enumerate(EXAMPLES)
                            ]
                            clear_button = gr.Button("清空对话", size="sm", elem_id="clear-btn")
                    with gr.Column(scale=2, min_width=320):
                        doc_view = gr.HTML(render.render_message(DOC_PLACEHOLDER), js_on_load=DOC_JS, elem_id="doc-view")

            with gr.Tab("文档", id="docs-tab", elem_id="docs-tab"):
                docs_table = gr.Dataframe(_frame(DOC_HEADERS, service.document_rows()), interactive=False, wrap=True,
                                          label="语料库中的文档", elem_id="docs-table")
                with gr.Row(equal_height=False):
                    with gr.Column(visible=True) as editor_tools:
                        upload_file = gr.File(label=f"上传文档：.txt / .md / .docx / .pdf，最大 {MAX_UPLOAD_BYTES // MB} MB（按内容判断类型）",
                                              elem_id="upload-file")
                        upload_button = gr.Button("上传并建立索引", variant="primary", elem_id="upload-btn")
                        upload_status = gr.HTML(elem_id="upload-status", js_on_load=UPLOAD_GUARD_JS)
                        with gr.Row(visible=False, elem_id="replace-row") as replace_row:
                            replace_button = gr.Button("替换", variant="primary", elem_id="replace-yes")
                            keep_both_button = gr.Button("两个版本都保留", visible=False, elem_id="replace-keep-both")
                            keep_button = gr.Button("取消", elem_id="replace-no")
                    with gr.Column():
                        doc_select = gr.Dropdown(service.document_choices(), value=None, label="选择文档（预览、编辑或删除）",
                                                 elem_id="doc-select", allow_custom_value=True)
                        with gr.Column(visible=True) as manage_tools:
                            aliases_box = gr.Textbox(label="别名（用逗号或顿号分隔；提问时可用这些词称呼该单位；自动识别的别名总会保留）", elem_id="aliases")
                            years_box = gr.Textbox(label="年份（如 2021；多个用逗号分隔）", elem_id="years")
                            save_button = gr.Button("保存别名和年份", elem_id="save-meta")
                            delete_confirm = gr.Checkbox(label="确认删除：从语料库和索引中移除这份文档（移到回收站，30 天内可恢复）",
                                                         elem_id="delete-confirm")
                            delete_button = gr.Button("删除文档", variant="stop", elem_id="delete-btn")
                        manage_status = gr.HTML(elem_id="manage-status")
                with gr.Accordion("索引任务（后台进行，提问不受影响）", open=True, elem_id="indexing"):
                    index_status = gr.HTML(render.indexing_html(service.indexing_jobs()), elem_id="index-status")
                    with gr.Row(visible=True) as cancel_tools:
                        job_select = gr.Dropdown([], value=None, label="进行中的任务", elem_id="job-select",
                                                 allow_custom_value=True)
                        cancel_button = gr.Button("取消这个任务（撤回这次改动）", elem_id="cancel-job")
                    cancel_status = gr.HTML(elem_id="cancel-status")
                with gr.Accordion("回收站（删除或被替换的文档，保留 30 天）", open=False, elem_id="trash"):
                    trash_table = gr.Dataframe(_frame(TRASH_HEADERS, service.trash_rows()), interactive=False, wrap=True,
                                               elem_id="trash-table")
                    with gr.Row(visible=True) as trash_tools:
                        trash_select = gr.Dropdown(service.trash_choices(), value=None, label="选择要恢复的文档",
                                                   elem_id="trash-select", allow_custom_value=True)
                        restore_button = gr.Button("恢复", elem_id="restore-btn")
                    trash_status = gr.HTML(elem_id="trash-status")
                with gr.Accordion("操作记录（上传、替换、删除、恢复、修改）", open=False, elem_id="audit"):
                    audit_table = gr.Dataframe(_frame(AUDIT_HEADERS, service.audit_rows()), interactive=False, wrap=True,
                                               elem_id="audit-table")
                doc_preview = gr.HTML(render.render_message("从上面选择一份文档，可在这里预览全文。"), elem_id="doc-preview")

            with gr.Tab("评估", id="eval-tab", elem_id="eval-tab"):
                gr.Markdown(
                    "在开发集 `eval/dev.jsonl` 上评估检索和答案；也可以上传同格式的标注文件（每行一个 JSON）。"
                    "指标：recall@k（前 k 段是否含证据）、MRR、nDCG，分 BM25 / 向量 / 混合三种检索方式。",
                    elem_id="eval-help",
                )
                with gr.Row():
                    gold_file = gr.File(label=f"标注文件（可选，留空则用开发集；最大 {evaluation.MAX_GOLD_BYTES // MB} MB）",
                                        elem_id="gold-file", scale=3)
                    eval_button = gr.Button("运行评估", variant="primary", elem_id="eval-btn", scale=1)
                eval_status = gr.HTML(elem_id="eval-status", js_on_load=GOLD_GUARD_JS)
                eval_summary = gr.Markdown(elem_id="eval-summary")
                leg_table = gr.Dataframe(interactive=False, label="各检索方式（全部题目）", elem_id="eval-legs")
                type_table = gr.Dataframe(interactive=False, label="各题型（混合检索）", elem_id="eval-types")
                recall_plot = gr.LinePlot(x="k", y="recall", color="leg", title="recall@k（k = 1…10）", x_title="k",
                                          y_title="recall@k", color_title="检索方式", y_lim=[0, 1],
                                          sort=evaluation.CURVE_ORDER, elem_id="eval-curve")
                gr.Markdown("**漏掉或答错的题目**（每题列出混合检索的前 3 段）")
                missed_view = gr.HTML(elem_id="eval-missed")
        timer = gr.Timer(STATUS_POLL_SECONDS)

        listing.update(
            docs_table=docs_table, doc_select=doc_select, org_filter=org_filter, year_filter=year_filter,
            trash_table=trash_table, trash_select=trash_select, audit_table=audit_table, version=version_state,
            question=question, chat=chat, turns=turns_state, upload_status=upload_status, replace_row=replace_row,
            pending_upload=pending_upload, upload_file=upload_file, manage_status=manage_status,
            keep_both_button=keep_both_button,
            delete_confirm=delete_confirm, doc_preview=doc_preview, trash_status=trash_status, index_status=index_status,
            job_select=job_select, cancel_status=cancel_status, editor_tools=editor_tools, manage_tools=manage_tools,
            trash_tools=trash_tools, cancel_tools=cancel_tools, role_note=role_note,
            compare_tools=compare_tools, compare_plot=compare_plot, compare_csv=compare_csv,
        )
        lists = [docs_table, doc_select, org_filter, year_filter, trash_table, trash_select, audit_table, version_state]

        # ---- events: UI handlers are private; `search` and `indexing_status` are the API ------
        private = {"api_visibility": "private"}
        questions = {"concurrency_limit": QUESTION_CONCURRENCY, "concurrency_id": "questions", **private}
        edits = {"concurrency_limit": 1, "concurrency_id": "corpus-edits", **private}
        status = {"concurrency_limit": None, "concurrency_id": "status", "show_progress": "hidden", **private}
        ask_inputs = [question, turns_state, org_filter, year_filter, explain, version_state]
        ask_outputs = [question, chat, turns_state, compare_tools, compare_plot, compare_csv, *lists]
        gr.on([ask_button.click, question.submit], ask, ask_inputs, ask_outputs, **questions)
        for button, text in zip(example_buttons, EXAMPLES):
            button.click(lambda text=text: text, None, question, **private).then(ask, ask_inputs, ask_outputs, **questions)
        chat.click(open_citation, turns_state, doc_view, **private)
        explain.change(transcript, [turns_state, explain], chat, **private)
        clear_button.click(clear_chat, None, [chat, turns_state, doc_view, compare_tools], **private)

        demo.load(on_load, None, [*lists, editor_tools, manage_tools, trash_tools, cancel_tools, role_note, index_status],
                  **private).then(None, None, None, js=MARK_READY_JS, **private)
        timer.tick(poll, version_state, [index_status, job_select, *lists], **status)
        doc_select.change(show_document, doc_select, [aliases_box, years_box, doc_preview], **private)
        upload_outputs = [upload_status, replace_row, keep_both_button, pending_upload, upload_file, index_status, *lists]
        upload_file.change(None, upload_file, None, js=MARK_UPLOAD_JS, **private)
        upload_button.click(upload, [upload_file, version_state], upload_outputs, **edits)
        replace_button.click(confirm_replace, [pending_upload, version_state], upload_outputs, **edits)
        keep_both_button.click(keep_both, [pending_upload, version_state], upload_outputs, **edits)
        keep_button.click(cancel_replace, version_state, upload_outputs, **private)
        save_button.click(save_metadata, [doc_select, aliases_box, years_box, version_state], [manage_status, *lists], **edits)
        delete_button.click(delete_document, [doc_select, delete_confirm, version_state],
                            [manage_status, delete_confirm, doc_preview, index_status, *lists], **edits)
        restore_button.click(restore_document, [trash_select, version_state], [trash_status, index_status, *lists], **edits)
        cancel_button.click(cancel_job, [job_select, version_state], [cancel_status, index_status, *lists], **edits)
        eval_button.click(run_evaluation, gold_file,
                          [eval_status, eval_summary, leg_table, type_table, recall_plot, missed_view],
                          concurrency_limit=1, concurrency_id="evaluation", **private)

        gr.api(search, api_name="search", concurrency_limit=QUESTION_CONCURRENCY, concurrency_id="questions")
        gr.api(compare, api_name="compare", concurrency_limit=QUESTION_CONCURRENCY, concurrency_id="questions")
        gr.api(indexing_status, api_name="indexing_status", concurrency_limit=None, concurrency_id="status")
    return demo
