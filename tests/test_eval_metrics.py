"""Evaluation metrics computed by hand, and the `python -m eval` runner against a fake engine."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eval.metrics import (
    aggregate,
    answer_hit,
    fact_hit,
    is_relevant,
    mrr_at_k,
    ndcg_at_k,
    normalize,
    normalize_fact,
    percentile,
    recall_at_k,
    retrieval_scores,
)
from eval.runner import evaluate, load_questions, main
from retrieval.types import Answer, AskResult, Chunk, Document, DocumentMeta, Hit, QueryAnalysis

ROOT = Path(__file__).resolve().parents[1]

# --- metrics by hand ---------------------------------------------------------------------------

OTHER = "加强社区治理，推进垃圾分类。"
NUMBER_GOLD = {"id": "q1", "type": "number", "evidence": ["完成3万平方米年度拆违任务"], "answer": "3万平方米"}
CROSS_GOLD = {"id": "q2", "type": "cross", "evidence": ["完成3万平方米年度拆违任务", "拆违5万平方米以上"], "answer": None}
LIST_GOLD = {"id": "q3", "type": "list", "evidence": ["用好随申码、测温仪", "疫情防控机器人"], "answer": None}
UNANSWERABLE_GOLD = {"id": "q4", "type": "unanswerable", "evidence": [], "answer": None}

# q1: relevant only at rank 2 (written with an ASCII and a full-width space) and again at rank 4.
NUMBER_RANKING = [OTHER, "全年 完成3万\u3000平方米年度拆违任务。", OTHER, "完成3万平方米年度拆违任务"]
# q2: first evidence string at rank 1, second at rank 4.
CROSS_RANKING = ["完成3万平方米年度拆违任务。", OTHER, OTHER, "旧厂房改造10万平方米以上,拆违5万平方米以上"]
# q3: one passage holds both evidence strings, at rank 1.
LIST_RANKING = ["用好随申码、测温仪，利用人工智能“疫情防控机器人”。", OTHER, OTHER, OTHER]

LOG2_3 = 1.584962500721156   # log2(3): discount of rank 2
LOG2_5 = 2.321928094887362   # log2(5): discount of rank 4


def test_normalize_drops_every_kind_of_whitespace():
    assert normalize(" 3万\u3000平方米\t\n\xa0 ") == "3万平方米"


def test_relevance_ignores_whitespace_on_both_sides():
    assert is_relevant("全年完成 3 万平方米年度拆违任务", ["完成3万平方米\u3000年度拆违任务"])
    assert is_relevant("其他内容", ["无关", "其他"])
    assert not is_relevant("完成5万平方米年度拆违任务", ["完成3万平方米年度拆违任务"])
    assert not is_relevant("任何内容", [])


def test_number_question_by_hand():
    assert recall_at_k(NUMBER_RANKING, NUMBER_GOLD, 1) == 0.0
    assert recall_at_k(NUMBER_RANKING, NUMBER_GOLD, 3) == 1.0
    assert mrr_at_k(NUMBER_RANKING, NUMBER_GOLD, 10) == 0.5                 # first relevant at rank 2
    assert mrr_at_k(NUMBER_RANKING, NUMBER_GOLD, 1) == 0.0                  # ... which is outside the top 1
    # DCG = 1/log2(3) (rank 2; rank 4 repeats the same evidence, no gain); ideal = min(10, 1 evidence) -> 1/log2(2) = 1
    assert ndcg_at_k(NUMBER_RANKING, NUMBER_GOLD, 10) == pytest.approx(1 / LOG2_3)      # 0.63093


def test_cross_question_recall_is_the_share_of_evidence_found():
    assert recall_at_k(CROSS_RANKING, CROSS_GOLD, 1) == 0.5                 # 1 of 2 evidence strings
    assert recall_at_k(CROSS_RANKING, CROSS_GOLD, 3) == 0.5
    assert recall_at_k(CROSS_RANKING, CROSS_GOLD, 5) == 1.0                 # rank 4 brings the second
    assert mrr_at_k(CROSS_RANKING, CROSS_GOLD, 10) == 1.0
    # DCG = 1 + 1/log2(5); ideal = min(10, 2 evidence) relevant on top = 1 + 1/log2(3)
    assert ndcg_at_k(CROSS_RANKING, CROSS_GOLD, 10) == pytest.approx((1 + 1 / LOG2_5) / (1 + 1 / LOG2_3))  # 0.87722


def test_list_question_with_both_items_in_one_passage():
    assert recall_at_k(LIST_RANKING, LIST_GOLD, 1) == 1.0                   # not cross: any relevant passage
    assert mrr_at_k(LIST_RANKING, LIST_GOLD, 10) == 1.0
    # one relevant passage: DCG = 1; ideal counts 2 evidence strings: 1 + 1/log2(3)
    assert ndcg_at_k(LIST_RANKING, LIST_GOLD, 10) == pytest.approx(1 / (1 + 1 / LOG2_3))  # 0.61315


def test_unanswerable_is_left_out_of_retrieval_metrics():
    assert recall_at_k(NUMBER_RANKING, UNANSWERABLE_GOLD, 3) is None
    assert mrr_at_k(NUMBER_RANKING, UNANSWERABLE_GOLD, 10) is None
    assert ndcg_at_k(NUMBER_RANKING, UNANSWERABLE_GOLD, 10) is None
    assert retrieval_scores(NUMBER_RANKING, UNANSWERABLE_GOLD) is None


def test_aggregate_means_over_scored_questions_and_keeps_each_score():
    summary = aggregate({
        "q1": retrieval_scores(NUMBER_RANKING, NUMBER_GOLD),
        "q2": retrieval_scores(CROSS_RANKING, CROSS_GOLD),
        "q3": retrieval_scores(LIST_RANKING, LIST_GOLD),
        "q4": retrieval_scores(NUMBER_RANKING, UNANSWERABLE_GOLD),
    })
    assert summary.questions == 3                                           # q4 left out, not counted as 0
    assert set(summary.mean) == {"recall@1", "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10"}
    assert summary.mean["recall@1"] == pytest.approx(0.5)                   # (0 + 0.5 + 1) / 3
    assert summary.mean["recall@3"] == pytest.approx(2.5 / 3)               # (1 + 0.5 + 1) / 3 = 0.83333
    assert summary.mean["recall@5"] == pytest.approx(1.0)                   # (1 + 1 + 1) / 3
    assert summary.mean["mrr@10"] == pytest.approx(2.5 / 3)                 # (0.5 + 1 + 1) / 3 = 0.83333
    assert summary.mean["ndcg@10"] == pytest.approx(0.707097, abs=1e-6)     # (0.63093 + 0.87722 + 0.61315) / 3
    assert summary.individual_scores["q2"]["recall@1"] == 0.5
    assert "q4" not in summary.individual_scores


def test_recall_cutoffs_follow_k():
    assert set(retrieval_scores(NUMBER_RANKING, NUMBER_GOLD, k=4)) == {"recall@1", "recall@3", "recall@4", "mrr@4", "ndcg@4"}


def test_answer_hit():
    assert answer_hit("完成 3万平方米\u3000年度拆违任务", "3万平方米")
    assert not answer_hit("完成5万平方米年度拆违任务", "3万平方米")
    assert not answer_hit(None, "3万平方米")


@pytest.mark.parametrize("fact, gold", [
    ("3万平方米", "3万平方米"),
    (" 3万\u3000平方米 ", "3万平方米"),                 # whitespace
    ("近600家", "600家"),                                # a qualifier before the number
    ("600余家", "600家"),                                # ... inside it
    ("3万多平方米", "3万平方米"),
    ("超过5万平方米以上", "5万平方米"),                  # before and after
    ("约1.5亿元左右", "1.5亿元"),
    ("三万平方米", "3万平方米"),                         # a Chinese numeral equal to the Arabic one
    ("十余个", "10个"),
    ("二〇二一年", "2021年"),
    ("百分之五十", "50%"),
    ("１，０３１家", "1031家"),                          # full-width digits and comma, thousands separator
    ("“吴淞面塑”。", "吴淞面塑"),                        # quotes and a full stop around the fact
    ("50%", "５０％"),
])
def test_fact_hit_equal_up_to_form_and_qualifiers(fact, gold):
    assert fact_hit(fact, gold)


@pytest.mark.parametrize("fact, gold", [
    ("30家", "600家"),                                   # another number
    ("600", "600家"),                                    # the unit is part of the fact
    ("5万平方米", "3万平方米"),
    ("3万平方米", "3平方米"),                            # the magnitude counts
    ("50", "50%"),                                       # % is not punctuation to strip
    ("", "600家"),                                       # no fact highlighted
    (None, "600家"),
])
def test_fact_hit_rejects_other_facts(fact, gold):
    assert not fact_hit(fact, gold)


def test_fact_form_keeps_names_and_non_numbers():
    assert normalize_fact("万里街道") == "万里街道"                     # 万 without a digit is no number
    assert normalize_fact("十三五规划") == "十三五规划"                 # not one number: left as written
    assert normalize_fact("共建共治") == "共建共治"                     # 共 is a qualifier only before a number


def test_percentile_interpolates_like_numpy():
    assert percentile([10, 20, 30, 40], 50) == 25.0                         # halfway between 20 and 30
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)          # position 0.95 * 3 = 2.85 -> 30 + 0.85 * 10


# --- runner against a fake engine --------------------------------------------------------------

WUSONG = "吴淞街道2021年工作要点.txt"
ZONE = "某开发区2020年工作总结和2021年工作思路.txt"
CHUNK_TEXTS = {
    "c1": (WUSONG, ("三、城市管理",), "完成3万平方米年度拆违任务，持续推进无违建居村创建。"),
    "c2": (WUSONG, ("四、社会事业",), "抓好“吴淞面塑”非遗传承普及。"),
    "c3": (ZONE, ("二、2021年工作思路",), "旧厂房改造10万平方米以上,拆违5万平方米以上。"),
    "c4": (ZONE, ("一、2020年工作总结",), "首个百亿项目海芯微正式落地开工建设。"),
}
GOLD = [
    {"id": "g1", "question": "吴淞今年拆违任务多少平方米？", "doc": WUSONG, "type": "number",
     "evidence": ["完成3万平方米年度拆违任务"], "answer": "3万平方米"},
    {"id": "g2", "question": "吴淞和开发区的拆违目标分别是多少？", "doc": [WUSONG, ZONE], "type": "cross",
     "evidence": ["完成3万平方米年度拆违任务", "拆违5万平方米以上"], "answer": None},
    {"id": "g3", "question": "开发区第一个百亿项目是哪个？", "doc": ZONE, "type": "entity",
     "evidence": ["首个百亿项目海芯微"], "answer": "海芯微"},
    {"id": "g4", "question": "吴淞明年的GDP目标是多少？", "doc": None, "type": "unanswerable",
     "evidence": [], "answer": None},
]
# question -> (bm25, dense, hybrid rankings, answer chunk or None)
PLAN = {
    "g1": (["c1", "c3", "c2", "c4"], ["c3", "c1", "c2", "c4"], ["c1", "c3", "c2", "c4"], "c1"),
    "g2": (["c3", "c1", "c2", "c4"], ["c2", "c4", "c1", "c3"], ["c1", "c2", "c3", "c4"], "c1"),
    "g3": (["c4", "c1", "c2", "c3"], ["c4", "c2", "c1", "c3"], ["c4", "c1", "c2", "c3"], None),
    "g4": (["c2", "c1", "c3", "c4"], ["c1", "c2", "c3", "c4"], ["c1", "c2", "c3", "c4"], None),
}


class FakeEngine:
    """The SearchEngine contract over four hand-made chunks, with scripted rankings.

    plan: gold id -> (bm25, dense, hybrid rankings, answer chunk or None); facts: gold id -> highlighted fact.
    """

    def __init__(self, plan=PLAN, facts=None):
        texts = {WUSONG: "", ZONE: ""}
        self.chunks = {}
        for chunk_id, (doc_id, section_path, text) in CHUNK_TEXTS.items():
            start = len(texts[doc_id])
            texts[doc_id] += text
            self.chunks[chunk_id] = Chunk(chunk_id, doc_id, section_path, (start, start + len(text)), text)
        self.documents = {
            doc_id: Document(DocumentMeta(doc_id, doc_id.removesuffix(".txt"), doc_id[:2], (), (2021,), "要点", "0" * 64), text)
            for doc_id, text in texts.items()
        }
        self.plans = {gold["question"]: plan[gold["id"]] for gold in GOLD}
        self.facts = {gold["question"]: (facts or {}).get(gold["id"], "") for gold in GOLD}
        self.asked = []

    def ask(self, question: str, k: int = 10) -> AskResult:
        self.asked.append(question)
        *rankings, answer_chunk = self.plans[question]
        legs = {
            leg: tuple(Hit(chunk_id, 1.0 / rank, rank) for rank, chunk_id in enumerate(ranking[:k], start=1))
            for leg, ranking in zip(("bm25", "dense", "hybrid"), rankings)
        }
        answer = None
        if answer_chunk:
            chunk = self.chunks[answer_chunk]
            answer = Answer(chunk.text[:14], answer_chunk, (chunk.char_span[0], chunk.char_span[0] + 14), 0.9,
                            self.facts[question])
        return AskResult(question, QueryAnalysis(question), answer, legs["hybrid"], legs,
                         chunks=self.chunks, documents=getattr(self, "documents", {}))


def write_gold(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_evaluate_scores_each_leg_answers_and_unanswerable():
    engine = FakeEngine()
    metrics, runs = evaluate(engine, GOLD, k=10, record=lambda engine, result, question_id: {"id": question_id})

    assert len(engine.asked) == 1 + len(GOLD)                               # one warm-up, then one call per question
    assert [run["id"] for run in runs] == ["g1", "g2", "g3", "g4"]
    assert metrics["questions"] == 4
    hybrid, dense, bm25 = (metrics["legs"][leg] for leg in ("hybrid", "dense", "bm25"))
    assert hybrid["recall@1"] == pytest.approx(0.8333, abs=1e-4)            # (1 + 0.5 + 1) / 3, g4 left out
    assert hybrid["recall@3"] == 1.0                                        # g2 finds c3 at rank 3
    assert dense["recall@1"] == pytest.approx(0.3333, abs=1e-4)             # (0 + 0 + 1) / 3
    assert dense["mrr@10"] == pytest.approx(0.6111, abs=1e-4)               # (1/2 + 1/3 + 1) / 3
    assert bm25["recall@1"] == pytest.approx(0.8333, abs=1e-4)              # (1 + 0.5 + 1) / 3
    assert metrics["hybrid_by_type"]["cross"] == {
        "questions": 1, "recall@1": 0.5, "recall@3": 1.0, "recall@5": 1.0, "recall@10": 1.0, "mrr@10": 1.0,
        "ndcg@10": pytest.approx(0.9197, abs=1e-4),                         # (1 + 1/log2(4)) / (1 + 1/log2(3))
    }
    assert set(metrics["hybrid_by_type"]) == {"number", "cross", "entity"}
    assert metrics["answer@1"] == 0.5                                       # g1 hit, g3 answered None = miss
    assert metrics["answer_questions"] == 2
    assert metrics["unanswerable"] == {"total": 1, "flagged": 1, "false_alarms": 1}   # g4 flagged, g3 false alarm
    assert metrics["chunks"] == {"count": 4, "mean_chars": 20.8, "max_chars": 26}     # (26 + 15 + 24 + 18) / 4 = 20.75
    assert metrics["per_question"]["g4"]["hybrid"] is None
    assert metrics["per_question"]["g1"]["dense"]["recall@1"] == 0.0


def test_cli_writes_metrics_and_runs(tmp_path, capsys):
    pytest.importorskip("retrieval.serialize", reason="retrieval/serialize.py (ask_record) not written yet")
    questions = write_gold(tmp_path / "gold.jsonl", GOLD)
    out = tmp_path / "out"

    assert main(["--questions", str(questions), "--out", str(out), "-k", "3"], engine=FakeEngine()) == 0

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert list(metrics) == ["questions", "k", "legs", "answer@1", "fact@1", "answer_questions", "wrong_fact_shown",
                             "fact_shown", "wrong_fact_ids", "unanswerable",
                             "wrong_answers", "chunks", "timing", "hybrid_by_type", "answers_by_type", "per_question"]
    assert metrics["k"] == 3
    assert set(metrics["legs"]["hybrid"]) == {"questions", "recall@1", "recall@3", "mrr@3", "ndcg@3"}
    assert metrics["legs"]["hybrid"]["questions"] == 3                      # g4 (unanswerable) not scored
    assert set(metrics["timing"]) >= {"mean_ms", "p50_ms", "p95_ms"}
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [run["id"] for run in runs] == ["g1", "g2", "g3", "g4"]
    assert runs[0]["question"] == GOLD[0]["question"]
    assert runs[0]["answer"]["chunk_id"] == "c1" and runs[2]["answer"] is None
    assert [hit["chunk_id"] for hit in runs[1]["results"]["dense"]] == ["c2", "c4", "c1"]
    assert not [p for p in out.iterdir() if p.name not in {"metrics.json", "runs.jsonl"}]   # no temp files left

    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["leg"] for line in lines[:3]] == ["bm25", "dense", "hybrid"]
    assert "answer@1 0.500, fact@1 0.000" in lines[3]
    assert lines[4] == "by type: number answer@1 1.000 fact@1 0.000 (1); entity answer@1 0.000 fact@1 0.000 (1)"


def test_evaluate_counts_facts_and_answers_from_the_wrong_organisation():
    plan = {**PLAN, "g3": (*PLAN["g3"][:3], "c1"), "g4": (*PLAN["g4"][:3], "c3")}
    # g1: right fact; g2 (cross, both docs gold): answered from 吴淞, fine; g3: asks about 开发区, answered
    # from 吴淞's chunk c1 with a wrong fact; g4: unanswerable, answered anyway.
    engine = FakeEngine(plan, facts={"g1": "3万\u3000平方米", "g3": "3万平方米"})
    metrics, runs = evaluate(engine, GOLD, k=10, record=lambda engine, result, question_id: {"id": question_id})

    assert metrics["fact@1"] == 0.5                                         # g1 right, g3 wrong, of 2
    assert metrics["answers_by_type"] == {"number": {"questions": 1, "answer@1": 1.0, "fact@1": 1.0},
                                          "entity": {"questions": 1, "answer@1": 0.0, "fact@1": 0.0}}
    assert metrics["wrong_answers"] == {"wrong_org": 1, "wrong_org_ids": ["g3"], "wrong_year": 0, "wrong_year_ids": [],
                                        "answered_unanswerable": 1, "answered_unanswerable_ids": ["g4"]}
    # Of the 2 questions with a gold answer, both show a fact (g1, g3) and one of them is wrong (g3).
    assert metrics["fact_shown"] == 1.0
    assert metrics["wrong_fact_shown"] == 0.5 and metrics["wrong_fact_ids"] == ["g3"]
    assert metrics["unanswerable"] == {"total": 1, "flagged": 0, "false_alarms": 0}
    assert metrics["per_question"]["g3"]["answer_org"] == "吴淞" and metrics["per_question"]["g3"]["wrong_org"]
    assert not metrics["per_question"]["g2"]["wrong_org"]
    assert runs[0]["best_guess"] == {"text": "完成3万平方米年度拆违任务，", "fact": "3万\u3000平方米", "confidence": 0.9,
                                     "chunk_id": "c1", "shown": True, "source": "answer"}


def test_an_answer_from_the_right_organisations_other_document_counts_as_another_year():
    other_year = "吴淞街道2020年工作总结.txt"
    engine = FakeEngine(facts={"g1": "2万平方米"})
    chunk = engine.chunks["c1"]
    engine.chunks["c5"] = Chunk("c5", other_year, ("一、城市管理",), (0, len(chunk.text)), chunk.text)
    engine.documents[other_year] = Document(
        DocumentMeta(other_year, other_year.removesuffix(".txt"), "吴淞", (), (2020,), "总结", "1" * 64), chunk.text)
    engine.plans[GOLD[0]["question"]] = (*PLAN["g1"][:3], "c5")
    metrics, _ = evaluate(engine, GOLD, k=10, record=lambda engine, result, question_id: {"id": question_id})

    assert metrics["wrong_answers"]["wrong_org"] == 0                       # the same organisation, 吴淞
    assert metrics["wrong_answers"]["wrong_year_ids"] == ["g1"]             # … but not the gold document
    assert metrics["wrong_fact_ids"] == ["g1"] and metrics["fact_shown"] == 0.5


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "question": "q", "type": "number", "evidence": ["e"], "answer": "e"}\n{"id": "b", "question": \n',
     ":2: not valid JSON"),
    ('{"id": "a", "question": "q", "type": "number", "evidence": ["e"], "answer": "e"}\n\n'
     '{"id": "b", "question": "q", "type": "number", "answer": "e"}\n', ":3: missing field(s) evidence"),
    ('{"id": "a", "question": "q", "type": "number", "evidence": [], "answer": "e"}\n', ":1: evidence is empty"),
    ('{"id": "a", "question": "q", "type": "guess", "evidence": ["e"], "answer": "e"}\n', ":1: type 'guess'"),
    ('{"id": "a", "question": "q", "type": "number", "evidence": ["e"], "answer": "e"}\n' * 2, ":2: duplicate id"),
])
def test_malformed_questions_exit_2_naming_the_line(tmp_path, capsys, content, message):
    questions = tmp_path / "bad.jsonl"
    questions.write_text(content, encoding="utf-8")
    engine = FakeEngine()

    assert main(["--questions", str(questions), "--out", str(tmp_path / "out")], engine=engine) == 2

    assert f"{questions}{message}" in capsys.readouterr().err
    assert engine.asked == [] and not (tmp_path / "out").exists()


def test_module_entry_point_exits_2_on_bad_file(tmp_path):
    questions = tmp_path / "bad.jsonl"
    questions.write_text("not json\n", encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "-m", "eval", "--questions", str(questions), "--out", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 2
    assert f"{questions}:1: not valid JSON" in completed.stderr


def test_dev_questions_file_is_valid():
    questions = load_questions(ROOT / "eval" / "dev.jsonl")
    assert len(questions) == 40
