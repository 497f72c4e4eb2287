"""The app in a real headless Chromium: ask, follow up, open a source, upload, XSS, evaluation.

The app runs as `python app.py` on a free loopback port over a copy of corpus/ and index/. Each test opens its
own page (an empty chat) and uploads its own documents, so any test runs alone and in any order. Tests wait for
what the page means (a turn's answer block, data attributes the app sets), never for how text wraps.
Screenshots go to artifacts/screenshots/, the submit→answer times to artifacts/browser_timing.json.
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import docx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.app_server import ROOT, running_app

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"          # Debian's chromium (make browser-deps); playwright never downloads one
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
EXPECT_TIMEOUT_MS = 30_000          # any element the page shows after a server round trip, on a busy machine
ANSWER_TIMEOUT_MS = 60_000
INDEX_TIMEOUT_MS = 180_000          # background indexing of a small document, on a busy machine
UPLOAD_TIMEOUT_MS = 120_000        # the file reaches the server, while the machine indexes
UPLOAD_ATTEMPTS = 3
WUSONG_DOC = "吴淞街道2021年工作要点.txt"
WUSONG_QUESTION = "吴淞今年拆违任务多少平方米"

TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("browser")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, one per module; each test opens its own context and page in it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
    _write_timings()


def open_app(browser: Browser, url: str, viewport: dict | None = None) -> Page:
    """A new visitor (own context: own session and chat) on the app, once the page has its lists and controls.

    Every dialog the page opens is recorded in page.dialogs (there must be none).
    """
    page = browser.new_context(locale="zh-CN", viewport=viewport or {"width": 1400, "height": 1000}).new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url)
    expect(page.locator("#how-to")).to_contain_text("怎么问")
    expect(page.locator("body")).to_have_attribute("data-app-ready", "true")         # on_load has run
    return page


@pytest.fixture
def page(browser, app_url):
    """A fresh page with an empty chat, closed after the test."""
    page = open_app(browser, app_url)
    yield page
    page.context.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _write_timings() -> None:
    if not TIMINGS:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    report = {"unit": "ms", "measured": "click/Enter until the answer block is visible in the browser", **TIMINGS}
    (ARTIFACTS / "browser_timing.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(f"\nsubmit→answer timings (ms): {TIMINGS}")


def turn(page: Page, index: int):
    return page.locator(f'#chat-log .turn[data-turn="{index}"]')


def wait_for_answer(page: Page, index: int, started: float, label: str):
    """Wait until turn `index` shows its answer block; record how long that took since `started`."""
    answer = turn(page, index).locator(".answer-block")
    try:
        answer.wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    except Exception:
        shot(page, f"failed-{label}")
        raise
    TIMINGS[label] = round((time.perf_counter() - started) * 1000, 1)
    return turn(page, index)


def ask(page: Page, question: str, label: str):
    """Ask in this page's chat; returns the new turn (numbered after the turns this page already shows)."""
    open_tab(page, "问答")
    index = page.locator("#chat-log .turn").count()
    page.locator("#question textarea").fill(question)
    started = time.perf_counter()
    page.locator("#question textarea").press("Enter")
    return wait_for_answer(page, index, started, label)


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def upload(page: Page, path: Path) -> None:
    """Pick `path` in the documents tab's upload box, wait until the box holds it, and press 上传.

    The box holds a file when the app has set its `data-file` to the file's name (on the box's change event,
    after the file reached the server). The box must be empty first (a previous upload's file cleared), as it
    is when staff pick a file. A pick the box never takes is picked again, as a person would, at most
    UPLOAD_ATTEMPTS times in all.
    """
    open_tab(page, "文档")
    box = page.locator("#upload-file")
    chooser = box.locator("input[type=file]")
    for attempt in range(1, UPLOAD_ATTEMPTS + 1):
        chooser.wait_for(state="attached", timeout=UPLOAD_TIMEOUT_MS)      # the empty box, ready for a file
        chooser.set_input_files(str(path))
        try:
            expect(box).to_have_attribute("data-file", path.name, timeout=UPLOAD_TIMEOUT_MS // UPLOAD_ATTEMPTS)
            break
        except AssertionError:
            if chooser.count() == 0 or attempt == UPLOAD_ATTEMPTS:      # another file shows, or out of attempts
                _fail_upload(page, path, attempt)
            print(f"upload: the box did not take {path.name} after pick {attempt}; picking it again")
    page.locator("#upload-btn").click()


def _fail_upload(page: Page, path: Path, attempts: int) -> None:
    shot(page, f"failed-upload-{path.stem}")
    shown = {name: page.locator(selector).all_inner_texts()
             for name, selector in (("upload box", "#upload-file"), ("status", "#upload-status"),
                                    ("toasts", ".toast-body"))}
    held = page.locator("#upload-file").get_attribute("data-file")
    raise AssertionError(f"the upload box did not take {path.name} after {attempts} pick(s) within "
                         f"{UPLOAD_TIMEOUT_MS} ms (data-file={held!r}); the page showed {shown}")


def upload_plan(page: Page, path: Path) -> None:
    """Upload `path` and wait until it is indexed (searchable by keywords and by meaning)."""
    upload(page, path)
    expect(page.locator("#upload-status .ok")).to_contain_text(path.stem, timeout=UPLOAD_TIMEOUT_MS)
    expect(page.locator("#docs-table")).to_contain_text(path.name, timeout=INDEX_TIMEOUT_MS)
    wait_until_indexed(page, path.name)


def wait_until_indexed(page: Page, doc_id: str) -> None:
    """Wait until the indexing panel shows doc_id's job done (searchable by keywords and by meaning)."""
    expect(page.locator("#index-status tr.job-done", has_text=doc_id).first).to_be_visible(timeout=INDEX_TIMEOUT_MS)
    expect(page.locator("#index-status tr.job", has_text=doc_id).first).to_have_class("job job-done")


def select_document(page: Page, doc_id: str) -> None:
    """Pick a document in the documents tab's picker (a substring of its label is enough)."""
    open_tab(page, "文档")
    page.locator("#doc-select input").click()
    page.get_by_role("option", name=doc_id).first.click()


def test_example_question_shows_the_fact_and_the_wusong_citation(page):
    started = time.perf_counter()
    page.locator("#example-0").click()
    first = wait_for_answer(page, 0, started, "example_click_to_answer")
    expect(first.locator(".user-msg")).to_contain_text(WUSONG_QUESTION)
    expect(first.locator(".answer-fact mark.fact")).to_have_text("3万平方米")
    source = first.locator(".cite").first
    expect(source).to_have_attribute("data-doc-id", WUSONG_DOC)
    expect(source.locator(".cite-num")).to_have_text("[1]")
    expect(source.locator(".cite-meta")).to_contain_text("吴淞")
    expect(source.locator(".cite-meta")).to_contain_text("2021")
    expect(source.locator(".cite-path")).to_contain_text("二、立足新要求")
    expect(source.locator(".cite-path")).to_contain_text(" › （一）")
    expect(source.locator("mark.fact").first).to_be_visible()
    assert "3万平方米" in "".join(source.locator("mark.fact").all_inner_texts())
    expect(first.locator(".cite")).to_have_count(3)
    shot(page, "02-answer")


def test_followup_names_only_the_organisation_and_gets_a_wanli_citation(page):
    ask(page, WUSONG_QUESTION, "question_enter_to_answer")
    second = ask(page, "那万里呢？", "followup_enter_to_answer")
    expect(second.locator(".user-msg")).to_be_in_viewport()          # the chat scrolled to the new turn
    expect(second.locator(".asked")).to_contain_text("万里今年拆违任务多少平方米")
    expect(second.locator(".cite").first).to_have_attribute("data-doc-id", "万里街道2021年工作计划.txt")
    expect(second.locator(".cite").first.locator(".cite-meta")).to_contain_text("万里")
    shot(page, "03-followup")


def test_chat_history_belongs_to_each_user(page, browser, app_url):
    """A second visitor starts with an empty chat, so their follow-up has nothing to borrow from."""
    ask(page, WUSONG_QUESTION, "question_enter_to_answer")
    other = open_app(browser, app_url)
    try:
        expect(other.locator("#chat-log .chat-empty")).to_be_visible()
        reply = ask(other, "那万里呢？", "other_visitor_enter_to_answer")
        expect(reply.locator(".asked")).to_have_count(0)                  # asked as typed, not resolved
        expect(other.locator("#chat-log .turn")).to_have_count(1)
    finally:
        other.context.close()
    expect(page.locator("#chat-log .turn")).to_have_count(1)             # the other visitor's turn is not here
    mine = ask(page, "那万里呢？", "followup_enter_to_answer")
    expect(mine.locator(".asked")).to_contain_text("万里今年拆违任务多少平方米")


def test_explain_toggle_shows_each_legs_rank_and_the_fused_score(page):
    answer = ask(page, WUSONG_QUESTION, "question_enter_to_answer")
    page.locator("#explain input[type=checkbox]").check()
    expect(answer.locator(".cite-rank").first).to_contain_text("BM25")
    expect(answer.locator(".cite-rank").first).to_contain_text("融合分")
    page.locator("#explain input[type=checkbox]").uncheck()
    expect(answer.locator(".cite-rank")).to_have_count(0)


def test_a_citation_opens_the_whole_document_scrolled_to_the_marked_passage(page):
    answer = ask(page, WUSONG_QUESTION, "question_enter_to_answer")
    answer.locator(".open-doc").first.click()
    view = page.locator("#doc-view .doc-view")
    expect(view).to_have_attribute("data-doc-id", WUSONG_DOC)
    expect(view.locator(".doc-title")).to_contain_text("吴淞街道")
    expect(view.locator("mark.fact").first).to_be_visible()
    passage = view.locator("mark.passage").first
    expect(passage).to_be_visible()
    expect(passage).to_be_in_viewport()
    body_box = view.locator(".doc-body").bounding_box()
    passage_box = passage.bounding_box()
    assert body_box["y"] <= passage_box["y"] < body_box["y"] + body_box["height"]      # scrolled into the view
    document_chars = len(view.locator(".doc-body").inner_text())
    assert document_chars > 3000                                                        # the whole document
    shot(page, "04-full-document")


def test_an_uploaded_docx_with_facts_on_item_lines_is_answered_with_the_right_fact(page, tmp_path):
    """A staff member's own Word plan: its facts sit on numbered item lines and in a table, not in headings."""
    path = tmp_path / "星河街道2022年工作计划.docx"
    document = docx.Document()
    for paragraph in (
        "星河街道2022年工作计划",
        "一、提升城区环境品质",
        "（一）建设口袋公园",
        "1. 全年新建口袋公园17座，新增公共绿地2.6公顷",
        "2. 完成老旧小区综合改造5个",
        "（二）整治违法建筑",
        "（1）全年拆除违法建筑1.2万平方米",
        "二、优化营商环境",
        "一是走访企业300家次。二是举办政策宣讲会8场。",
    ):
        document.add_paragraph(paragraph)
    table = document.add_table(rows=2, cols=2)
    for row, (item, target) in enumerate((("新增停车位", "600个"), ("新建充电桩", "120个"))):
        table.cell(row, 0).text, table.cell(row, 1).text = item, target
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(buffer.getvalue())

    upload_plan(page, path)
    shot(page, "05-uploaded-docx")

    reply = ask(page, "星河街道今年新建多少座口袋公园？", "uploaded_doc_enter_to_answer")
    # The fact on the "1." item line is the highlighted fact, and the passage marks its sentence.
    expect(reply.locator(".answer-fact mark.fact")).to_have_text("17座")
    expect(reply.locator(".cite").first).to_have_attribute("data-doc-id", path.name)
    expect(reply.locator(".cite").first).to_contain_text("新建口袋公园17座")
    shot(page, "06-uploaded-answer")


def test_a_malicious_html_bearing_text_file_shows_literally_and_runs_nothing(page, tmp_path):
    payload_script = "<script>alert(1)</script>"
    payload_image = '<img src=x onerror="window.__pwned=1;alert(2)">'
    path = tmp_path / "恶意测试街道2022年工作计划.txt"
    path.write_text(
        f"恶意测试街道2022年工作计划\n一、安全测试\n标题里的代码 {payload_script} 和图片 {payload_image} 都应原样显示。\n"
        "全年开展网络安全演练9次。\n",
        encoding="utf-8",
    )
    upload_plan(page, path)
    select_document(page, path.name)
    preview = page.locator("#doc-preview .doc-body")
    expect(preview).to_contain_text(payload_script)
    expect(preview).to_contain_text(payload_image)
    assert page.locator("#doc-preview img, #doc-preview script").count() == 0

    reply = ask(page, "恶意测试街道今年开展几次网络安全演练？", "malicious_doc_enter_to_answer")
    expect(reply.locator(".cite").first).to_have_attribute("data-doc-id", path.name)
    reply.locator(".open-doc").first.click()
    expect(page.locator("#doc-view .doc-body")).to_contain_text(payload_image)
    assert page.locator("#chat-log img, #doc-view img").count() == 0
    page.wait_for_timeout(500)               # give any injected handler the chance to fire
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    shot(page, "07-malicious-literal")


def test_a_file_that_is_not_a_document_gets_a_chinese_message_and_changes_nothing(page, tmp_path):
    path = tmp_path / "伪装成文本.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16)
    upload(page, path)
    expect(page.locator("#upload-status .error")).to_contain_text("不支持这种文件", timeout=60_000)
    expect(page.locator("#docs-table")).not_to_contain_text(path.stem)
    expect(page.locator("#index-status")).not_to_contain_text(path.stem)         # no indexing job either
    shot(page, "08-bad-upload")


@pytest.mark.parametrize("megabytes", [22, 30])
def test_a_file_over_the_limit_gets_the_chinese_message_of_the_label_and_no_english_toast(page, tmp_path, megabytes):
    """Over 20 MB (the box's label): the page refuses before sending, in Chinese, whatever the size; Gradio's
    own client check (an English toast over its max_file_size) never answers first."""
    path = tmp_path / f"超大文件{megabytes}.txt"
    with open(path, "wb") as sparse:
        sparse.truncate(megabytes * 1024 * 1024)
    open_tab(page, "文档")
    expect(page.locator("#upload-file")).to_contain_text("最大 20 MB")
    chooser = page.locator("#upload-file input[type=file]")
    chooser.set_input_files(str(path))
    status = page.locator("#upload-status .error")
    expect(status).to_contain_text(f"文件太大（{megabytes}.0 MB），上限是 20 MB")
    expect(page.locator(".toast-body")).to_have_count(0)
    expect(chooser).to_be_attached()                                  # the box stays empty, ready for another file
    assert page.locator("#upload-file").get_attribute("data-file") in (None, "")
    shot(page, f"11-too-large-{megabytes}")


def test_a_gold_file_over_its_limit_gets_the_chinese_message_before_it_is_sent(page, tmp_path):
    path = tmp_path / "标注太大.jsonl"
    with open(path, "wb") as sparse:
        sparse.truncate(6 * 1024 * 1024)
    open_tab(page, "评估")
    expect(page.locator("#gold-file")).to_contain_text("最大 5 MB")
    page.locator("#gold-file input[type=file]").set_input_files(str(path))
    expect(page.locator("#eval-status .error")).to_contain_text("标注文件太大（上限 5 MB）")
    expect(page.locator(".toast-body")).to_have_count(0)
    expect(page.locator("#gold-file input[type=file]")).to_be_attached()       # the box stays empty


def test_edited_aliases_and_a_deletion_update_the_index(page, tmp_path):
    path = tmp_path / "银杏街道2022年工作计划.txt"
    path.write_text("银杏街道2022年工作计划\n一、城市更新\n（一）全年新建口袋公园11座，改造雨污管网3.5公里。\n"
                    "二、为民服务\n（一）新增社区食堂4家。\n", encoding="utf-8")
    doc_id = path.name
    upload_plan(page, path)
    select_document(page, doc_id)
    aliases = page.locator("#aliases").locator("input, textarea").first
    expect(aliases).to_have_value("银杏街道")
    aliases.fill("银杏街道、金叶社区")
    page.locator("#save-meta").click()
    expect(page.locator("#manage-status .ok")).to_contain_text("金叶社区", timeout=120_000)
    expect(page.locator("#docs-table")).to_contain_text("金叶社区")

    reply = ask(page, "金叶社区今年新建多少座口袋公园？", "alias_enter_to_answer")
    expect(reply.locator(".answer-fact mark.fact")).to_contain_text("11座")
    expect(reply.locator(".cite").first).to_have_attribute("data-doc-id", doc_id)

    open_tab(page, "文档")
    page.locator("#delete-btn").click()
    expect(page.locator("#manage-status .warn")).to_contain_text("确认删除")          # not without confirming
    page.locator("#delete-confirm input[type=checkbox]").check()
    page.locator("#delete-btn").click()
    expect(page.locator("#manage-status .ok")).to_contain_text("已删除", timeout=120_000)
    expect(page.locator("#docs-table")).not_to_contain_text(doc_id, timeout=INDEX_TIMEOUT_MS)
    shot(page, "09-deleted")

    after = ask(page, "金叶社区今年新建多少座口袋公园？", "after_delete_enter_to_answer")
    expect(after.locator(f'.cite[data-doc-id="{doc_id}"]')).to_have_count(0)
    expect(after.locator(".answer-fact")).not_to_contain_text("11座")


def test_the_evaluation_tab_runs_dev_and_shows_the_metrics(page):
    open_tab(page, "评估")
    page.locator("#eval-btn").click()
    expect(page.locator("#eval-status .ok")).to_contain_text("40 题", timeout=300_000)
    legs = page.locator("#eval-legs")
    for text in ("BM25", "向量", "混合", "recall@1", "recall@10", "mrr@10"):
        expect(legs).to_contain_text(text)
    expect(page.locator("#eval-types")).to_contain_text("数字")
    expect(page.locator("#eval-summary")).to_contain_text("answer@1")
    expect(page.locator("#eval-summary")).to_contain_text("误报")
    expect(page.locator("#eval-curve")).to_be_visible()
    shot(page, "10-evaluation")
