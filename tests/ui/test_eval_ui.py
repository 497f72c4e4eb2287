"""The evaluation tab shows fact@1 beside answer@1 and names answers taken from another organisation's file."""
from __future__ import annotations

import shutil

from tests.fakes import FakeEngine
from tests.eval.test_eval_suites import ADDED_DOC, ADDED_TEXT, SEED_DOC, SEED_TEXT, WEB
from ui import evaluation


def test_report_shows_fact_at_1_and_wrong_organisation_answers(tmp_path):
    (tmp_path / SEED_DOC).write_text(SEED_TEXT, encoding="utf-8")
    (tmp_path / ADDED_DOC).write_text(ADDED_TEXT, encoding="utf-8")
    # The fake answers w4 (asked of 乙镇) from 甲's plan: wrong sentence, wrong fact, wrong organisation.
    report = evaluation.run(FakeEngine(tmp_path), WEB)

    assert "answer@1 = **0.667**" in report.summary_markdown
    assert "fact@1 = **0.667**" in report.summary_markdown
    assert "答案出自其他单位文件的 **1** 题（w4）" in report.summary_markdown
    headers, rows = report.type_table
    assert headers[-2:] == ["answer@1", "fact@1"]
    assert rows == [["数字", 3, *rows[0][2:-2], 0.6667, 0.6667]]
    assert "答案不对；答案出自其他单位（甲）的文件" in report.missed_html
    assert "（高亮：5个）" in report.missed_html


def test_a_right_sentence_with_a_wrong_fact_is_a_miss():
    gold = {"id": "q", "question": "拆违多少", "type": "number", "evidence": ["完成3万平方米拆违"], "answer": "3万平方米"}
    results = [{"rank": 1, "text": "完成3万平方米拆违", "title": "T", "section": "S", "doc": "d"}]
    run = {"id": "q", "answer": {"text": "完成3万平方米拆违", "fact": "拆违"},
           "results": {"bm25": results, "dense": results, "hybrid": results}}
    assert evaluation.missed([run], [gold]) == [(gold, run, ["答案句对，但高亮的事实不对"])]
    right = {**run, "answer": {"text": "完成3万平方米拆违", "fact": "三万平方米"}}
    assert evaluation.missed([right], [gold]) == []
