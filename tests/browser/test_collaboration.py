"""Two staff members at once in headless Chromium: a page opened earlier sees another's upload after reloading,
deletes it, restores it from the trash; a same-name upload asks before replacing; the audit log shows it all;
a reader (login on) asks but sees no editing controls. Each test uploads its own document, so any test runs
alone and in any order."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.app_server import ROOT, running_app
from tests.browser.test_browser import (
    CHROMIUM, CHROMIUM_ARGS, EXPECT_TIMEOUT_MS, INDEX_TIMEOUT_MS, open_app, select_document, upload,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
DOC = "协作测试街道2023年工作计划.txt"
PLAN = "协作测试街道2023年工作计划\n一、城市管理\n（一）全年新建口袋公园12座，改造背街小巷7条。\n二、民生\n新增养老床位150张。\n"
# Another organisation's plan, worded apart from PLAN, so that neither test's upload is a copy or a version of
# the other's, whichever runs first.
REPLACED_DOC = "替换测试镇2024年工作要点.txt"
REPLACED_PLAN = ("替换测试镇2024年工作要点\n一、乡村振兴\n（一）建成高标准农田900亩，修缮农村公路14公里。\n"
                 "二、社会事业\n（一）开办老年助餐点6个。\n")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("collab")) as url:
        yield url


@pytest.fixture(scope="module")
def browser(app_url):
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def new_page(browser, app_url) -> Page:
    return open_app(browser, app_url, viewport={"width": 1400, "height": 1100})


def docs_tab(page: Page) -> None:
    page.get_by_role("tab", name="文档").click()


def test_a_second_page_sees_the_upload_deletes_it_and_restores_it(browser, app_url, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    first, second = new_page(browser, app_url), new_page(browser, app_url)     # both open before the upload
    path = tmp_path / DOC
    path.write_text(PLAN, encoding="utf-8")

    docs_tab(first)
    upload(first, path)
    expect(first.locator("#upload-status .ok")).to_contain_text(DOC, timeout=60_000)
    expect(first.locator("#docs-table")).to_contain_text(DOC, timeout=INDEX_TIMEOUT_MS)

    second.reload()
    expect(second.locator("#how-to")).to_contain_text("怎么问")
    docs_tab(second)
    expect(second.locator("#docs-table")).to_contain_text(DOC, timeout=30_000)
    select_document(second, DOC)
    second.locator("#delete-confirm input[type=checkbox]").check()
    second.locator("#delete-btn").click()
    expect(second.locator("#manage-status .ok")).to_contain_text("回收站", timeout=60_000)
    expect(second.locator("#manage-status")).not_to_contain_text("not in the list")
    expect(second.locator("#docs-table")).not_to_contain_text(DOC, timeout=INDEX_TIMEOUT_MS)
    second.screenshot(path=str(SCREENSHOTS / "collab-01-deleted.png"), full_page=True)

    second.locator("#trash").get_by_text("回收站").first.click()
    expect(second.locator("#trash-table")).to_contain_text(DOC, timeout=30_000)
    second.locator("#trash-select input").click()
    second.get_by_role("option", name=DOC).first.click()
    second.locator("#restore-btn").click()
    expect(second.locator("#trash-status .ok")).to_contain_text(f"已恢复 {DOC}", timeout=60_000)
    expect(second.locator("#docs-table")).to_contain_text(DOC, timeout=INDEX_TIMEOUT_MS)
    # The first page learns of both changes without reloading (its lists follow the corpus version).
    expect(first.locator("#docs-table")).to_contain_text(DOC, timeout=INDEX_TIMEOUT_MS)

    second.locator("#audit").get_by_text("操作记录").first.click()
    audit = second.locator("#audit-table")
    for action in ("上传", "删除", "恢复"):
        expect(audit).to_contain_text(action)
    second.screenshot(path=str(SCREENSHOTS / "collab-02-restored.png"), full_page=True)


def test_a_same_name_upload_asks_before_replacing_and_an_identical_copy_is_refused(browser, app_url, tmp_path):
    page = new_page(browser, app_url)
    docs_tab(page)
    original = tmp_path / "original" / REPLACED_DOC
    original.parent.mkdir()
    original.write_text(REPLACED_PLAN, encoding="utf-8")
    upload(page, original)
    expect(page.locator("#upload-status .ok")).to_contain_text(REPLACED_DOC, timeout=60_000)
    expect(page.locator("#docs-table")).to_contain_text(REPLACED_DOC, timeout=INDEX_TIMEOUT_MS)

    corrected = tmp_path / REPLACED_DOC
    corrected.write_text(REPLACED_PLAN.replace("900亩", "950亩"), encoding="utf-8")
    upload(page, corrected)
    expect(page.locator("#upload-status .warn")).to_contain_text("替换已有文档？", timeout=60_000)
    page.locator("#replace-yes").click()
    expect(page.locator("#upload-status .ok")).to_contain_text("已替换", timeout=60_000)

    copy = tmp_path / "另一个名字.txt"
    copy.write_text(REPLACED_PLAN.replace("900亩", "950亩"), encoding="utf-8")
    upload(page, copy)
    expect(page.locator("#upload-status .error")).to_contain_text("内容完全相同", timeout=60_000)
    expect(page.locator("#upload-status .error")).to_contain_text(REPLACED_DOC)
    page.screenshot(path=str(SCREENSHOTS / "collab-03-duplicate.png"), full_page=True)


def test_a_reader_can_ask_but_sees_no_editing_controls(browser, tmp_path):
    with running_app(tmp_path, {"APP_USERS": "ed:pw-ed-1:editor,rita:pw-rita-2:reader"}) as url:
        page = browser.new_context(locale="zh-CN").new_page()
        page.goto(url)
        page.locator("input[type=text], input:not([type])").first.fill("rita")
        page.locator("input[type=password]").fill("pw-rita-2")
        page.locator("input[type=password]").press("Enter")
        expect(page.locator("#how-to")).to_contain_text("怎么问", timeout=30_000)
        expect(page.locator("body")).to_have_attribute("data-app-ready", "true")       # the role is applied
        expect(page.locator("#role-note")).to_contain_text("只读")
        page.locator("#question textarea").fill("吴淞今年拆违任务多少平方米")
        page.locator("#question textarea").press("Enter")
        expect(page.locator('#chat-log .turn[data-turn="0"] .answer-fact')).to_contain_text("3万平方米", timeout=60_000)
        docs_tab(page)
        expect(page.locator("#docs-table")).to_contain_text("吴淞")
        for control in ("#upload-btn", "#delete-btn", "#save-meta", "#restore-btn", "#cancel-job"):
            expect(page.locator(control)).to_be_hidden()          # absent or invisible
        page.screenshot(path=str(SCREENSHOTS / "collab-04-reader.png"), full_page=True)
