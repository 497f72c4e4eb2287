"""The evaluation tab's numbers: runs eval.runner.evaluate on the live engine and shapes tables, curve and misses."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.metrics import UNANSWERABLE, answer_hit, fact_hit, recall_at_k
from eval.runner import LEGS, QuestionsError, evaluate, load_questions
from ui import render
from ui.requests import UserFacingError

EVAL_K = 10
MAX_GOLD_BYTES = 5 * 1024 * 1024
GOLD_TOO_LARGE_MESSAGE = f"标注文件太大（上限 {MAX_GOLD_BYTES // 1024 // 1024} MB）。请只保留要评估的题目后再上传。"
LEG_LABELS = {"bm25": "BM25（关键词）", "dense": "向量（语义）", "hybrid": "混合（融合）"}
TYPE_LABELS = {"number": "数字", "entity": "实体", "semantic": "语义", "list": "列举", "cross": "跨文档", UNANSWERABLE: "无答案"}
PASSAGES_PER_MISS = 3
CURVE_ORDER = [str(k) for k in range(1, EVAL_K + 1)]


@dataclass(frozen=True)
class EvalReport:
    """Everything the evaluation tab shows."""

    metrics: dict
    summary_markdown: str
    leg_table: tuple[list[str], list[list]]         # (headers, rows)
    type_table: tuple[list[str], list[list]]
    recall_curve: list[dict]                        # rows {"k", "recall", "leg"} for k = 1..EVAL_K
    missed_html: str
    missed_count: int


class _CountingEngine:
    """Passes everything through to the engine and reports each ask, to drive a progress bar."""

    def __init__(self, engine, on_ask: Callable[[], None]):
        self._engine = engine
        self._on_ask = on_ask

    def ask(self, *args, **kwargs):
        result = self._engine.ask(*args, **kwargs)
        self._on_ask()
        return result

    def __getattr__(self, name):
        return getattr(self._engine, name)


def load_gold(path: str | Path) -> list[dict]:
    """Read a gold questions file; a bad one raises UserFacingError naming the line and the format."""
    path = Path(path)
    if path.stat().st_size > MAX_GOLD_BYTES:
        raise UserFacingError(GOLD_TOO_LARGE_MESSAGE)
    try:
        return load_questions(path)
    except QuestionsError as error:
        raise UserFacingError(
            f"标注文件格式不对：{error}。格式见 eval/README.md：每行一个 JSON 对象，含 id、question、type、evidence、answer。"
        ) from error


def run(engine, questions: Sequence[dict], progress: Callable[[float, str], None] = lambda f, d: None) -> EvalReport:
    """Ask every gold question once (k = 10) and build the report."""
    total = len(questions) + 1                      # evaluate asks the first question once more to warm up
    asked = [0]

    def on_ask():
        asked[0] += 1
        progress(min(asked[0] / total, 1.0), f"已问 {asked[0]}/{total} 题")

    metrics, runs = evaluate(_CountingEngine(engine, on_ask), questions, k=EVAL_K)
    return build_report(metrics, runs, questions)


def recall_curve(runs: Sequence[dict], questions: Sequence[dict], k_max: int = EVAL_K) -> list[dict]:
    """Mean recall@k for k = 1..k_max per leg, over the questions that have evidence.

    k is a string so the plot shows one tick per k (ordered by CURVE_ORDER), not fractional ticks.
    """
    gold_by_id = {gold["id"]: gold for gold in questions}
    rows = []
    for leg in LEGS:
        for k in range(1, k_max + 1):
            values = []
            for run in runs:
                passages = [item["text"] for item in run["results"][leg]]
                value = recall_at_k(passages, gold_by_id[run["id"]], k)
                if value is not None:
                    values.append(value)
            mean = round(sum(values) / len(values), 4) if values else 0.0
            rows.append({"k": str(k), "recall": mean, "leg": LEG_LABELS.get(leg, leg)})
    return rows


def _miss_reasons(gold: dict, run: dict, scores: dict | None = None) -> list[str]:
    """Why a question counts as missed; `scores` is its metrics.json per_question entry, when known."""
    reasons = []
    answer = run["answer"]["text"] if run.get("answer") else None
    if gold["type"] == UNANSWERABLE:
        if answer is not None:
            reasons.append("本应回答「未找到」，却给出了答案")
        return reasons
    passages = [item["text"] for item in run["results"]["hybrid"]]
    if recall_at_k(passages, gold, EVAL_K) == 0.0:
        reasons.append(f"前 {EVAL_K} 段都不含证据")
    if answer is None:
        reasons.append("误报「未找到」")
    elif gold["answer"] is not None and not answer_hit(answer, gold["answer"]):
        reasons.append("答案不对")
    elif gold["answer"] is not None and "fact" in run["answer"] and not fact_hit(run["answer"]["fact"], gold["answer"]):
        reasons.append("答案句对，但高亮的事实不对")
    if scores and scores.get("wrong_org"):
        reasons.append(f"答案出自其他单位（{scores.get('answer_org')}）的文件")
    return reasons


def missed(runs: Sequence[dict], questions: Sequence[dict],
           per_question: dict | None = None) -> list[tuple[dict, dict, list[str]]]:
    """(gold, run, reasons) for every question the hybrid leg, the answer or its fact got wrong.

    per_question: metrics.json's per-question scores, to name answers from another organisation's file.
    """
    gold_by_id = {gold["id"]: gold for gold in questions}
    found = []
    for run in runs:
        gold = gold_by_id[run["id"]]
        reasons = _miss_reasons(gold, run, (per_question or {}).get(run["id"]))
        if reasons:
            found.append((gold, run, reasons))
    return found


def missed_html(misses: Sequence[tuple[dict, dict, list[str]]]) -> str:
    """The missed questions with their top passages, escaped."""
    if not misses:
        return render.render_message("没有漏掉的题目。", "ok")
    items = []
    for gold, run, reasons in misses:
        answer = run["answer"]["text"] if run.get("answer") else "未找到"
        fact = run["answer"].get("fact") if run.get("answer") else ""
        passages = "".join(
            f'<li><span class="miss-doc">{render.escape(item.get("title") or item.get("doc", ""))}</span>'
            f' <span class="miss-path">{render.escape(item.get("section", ""))}</span>'
            f'<div class="miss-text">{render.escape(item.get("text", "")[:160])}</div></li>'
            for item in run["results"]["hybrid"][:PASSAGES_PER_MISS]
        )
        items.append(
            f'<div class="miss" data-question-id="{render.escape(gold["id"])}">'
            f'<div class="miss-head">{render.escape(gold["id"])} · {render.escape(TYPE_LABELS.get(gold["type"], gold["type"]))} · '
            f'{render.escape(gold["question"])}</div>'
            f'<div class="miss-why">{render.escape("；".join(reasons))}。标准答案：{render.escape(gold.get("answer") or "—")}；'
            f"系统回答：{render.escape(answer)}"
            f"{'（高亮：' + render.escape(fact) + '）' if fact else ''}</div>"
            f'<ol class="miss-passages">{passages}</ol></div>'
        )
    return '<div class="misses">' + "".join(items) + "</div>"


def _metric_names(metrics: dict) -> list[str]:
    """recall@n…, mrr@k, ndcg@k as the runner reports them (the question count is a column of its own)."""
    first_leg = next(iter(metrics["legs"].values()), {})
    return [name for name in first_leg if name != "questions"]


def build_report(metrics: dict, runs: Sequence[dict], questions: Sequence[dict]) -> EvalReport:
    names = _metric_names(metrics)
    scored = sum(1 for gold in questions if gold["type"] != UNANSWERABLE and gold["evidence"])
    leg_rows = [
        [LEG_LABELS.get(leg, leg), metrics["legs"][leg].get("questions", scored), *(metrics["legs"][leg].get(name) for name in names)]
        for leg in metrics["legs"]
    ]
    answers_by_type = metrics.get("answers_by_type", {})
    type_rows = [
        [TYPE_LABELS.get(qtype, qtype), scores.get("questions"), *(scores.get(name) for name in names),
         answers_by_type.get(qtype, {}).get("answer@1"), answers_by_type.get(qtype, {}).get("fact@1")]
        for qtype, scores in metrics["hybrid_by_type"].items()
    ]
    misses = missed(runs, questions, metrics.get("per_question"))
    unanswerable, timing, wrong = metrics["unanswerable"], metrics["timing"], metrics["wrong_answers"]
    # Ids come from an uploaded file: escaped, as the summary is rendered as markdown with HTML.
    wrong_ids = "（" + render.escape("、".join(wrong["wrong_org_ids"])) + "）" if wrong["wrong_org_ids"] else ""
    summary = (
        f"**共 {metrics['questions']} 题**（k = {metrics['k']}）。"
        f"答案句正确率 answer@1 = **{metrics['answer@1']:.3f}**，"
        f"高亮事实正确率 fact@1 = **{metrics['fact@1']:.3f}**（{metrics['answer_questions']} 道有标准答案的题）。"
        f"答案出自其他单位文件的 **{wrong['wrong_org']}** 题{wrong_ids}。"
        f"无答案题：正确说「未找到」**{unanswerable['flagged']}/{unanswerable['total']}**；"
        f"有答案却说「未找到」（误报）**{unanswerable['false_alarms']}** 题。"
        f"查询耗时中位数 {timing.get('p50_ms', 0):.0f} ms。漏掉或答错 {len(misses)} 题，列在最下面。"
    )
    return EvalReport(
        metrics=metrics,
        summary_markdown=summary,
        leg_table=(["检索方式", "题数", *names], leg_rows),
        type_table=(["题型（混合检索）", "题数", *names, "answer@1", "fact@1"], type_rows),
        recall_curve=recall_curve(runs, questions),
        missed_html=missed_html(misses),
        missed_count=len(misses),
    )
