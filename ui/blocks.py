"""The Gradio Blocks app: ask (chat with citations), documents (upload, edit, delete), evaluation, and the search API."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from retrieval.uploads import MAX_UPLOAD_BYTES
from ui import evaluation, render
from ui.service import EngineService, Turn, UserFacingError

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
DOC_HEADERS = ["标题", "单位", "别名", "年份", "类型", "段落数", "文件名"]

# Event delegation on the chat element: its content is replaced on every answer, the element is not.
# After an answer the chat scrolls (inside its own box) to the top of the newest turn, where the answer is.
CHAT_JS = """
const scroller = () => {
  for (let node = element; node && node !== document.body; node = node.parentElement) {
    const style = getComputedStyle(node);
    if (/(auto|scroll)/.test(style.overflowY) && node.scrollHeight > node.clientHeight) return node;
  }
  return null;
};
let shown = 0;
watch('value', () => {
  const turns = element.querySelectorAll('.turn');
  const grew = turns.length > shown;
  shown = turns.length;
  const last = turns[turns.length - 1];
  const box = scroller();
  if (!grew || !last || !box) return;   // re-rendering (explain toggle) keeps the reader's place
  box.scrollTop += last.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
});
element.addEventListener('click', (event) => {
  const opener = event.target.closest('[data-open-chunk]');
  if (!opener || !element.contains(opener)) return;
  event.preventDefault();
  element.querySelectorAll('.cite.opened').forEach((card) => card.classList.remove('opened'));
  const card = opener.closest('.cite');
  if (card) card.classList.add('opened');
  trigger('click', {chunk_id: opener.dataset.openChunk, turn: Number(opener.dataset.turn)});
});
"""
# Scroll the document body (not the page) so the cited passage sits near the top of the view.
DOC_JS = """
const reveal = () => {
  const body = element.querySelector('.doc-body');
  const anchor = element.querySelector('#passage-anchor');
  if (!body || !anchor) return;
  body.scrollTop = Math.max(0, anchor.offsetTop - body.offsetTop - 48);
  element.scrollIntoView({block: 'nearest'});
};
watch('value', reveal);
reveal();
"""

CSS = """
.gradio-container { max-width: 1400px !important; }
#chat-log { min-height: 420px; }
.chat-empty, .panel-msg { color: var(--body-text-color-subdued); padding: 12px; }
.panel-msg.error { color: #b42318; background: #fef3f2; border-radius: 6px; }
.panel-msg.ok { color: #067647; background: #ecfdf3; border-radius: 6px; }
.panel-msg.warn { color: #93370d; background: #fffaeb; border-radius: 6px; }
.turn { border-bottom: 1px solid var(--border-color-primary); padding: 10px 0 14px; }
.user-msg { font-weight: 600; margin-bottom: 6px; }
.user-msg .who { display: inline-block; background: var(--color-accent-soft); border-radius: 4px; padding: 0 6px; margin-right: 8px; }
.asked { color: var(--body-text-color-subdued); font-size: 0.9em; margin-bottom: 4px; }
.answer-block { margin: 6px 0 10px; }
.answer-fact mark.fact { font-size: 1.5em; font-weight: 700; background: #ffe58f; padding: 0 6px; border-radius: 4px; }
.answer-text { margin-top: 4px; }
.answer-block.not-found .verdict { font-size: 1.3em; font-weight: 700; color: #b42318; }
.citations-title { font-weight: 600; margin: 6px 0 4px; }
.cite { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin: 6px 0; }
.cite.is-answer { border-color: #f5b400; }
.cite.opened { box-shadow: 0 0 0 2px var(--color-accent); }
.cite-num { font-weight: 700; }
.cite-title { font-weight: 600; }
.cite-meta, .cite-path, .cite-rank { color: var(--body-text-color-subdued); font-size: 0.88em; }
.cite-text { margin: 6px 0; white-space: pre-wrap; line-height: 1.7; }
.cite-rank { font-family: var(--font-mono); }
.open-doc { font-size: 0.88em; border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 2px 10px; cursor: pointer; background: var(--button-secondary-background-fill); }
mark { padding: 0; }
mark.answer { background: #fff1b8; }
mark.fact { background: #ffd666; font-weight: 700; }
mark.term { background: transparent; text-decoration: underline 2px #1677ff; text-underline-offset: 3px; }
mark.term.answer { background: #fff1b8; }
mark.term.fact { background: #ffd666; }
mark.passage { background: #e6f4ff; }
mark.passage.answer { background: #fff1b8; }
mark.passage.fact { background: #ffd666; }
.doc-title { font-weight: 700; font-size: 1.1em; }
.doc-meta { color: var(--body-text-color-subdued); font-size: 0.88em; margin-bottom: 6px; }
.doc-body { position: relative; max-height: 72vh; overflow-y: auto; white-space: pre-wrap; line-height: 1.8;
            border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; }
.example-q { min-width: 0 !important; }
.misses .miss { border-bottom: 1px solid var(--border-color-primary); padding: 8px 0; }
.miss-head { font-weight: 600; }
.miss-why { color: #93370d; }
.miss-doc { font-weight: 600; } .miss-path { color: var(--body-text-color-subdued); font-size: 0.88em; }
.miss-text { font-size: 0.9em; }
"""


def launch_options() -> dict:
    """Arguments for demo.launch() that belong to this UI (in Gradio 6 theme and css go to launch)."""
    theme = gr.themes.Default(
        font=["Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", "system-ui", "sans-serif"],
        font_mono=["Noto Sans Mono CJK SC", "DejaVu Sans Mono", "monospace"],
    )
    # Gradio's own cap sits just above ours, so files between the two get our Chinese message.
    return {"theme": theme, "css": CSS, "max_file_size": MAX_UPLOAD_BYTES + 5 * 1024 * 1024}


def _frame(headers: list[str], rows: list[list]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=headers)


def build_app(engine, corpus_dir: str | Path | None = None, dev_questions: str | Path = DEV_QUESTIONS) -> gr.Blocks:
    """The whole app around one engine. Per-user chat history lives in gr.State; the engine is shared."""
    corpus_dir = Path(corpus_dir or getattr(engine, "corpus_dir", "corpus"))
    service = EngineService(engine, corpus_dir)
    dev_questions = Path(dev_questions)

    # ---- handlers: asking -----------------------------------------------------------------

    def transcript(turns: tuple[Turn, ...], explain: bool) -> str:
        return render.render_transcript([turn.html(index, explain) for index, turn in enumerate(turns)])

    def ask(question, turns, org_choice, year_choice, explain):
        turns = tuple(turns or ())
        previous = turns[-1].asked if turns else None
        try:
            turn = service.ask(question, previous, org_choice or None, int(year_choice) if year_choice else None)
        except UserFacingError as error:
            gr.Warning(render.escape(str(error)))   # Gradio may render a warning as HTML
            return gr.update(), gr.update(), turns
        turns = (*turns, turn)
        return "", transcript(turns, explain), turns

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
            terms = next((c.hit.matched_terms for c in turn.citations if c.chunk.chunk_id == chunk_id), ())
        return service.citation_html(chunk_id, answer, terms)

    def clear_chat():
        return transcript((), False), (), render.render_message(DOC_PLACEHOLDER)

    # ---- handlers: documents --------------------------------------------------------------

    def choices_updates(selected: str | None = None, reset_filters: bool = False):
        """Fresh choices for every list of documents, organisations and years.

        After a deletion the filters go back to "all", as the selected document or year may be gone.
        """
        doc_choices = service.document_choices()
        ids = [value for _, value in doc_choices]
        reset = {"value": ""} if reset_filters else {}
        return (
            _frame(DOC_HEADERS, service.document_rows()),
            gr.update(choices=doc_choices, value=selected if selected in ids else None),
            gr.update(choices=service.org_choices(), **reset),
            gr.update(choices=service.year_choices(), **reset),
        )

    def show_document(doc_id):
        if not doc_id:
            return "", "", render.render_message("从上面选择一份文档，可在这里预览全文。")
        try:
            meta = service.meta(doc_id)
        except UserFacingError as error:
            return "", "", render.render_message(str(error), "warn")
        return "、".join(meta.aliases), ", ".join(map(str, meta.years)), service.document_html(doc_id)

    def upload(file_path, progress=gr.Progress()):
        if not file_path:
            return (render.render_message("请先选择要上传的文件（.txt / .md / .docx / .pdf）。", "warn"), *choices_updates(),
                    gr.update(), gr.update(), gr.update(), gr.update())
        try:
            meta = service.add_upload(file_path, Path(file_path).name, lambda f, d: progress(f, desc=d))
        except UserFacingError as error:
            return (render.render_message(f"上传失败：{error}", "error"), *choices_updates(),
                    gr.update(), gr.update(), gr.update(), gr.update())
        rows = service.document_rows()
        chunks = next((row[5] for row in rows if row[6] == meta.doc_id), 0)
        message = (
            f"已加入《{meta.title}》（{render.document_label(meta)}，文件 {meta.doc_id}），共 {chunks} 段，"
            "索引已更新。现在就可以在「问答」页提问。"
        )
        aliases, years, preview = show_document(meta.doc_id)
        return (render.render_message(message, "ok"), *choices_updates(meta.doc_id), aliases, years, preview, None)

    def save_metadata(doc_id, aliases_text, years_text):
        if not doc_id:
            return render.render_message("请先在上面选择一份文档。", "warn"), *choices_updates()
        try:
            meta = service.update_metadata(doc_id, aliases_text, years_text)
        except UserFacingError as error:
            return render.render_message(str(error), "error"), *choices_updates(doc_id)
        message = f"已保存《{meta.title}》：别名 {'、'.join(meta.aliases) or '（无）'}，年份 {render.years_label(meta.years)}。索引已更新。"
        return render.render_message(message, "ok"), *choices_updates(doc_id)

    def delete_document(doc_id, confirmed):
        if not doc_id:
            return render.render_message("请先在上面选择要删除的文档。", "warn"), *choices_updates(), gr.update(), gr.update()
        if not confirmed:
            return (render.render_message("请先勾选「确认删除」，再点「删除文档」。", "warn"), *choices_updates(doc_id),
                    gr.update(), gr.update())
        try:
            meta = service.delete(doc_id)
        except UserFacingError as error:
            return render.render_message(str(error), "error"), *choices_updates(doc_id), gr.update(), gr.update()
        message = f"已删除《{meta.title}》（{meta.doc_id}），索引已更新。"
        return (render.render_message(message, "ok"), *choices_updates(reset_filters=True), False,
                render.render_message("文档已删除。"))

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
            question: the question in Chinese, e.g. "吴淞今年拆违任务多少平方米".
            k: how many passages per ranking (1-50).
            organisation: optional filter: an organisation name, alias or document file name.
            year: optional filter: a year the document covers, e.g. 2021.
        """
        try:
            return service.search_record(question, k, organisation, year)
        except UserFacingError as error:
            raise gr.Error(render.escape(str(error))) from error

    # ---- layout ---------------------------------------------------------------------------

    with gr.Blocks(title=APP_TITLE) as demo:
        turns_state = gr.State(())
        gr.Markdown(f"## {APP_TITLE}", elem_id="app-title")
        with gr.Tabs():
            with gr.Tab("问答", id="ask-tab", elem_id="ask-tab"):
                gr.Markdown(HOW_TO, elem_id="how-to")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=420):
                        with gr.Row():
                            org_filter = gr.Dropdown(service.org_choices(), value="", label="单位", elem_id="org-filter")
                            year_filter = gr.Dropdown(service.year_choices(), value="", label="年份", elem_id="year-filter")
                            explain = gr.Checkbox(label="显示检索排名（BM25 / 向量 / 融合分）", elem_id="explain")
                        chat = gr.HTML(transcript((), False), js_on_load=CHAT_JS, max_height=700,
                                       elem_id="chat-log", padding=True)
                        with gr.Row():
                            question = gr.Textbox(show_label=False, placeholder="输入问题，例如：吴淞今年拆违任务多少平方米",
                                                  elem_id="question", scale=5, lines=1, max_lines=3, submit_btn=False)
                            ask_button = gr.Button("提问", variant="primary", elem_id="ask-btn", scale=1, min_width=80)
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
                    with gr.Column():
                        upload_file = gr.File(label="上传文档：.txt / .md / .docx / .pdf，最大 20 MB（按内容判断类型）",
                                              elem_id="upload-file")
                        upload_button = gr.Button("上传并建立索引", variant="primary", elem_id="upload-btn")
                        upload_status = gr.HTML(elem_id="upload-status")
                    with gr.Column():
                        doc_select = gr.Dropdown(service.document_choices(), value=None, label="选择文档（编辑或删除）",
                                                 elem_id="doc-select")
                        aliases_box = gr.Textbox(label="别名（用逗号或顿号分隔；提问时可用这些词称呼该单位；自动识别的别名总会保留）", elem_id="aliases")
                        years_box = gr.Textbox(label="年份（如 2021；多个用逗号分隔）", elem_id="years")
                        save_button = gr.Button("保存别名和年份", elem_id="save-meta")
                        delete_confirm = gr.Checkbox(label="确认删除：从语料库和索引中移除这份文档", elem_id="delete-confirm")
                        delete_button = gr.Button("删除文档", variant="stop", elem_id="delete-btn")
                        manage_status = gr.HTML(elem_id="manage-status")
                doc_preview = gr.HTML(render.render_message("从上面选择一份文档，可在这里预览全文。"), elem_id="doc-preview")

            with gr.Tab("评估", id="eval-tab", elem_id="eval-tab"):
                gr.Markdown(
                    "在开发集 `eval/dev.jsonl` 上评估检索和答案；也可以上传同格式的标注文件（每行一个 JSON）。"
                    "指标：recall@k（前 k 段是否含证据）、MRR、nDCG，分 BM25 / 向量 / 混合三种检索方式。",
                    elem_id="eval-help",
                )
                with gr.Row():
                    gold_file = gr.File(label="标注文件（可选，留空则用开发集）", elem_id="gold-file", scale=3)
                    eval_button = gr.Button("运行评估", variant="primary", elem_id="eval-btn", scale=1)
                eval_status = gr.HTML(elem_id="eval-status")
                eval_summary = gr.Markdown(elem_id="eval-summary")
                leg_table = gr.Dataframe(interactive=False, label="各检索方式（全部题目）", elem_id="eval-legs")
                type_table = gr.Dataframe(interactive=False, label="各题型（混合检索）", elem_id="eval-types")
                recall_plot = gr.LinePlot(x="k", y="recall", color="leg", title="recall@k（k = 1…10）", x_title="k",
                                          y_title="recall@k", color_title="检索方式", y_lim=[0, 1],
                                          sort=evaluation.CURVE_ORDER, elem_id="eval-curve")
                gr.Markdown("**漏掉或答错的题目**（每题列出混合检索的前 3 段）")
                missed_view = gr.HTML(elem_id="eval-missed")

        # ---- events: UI handlers are private; only `search` is an API --------------------
        private = {"api_visibility": "private"}
        ask_inputs = [question, turns_state, org_filter, year_filter, explain]
        ask_outputs = [question, chat, turns_state]
        gr.on([ask_button.click, question.submit], ask, ask_inputs, ask_outputs, **private)
        for button, text in zip(example_buttons, EXAMPLES):
            button.click(lambda text=text: text, None, question, **private).then(ask, ask_inputs, ask_outputs, **private)
        chat.click(open_citation, turns_state, doc_view, **private)
        explain.change(transcript, [turns_state, explain], chat, **private)
        clear_button.click(clear_chat, None, [chat, turns_state, doc_view], **private)

        listing_outputs = [docs_table, doc_select, org_filter, year_filter]
        doc_select.change(show_document, doc_select, [aliases_box, years_box, doc_preview], **private)
        upload_button.click(upload, upload_file, [upload_status, *listing_outputs, aliases_box, years_box, doc_preview,
                                                  upload_file], **private)
        save_button.click(save_metadata, [doc_select, aliases_box, years_box], [manage_status, *listing_outputs], **private)
        delete_button.click(delete_document, [doc_select, delete_confirm],
                            [manage_status, *listing_outputs, delete_confirm, doc_preview], **private)
        eval_button.click(run_evaluation, gold_file,
                          [eval_status, eval_summary, leg_table, type_table, recall_plot, missed_view], **private)

        gr.api(search, api_name="search")
    return demo
