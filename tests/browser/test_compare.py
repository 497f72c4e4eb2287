"""A comparison asked in a real headless Chromium: the table (with a 未找到 row), the bar chart, the CSV download,
and 查看原文 opening a row's passage."""
from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.app_server import running_app

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000
QUESTION = "各街道今年拆违任务分别是多少？"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("compare-browser")) as url:
        yield url


def test_a_comparison_shows_a_table_a_chart_and_a_download(app_url, tmp_path):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, locale="zh-CN")
            page.goto(app_url)
            expect(page.locator("#how-to")).to_contain_text("怎么问")
            page.locator("#question textarea").fill(QUESTION)
            page.locator("#ask-btn").click()

            block = page.locator('#chat-log .turn[data-turn="0"] .compare-block')
            expect(block).to_be_visible(timeout=TIMEOUT_MS)
            # Every 街道 of the corpus is a row; 吴淞's own plan gives 3万平方米, the others say 未找到.
            wusong = block.locator('tr.cmp-row[data-organisation="吴淞"]')
            expect(wusong).to_have_attribute("data-cell-state", "found")
            expect(wusong.locator(".cmp-value")).to_have_text("3万平方米")
            missing = block.locator('tr.cmp-row[data-cell-state="missing"]')
            expect(missing.first).to_contain_text("未找到")
            assert block.locator("tr.cmp-row").count() >= 3
            assert "开发区" not in block.locator("tbody").inner_text()     # another level is not a 街道

            expect(page.locator("#compare-plot")).to_be_visible()
            expect(page.locator("#compare-plot canvas, #compare-plot svg").first).to_be_visible(timeout=TIMEOUT_MS)
            download_button = page.locator("#compare-csv")
            expect(download_button).to_be_visible()
            with page.expect_download(timeout=TIMEOUT_MS) as download_info:
                download_button.click()
            saved = tmp_path / "table.csv"
            download_info.value.save_as(saved)
            rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
            assert rows[0][0] == "单位" and any(row[0] == "吴淞" and row[2] == "3万平方米" for row in rows[1:])
            assert any(row[2] == "未找到" for row in rows[1:])

            # 查看原文 opens 吴淞's document at the row's passage, the value marked.
            wusong.locator("button.open-doc").click()
            view = page.locator("#doc-view .doc-view")
            expect(view).to_have_attribute("data-doc-id", "吴淞街道2021年工作要点.txt", timeout=TIMEOUT_MS)
            expect(view.locator("mark.fact").first).to_contain_text("3万平方米")

            # A normal question afterwards is answered as before, and the comparison tools go away.
            page.locator("#question textarea").fill("吴淞今年拆违任务多少平方米")
            page.locator("#ask-btn").click()
            expect(page.locator('#chat-log .turn[data-turn="1"] .answer-block')).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.locator("#compare-tools")).to_be_hidden()
        finally:
            browser.close()
