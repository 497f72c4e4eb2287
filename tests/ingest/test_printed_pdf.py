"""A plan saved as PDF from a browser (Chromium's print to PDF), as staff do with web pages: radical code points,
lines wrapped inside item lines and the browser's time stamp and address lines, read, cleaned and answered."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from retrieval.corpus.files import load_document
from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make test installs it)")

PLAN = """<html><head><meta charset="utf-8"><style>body{font-family:"Noto Sans CJK SC";width:480px}</style></head>
<body><h2>杏林镇2024年工作要点</h2>
<p>一、优化营商环境</p>
<p>1. 全年新增市场主体850户，其中企业320户，培训创业人员30场次，服务企业满意度达到95%以上。</p>
<p>2. 完成工业总产值46.8亿元，同比增长6.2%。</p>
<p>二、改善人居环境</p>
<p>（1）完成农村户厕改造1200户，建设污水管网18公里。</p>
<p>（2）一是新建公共停车场2处；二是改造农贸市场1个。</p>
</body></html>"""


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("printed")
    page = folder / "plan.html"
    page.write_text(PLAN, encoding="utf-8")
    pdf = folder / "杏林镇2024年工作要点.pdf"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", f"--print-to-pdf={pdf}",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    return pdf


def test_a_printed_pdf_reads_as_the_plan(printed):
    text = load_document(printed).text
    lines = text.split("\n")
    assert lines[0] == "杏林镇2024年工作要点"
    assert "⼯" not in text and "⼾" not in text and "工业总产值46.8亿元" in text and "1200户" in text
    # The item line the page wrapped after a comma is one line again.
    assert any(line.startswith("1.") and line.endswith("服务企业满意度达到95%以上。") for line in lines)
    # The browser's time stamp and address lines are gone.
    assert not any("file://" in line or line.endswith("PM") or line.endswith("AM") for line in lines)


def test_facts_on_item_lines_of_a_printed_pdf_are_answered(printed, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copyfile(printed, corpus / printed.name)
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder())
    for question, fact in (("杏林镇今年农村户厕改造多少户", "1200户"), ("杏林镇工业总产值目标多少", "46.8亿元"),
                           ("杏林镇新建几处公共停车场", "2处")):
        result = engine.ask(question)
        # The item line is read and its value is the fact; whether it is shown big is the fact gate's call
        # (retrieval.answer.facts), never another value.
        assert result.answer is not None and result.answer.fact_candidate == fact, question
        assert result.answer.fact in (fact, ""), question
