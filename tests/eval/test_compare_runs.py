"""scripts/compare_runs.py: two evaluation runs are the same only with the same answers and rankings."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from compare_runs import differences  # noqa: E402

RUN = {"id": "q1", "question": "吴淞今年拆违任务多少平方米",
       "answer": {"text": "完成3万平方米年度拆违任务", "chunk_id": "c1", "span": [10, 23], "confidence": 0.81,
                  "fact": "3万平方米"},
       "results": {"bm25": [{"rank": 1, "chunk_id": "c1", "score": 12.5}, {"rank": 2, "chunk_id": "c2", "score": 9.0}],
                   "dense": [{"rank": 1, "chunk_id": "c2", "score": 0.91}]}}


def test_identical_runs_have_no_difference():
    assert differences({"q1": RUN}, {"q1": copy.deepcopy(RUN)}) == []


def test_a_score_below_the_tolerance_is_the_same_run():
    after = copy.deepcopy(RUN)
    after["results"]["bm25"][0]["score"] = 12.500001
    assert differences({"q1": RUN}, {"q1": after}) == []


def test_swapped_ranks_a_changed_fact_and_a_lost_question_are_named():
    after = copy.deepcopy(RUN)
    after["results"]["bm25"].reverse()
    after["answer"]["fact"] = "8万平方米"
    found = differences({"q1": RUN, "q2": RUN}, {"q1": after})
    assert "q2: only in the first run" in found
    assert any(line.startswith("q1: bm25 ranking") for line in found)
    assert any("answer fact: '3万平方米' → '8万平方米'" in line for line in found)


def test_the_script_exits_nonzero_on_a_difference(tmp_path):
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    before.write_text(json.dumps(RUN, ensure_ascii=False) + "\n", encoding="utf-8")
    changed = copy.deepcopy(RUN)
    changed["answer"] = None
    after.write_text(json.dumps(changed, ensure_ascii=False) + "\n", encoding="utf-8")
    same = subprocess.run([sys.executable, "scripts/compare_runs.py", str(before), str(before)], cwd=ROOT,
                          capture_output=True, text=True)
    different = subprocess.run([sys.executable, "scripts/compare_runs.py", str(before), str(after)], cwd=ROOT,
                               capture_output=True, text=True)
    assert same.returncode == 0 and "0 differences" in same.stdout
    assert different.returncode == 1 and "answer lost" in different.stdout
