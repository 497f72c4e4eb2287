"""Both evaluation sets in one command (eval.suites) and the 未找到 calibration report (eval.calibrate), on a fake engine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval import calibrate, suites
from eval.calibrate import Outcome, best, outcomes, report, sweep_row, thresholds
from eval.suites import Suite, SuiteError, corpus_sources, run_suites, sync_corpus
from tests.fakes import FakeEngine

SEED_DOC = "甲街道2021年工作计划.txt"
ADDED_DOC = "乙镇2020年工作总结.txt"
SEED_TEXT = "甲街道2021年工作计划\n一、城市建设\n新建口袋公园5个，改造绿地3万平方米。\n二、社会事业\n开办爱心暑托班2期。\n"
ADDED_TEXT = "乙镇2020年工作总结\n一、生态建设\n乙镇新建口袋公园8个。\n完成绿化改造1万平方米。\n二、产业发展\n引进企业近600家。\n"

DEV = [
    {"id": "d1", "question": "甲街道今年新建口袋公园多少个", "doc": SEED_DOC, "type": "number",
     "evidence": ["新建口袋公园5个"], "answer": "5个"},
    {"id": "d2", "question": "甲街道的GDP目标是多少", "doc": None, "type": "unanswerable", "evidence": [], "answer": None},
]
WEB = [
    {"id": "w1", "question": "乙镇去年新建口袋公园多少个", "doc": ADDED_DOC, "type": "number",
     "evidence": ["乙镇新建口袋公园8个"], "answer": "8个"},
    {"id": "w2", "question": "乙镇引进企业多少家", "doc": ADDED_DOC, "type": "number",
     "evidence": ["引进企业近600家"], "answer": "600家"},
    {"id": "w3", "question": "改造绿地多少平方米", "doc": None, "type": "unanswerable", "evidence": [], "answer": None},
    {"id": "w4", "question": "改造绿地多少平方米呢", "doc": ADDED_DOC, "type": "number",
     "evidence": ["完成绿化改造1万平方米"], "answer": "1万平方米"},
]


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def sets(tmp_path):
    """A one-document seed corpus with dev questions, and a web set adding one document of another organisation."""
    seed, added = tmp_path / "seed", tmp_path / "web" / "docs"
    seed.mkdir()
    added.mkdir(parents=True)
    (seed / SEED_DOC).write_text(SEED_TEXT, encoding="utf-8")
    (seed / "metadata.yaml").write_text(f"{SEED_DOC}:\n  aliases: [甲]\n", encoding="utf-8")
    (added / ADDED_DOC).write_text(ADDED_TEXT, encoding="utf-8")
    return [
        Suite("dev", write_jsonl(tmp_path / "dev.jsonl", DEV), seed, tmp_path / "dev-index"),
        Suite("web-dev", write_jsonl(tmp_path / "web" / "questions.jsonl", WEB), tmp_path / "gen" / "corpus",
              tmp_path / "gen" / "index", generated_from=(seed, added)),
    ]


def fake_open(corpus_dir, index_dir):
    return FakeEngine(corpus_dir)


# --- the generated corpus ----------------------------------------------------------------------

def test_sync_writes_only_what_changed_and_drops_stale_files(tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    (source / "a.txt").write_text("一", encoding="utf-8")
    (source / "b.txt").write_text("二", encoding="utf-8")

    assert sync_corpus(sorted(source.iterdir()), target) == ["a.txt", "b.txt"]
    assert sync_corpus(sorted(source.iterdir()), target) == []              # unchanged: nothing rewritten
    (source / "b.txt").write_text("二二", encoding="utf-8")
    (target / "old.txt").write_text("旧", encoding="utf-8")
    assert sync_corpus(sorted(source.iterdir()), target) == ["b.txt", "old.txt"]
    assert sorted(p.name for p in target.iterdir()) == ["a.txt", "b.txt"]
    assert (target / "b.txt").read_text(encoding="utf-8") == "二二"


def test_generated_corpus_takes_every_seed_file_and_only_the_added_txt(sets, tmp_path):
    seed, added = sets[1].generated_from
    (added / "notes.md").write_text("不是文档", encoding="utf-8")
    assert [p.name for p in corpus_sources(seed, added)] == ["metadata.yaml", SEED_DOC, ADDED_DOC]


def test_a_corpus_can_be_generated_from_several_folders(sets, tmp_path):
    seed, added = sets[1].generated_from
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "丙省2026年政府工作报告.txt").write_text("丙省2026年政府工作报告", encoding="utf-8")
    assert [p.name for p in corpus_sources(seed, added, reports)] == [
        "metadata.yaml", SEED_DOC, ADDED_DOC, "丙省2026年政府工作报告.txt"]
    (reports / ADDED_DOC).write_text("同名", encoding="utf-8")
    with pytest.raises(SuiteError, match=f"both hold {ADDED_DOC}"):
        corpus_sources(seed, added, reports)


def test_the_default_sets_are_dev_web_dev_and_prov_dev_on_the_seeds_and_web_documents(tmp_path):
    dev, web, prov = suites.default_suites(tmp_path / "i", tmp_path / "w", tmp_path / "web", tmp_path / "seed",
                                           provdev_dir=tmp_path / "p", prov_dev=tmp_path / "prov")
    assert (dev.name, web.name, prov.name) == ("dev", "web-dev", "prov-dev")
    assert prov.generated_from == (tmp_path / "seed", tmp_path / "web" / "docs", tmp_path / "prov" / "docs")
    assert prov.questions == tmp_path / "prov" / "questions.jsonl" and prov.index == tmp_path / "p" / "index"


def test_a_name_in_both_sources_is_refused(sets):
    seed, added = sets[1].generated_from
    (added / SEED_DOC).write_text("同名", encoding="utf-8")
    with pytest.raises(SuiteError, match=f"both hold {SEED_DOC}"):
        corpus_sources(seed, added)


# --- both sets, one summary ----------------------------------------------------------------------

def test_both_sets_are_scored_and_summarised(sets, tmp_path):
    out = tmp_path / "out"
    rows, results = run_suites(sets, out, k=5, open_engine=fake_open)

    dev, web = rows
    # dev: d1 answered with fact 5个 from 甲's plan; d2 (unanswerable) says 未找到.
    assert (dev["answer@1"], dev["fact@1"], dev["unanswerable_flagged"], dev["false_alarms"], dev["wrong_org"]) == \
        (1.0, 1.0, 1, 0, 0)
    # web-dev: w1 and w2 right (近600家 = 600家); w4 is answered from 甲's plan with 5个: wrong fact, wrong
    # organisation; w3 (unanswerable) is answered.
    assert web["answer@1"] == web["fact@1"] == pytest.approx(2 / 3, abs=1e-4)
    assert (web["unanswerable_flagged"], web["unanswerable_total"], web["false_alarms"]) == (0, 1, 0)
    assert web["wrong_org_ids"] == ["w4"] and web["answered_unanswerable_ids"] == ["w3"]
    assert {p.name for p in (tmp_path / "gen" / "corpus").iterdir()} == {SEED_DOC, "metadata.yaml", ADDED_DOC}

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert list(summary["sets"]) == ["dev", "web-dev"]
    assert summary["sets"]["web-dev"]["wrong_org"] == 1
    for name in ("dev", "web-dev"):
        metrics = json.loads((out / name / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["fact@1"] == summary["sets"][name]["fact@1"]
        assert metrics["timing"]["open_ms"] is not None
        assert len((out / name / "runs.jsonl").read_text(encoding="utf-8").splitlines()) == len(results[name][1])

    table = suites.format_table(rows, k=5).splitlines()
    assert table[0].split()[:6] == ["set", "R@1", "R@5", "MRR@5", "answer@1", "fact@1"]
    assert table[1].split()[0] == "dev" and table[2].split()[0] == "web-dev"
    # fact@1; a fact shown for all 3 answerable questions, a wrong one for 1 (w4); unanswerable, false alarms, wrong-org
    assert table[2].split()[5:10] == ["0.667", "1.000", "0.333", "0/1", "0"]
    assert table[2].split()[10:12] == ["1", "0"]                           # wrong-org (w3 answered by 乙镇), wrong-year


def test_a_set_that_cannot_run_is_reported_and_the_other_still_runs(sets, tmp_path):
    missing = Suite("web-dev", sets[1].questions, sets[1].corpus, sets[1].index,
                    generated_from=(sets[0].corpus, tmp_path / "nowhere"))
    rows, results = run_suites([sets[0], missing], tmp_path / "out", k=5, open_engine=fake_open)
    assert rows[0]["fact@1"] == 1.0 and list(results) == ["dev"]
    assert f"directory {tmp_path / 'nowhere'} not found" in rows[1]["error"]
    assert "web-dev: not run: directory" in suites.format_table(rows, k=5)


def test_cli_rejects_an_unknown_set(capsys):
    assert suites.main(["--sets", "dev,test"]) == 2
    assert "unknown set(s) test" in capsys.readouterr().err


# --- calibration --------------------------------------------------------------------------------

CAL_GOLD = [
    {"id": "a", "type": "number", "answer": "5个"},
    {"id": "b", "type": "number", "answer": "3万平方米"},
    {"id": "c", "type": "unanswerable", "answer": None},
    {"id": "d", "type": "list", "answer": None},
    {"id": "e", "type": "number", "answer": "600家"},
]
CAL_RUNS = [
    # a: shown answer, no best_guess field: the answer is the candidate.
    {"id": "a", "answer": {"text": "新建口袋公园5个", "fact": "5个", "confidence": 0.8}},
    {"id": "b", "answer": None, "best_guess": {"text": "拆违5万平方米", "fact": "5万平方米", "confidence": 0.4,
                                               "source": "best_guess"}},
    {"id": "c", "answer": None, "best_guess": {"text": "…", "fact": "", "confidence": 0.3, "source": "best_guess"}},
    {"id": "d", "answer": {"text": "…", "fact": "", "confidence": 0.6}},
    {"id": "e", "answer": None, "best_guess": None},                        # nothing to show at any threshold
]


def test_outcomes_judge_each_candidate():
    judged = {o.id: o for o in outcomes("dev", CAL_RUNS, CAL_GOLD)}
    assert [judged[i].kind for i in "abcde"] == ["right", "wrong", "unanswerable", "unscored", "wrong"]
    assert judged["a"].confidence == 0.8 and judged["a"].sentence_right
    assert judged["b"].source == "best_guess" and judged["e"].confidence is None


def test_sweep_by_hand():
    judged = outcomes("dev", CAL_RUNS, CAL_GOLD)
    rows = {t: sweep_row(judged, t) for t in thresholds(0.25)}
    assert list(rows) == [0.0, 0.25, 0.5, 0.75, 1.0]
    # 0.0: a, b, c, d shown; e has no candidate (a false alarm):
    # 1 right - 1 wrong - 1 unanswerable answered - 1 false alarm = -2
    assert rows[0.0] == {"threshold": 0.0, "right_kept": 1, "right_stopped": 0, "wrong_shown": 1, "wrong_stopped": 1,
                         "unanswerable_flagged": 0, "unanswerable_answered": 1, "false_alarms": 1,
                         "sentence_right_kept": 1, "score": -2}
    # 0.5: b (0.4) and c (0.3) stopped; false alarms b and e: 1 - 0 - 0 - 2 = -1
    assert (rows[0.5]["wrong_stopped"], rows[0.5]["unanswerable_flagged"], rows[0.5]["false_alarms"], rows[0.5]["score"]) \
        == (2, 1, 2, -1)
    assert (rows[0.75]["false_alarms"], rows[0.75]["score"]) == (3, -2)     # d (0.6) silenced too
    assert (rows[1.0]["right_kept"], rows[1.0]["false_alarms"], rows[1.0]["score"]) == (0, 4, -4)
    assert best(list(rows.values()))["threshold"] == 0.5


def test_thresholds_cover_zero_to_one():
    assert thresholds(0.05)[:3] == [0.0, 0.05, 0.1] and thresholds(0.05)[-1] == 1.0 and len(thresholds(0.05)) == 21
    with pytest.raises(ValueError, match="step must be in"):
        thresholds(0)


def test_report_sweeps_all_sets_together_and_each_alone():
    dev = outcomes("dev", CAL_RUNS, CAL_GOLD)
    web = [Outcome("web-dev", "x", "right", 0.2, True, "best_guess")]
    result = report({"dev": dev, "web-dev": web}, step=0.25)
    assert result["by_set"]["dev"]["best"]["threshold"] == 0.5
    assert result["by_set"]["web-dev"]["best"]["threshold"] == 0.0          # its one right fact has confidence 0.2
    # together: at 0.0, a and x kept, b and c shown, e silenced: 2 - 1 - 1 - 1 = -1; at 0.5 x, b and e are
    # silenced and a kept: 1 - 0 - 0 - 3 = -2; at 0.25 x is silenced while b and c are still shown: -3
    assert result["best"]["threshold"] == 0.0 and result["best"]["score"] == -1
    assert result["candidates_from_best_guess"] == 3
    assert "← best" in calibrate.format_report(result).splitlines()[2]      # the 0.0 row


def test_calibrate_reads_the_runs_of_an_earlier_suites_run(sets, tmp_path, capsys):
    out = tmp_path / "out"
    run_suites(sets, out, k=5, open_engine=fake_open)

    assert calibrate.main(["--runs", str(out), "--step", "0.5"]) == 0

    result = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    # The fake engine gives every answer confidence 0.8 and no best_guess: d2 and w3 have none / w3 is shown.
    assert [row["threshold"] for row in result["rows"]] == [0.0, 0.5, 1.0]
    assert result["rows"][0]["right_kept"] == 3 and result["rows"][0]["wrong_shown"] == 1   # d1, w1, w2; w4
    assert result["rows"][0]["unanswerable_answered"] == 1                                   # w3
    assert result["rows"][2]["right_kept"] == 0 and result["rows"][2]["unanswerable_flagged"] == 2
    assert result["best"]["threshold"] == 0.0                               # score 3 - 1 - 1 = 1 beats 0
    assert (out / "calibration.md").read_text(encoding="utf-8").startswith("# 未找到")
    assert "No run carried a best_guess" in capsys.readouterr().out
