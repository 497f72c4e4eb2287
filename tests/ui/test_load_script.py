"""A small run of scripts/load_test.py against this tree: no errors, no answer mixing two index versions.

Timings are printed (and written to artifacts/load_test.json), never asserted: they depend on the machine.
"""
import json
import os
import subprocess
import sys

import pytest

from tests.app_server import INDEX_SOURCE_ENV, ROOT

pytestmark = pytest.mark.slow


def test_a_small_load_with_an_upload_meanwhile_has_no_errors_and_no_mixed_answers(tmp_path):
    report_path = tmp_path / "load.json"
    command = [sys.executable, str(ROOT / "scripts" / "load_test.py"), "--tree", str(ROOT), "--clients", "4",
               "--questions", "5", "--rounds", "2", "--upload", "--timeout", "600", "--json", str(report_path)]
    index = os.environ.get(INDEX_SOURCE_ENV) or (ROOT / "index")
    if os.path.isdir(index):
        command += ["--index-source", str(index)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=900)
    print(finished.stdout)
    assert finished.returncode == 0, finished.stdout + finished.stderr[-3000:]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "load_test.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n",
                                                       encoding="utf-8")
    runs = {run["scenario"]: run for run in report["runs"]}
    for scenario in ("load", "load_session_per_call"):
        # 4 clients x 5 questions in each of the 2 rounds, all answered
        assert runs[scenario]["completed"] == 40 and runs[scenario]["errors"] == 0
        assert len(runs[scenario]["throughput_qps_per_round"]) == 2
    during = runs["load_during_upload"]
    assert during["errors"] == 0 and during["answers_not_from_old_or_new_index"] == 0
    assert during["upload_indexed"] and during["upload_answered"]          # the new document is answerable after
