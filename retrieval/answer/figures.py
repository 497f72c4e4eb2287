"""Matching a number question against figure records (a passage's values bound to their metric, year and stance).

"地区生产总值增长5.5%左右，城镇新增就业40万人以上" gives (地区生产总值增长, 5.5%左右) and (城镇新增就业, 40万人以上);
"交通、水利、能源投资分别完成800亿元、260亿元、530亿元" gives 交通投资 800亿元, 水利投资 260亿元, 能源投资 530亿元
by position. Records are made at indexing (retrieval.ingest.figures.extract_figures), stored with the passages, and read back through
the index (IndexState.figures_of / figures_by_document). A number question is matched against them with
`figure_fit` / `rank_figures`: metric (with the statistical synonyms), unit, year and stance, each a named feature.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from retrieval.ingest.figures import MEASURE_UNITS, _YEAR_WORDS
from retrieval.text.quantities import compatible_units
from retrieval.text.statements import planning_year, question_stance, question_year_offset
from retrieval.text.synonyms import BROAD_WEIGHT, SynonymTable, load_synonyms
from retrieval.types import DocumentMeta, FigureRecord
# The extraction lives in retrieval.ingest.figures (it runs at indexing); kept importable from here.
from retrieval.ingest.figures import RATE_WORDS, extract_figures, unit_and_number  # noqa: F401,E402


# ------------------------------------------------------------------------------------------------ matching
def metric_match(question_metric_terms: Iterable[str], record: FigureRecord,
                 weights: Mapping[str, float] | None = None, table: SynonymTable | None = None) -> float:
    """0..1: the weighted share of the question's metric terms the record's metric names, synonyms applied.

    A term that names a statistical indicator (GDP, 物价, 财政收入) matches any name of that indicator in the
    metric (地区生产总值, 居民消费价格, 一般公共预算收入); a broad name (投资, 就业) that is not written in the
    metric matches at BROAD_WEIGHT; any other term must be written in it. `weights` (term → weight, e.g. idf)
    default to the terms' lengths. Terms come from `question_metric_terms` (indicator names kept whole).
    """
    table = table or load_synonyms()
    metric = record.metric.casefold()
    metric_concepts = {id(m.concept): m for m in table.mentions(record.metric)}
    total = matched = 0.0
    for term in dict.fromkeys(question_metric_terms):
        if not term:
            continue
        weight = (weights or {}).get(term, min(max(len(term), 2), 6))
        total += weight
        if term.casefold() in metric:
            matched += weight
            continue
        concept = table.concept_of(term)
        mention = metric_concepts.get(id(concept)) if concept is not None else None
        if mention is not None:
            broad = term in concept.broad or mention.broad
            matched += weight * (BROAD_WEIGHT if broad else 1.0)
    return matched / total if total else 0.0


# Words of a number question that say what kind of answer it wants, not which metric: left out of its terms.
QUESTION_FRAME_WORDS = frozenset((
    "今年", "去年", "明年", "上年", "前年", "全年", "目标", "计划", "预期", "力争", "多少", "几", "是", "的", "了", "要",
    "达到", "完成", "实现", "定", "定的", "为", "有", "到", "达", "是多少", "增长多少", "什么", "怎么样", "实际",
    "主要", "指标", "数", "数据", "情况", "年", "全省", "全市", "全区", "全县", "我省", "我市", "本省", "本市", "报告",
    "政府工作报告", "提出", "安排", "打算", "预计", "任务", "共", "一共", "总共", "累计", "约", "大约", "呢", "吗",
    "了多少", "在", "多", "百分之", "万", "亿", "元", "亿元", "万元", "个", "万人", "万吨", "以上", "左右", "稳", "稳在",
))


# Parts that make a word the question's frame, wherever they stand in it (控制目标, 预期目标, 计划数).
FRAME_PARTS = ("目标", "计划", "多少")


def question_metric_terms(question: str, tokenize: Callable[[str], list[str]],
                          table: SynonymTable | None = None) -> list[str]:
    """The words of a question that name the metric: indicator names kept whole (GDP, 一般公共预算收入), other
    content words as the tokenizer cuts them, years and the question's frame words (今年, 目标, 多少) left out.
    Pass the question without its organisation names (retrieval.query.strip_organisations)."""
    table = table or load_synonyms()
    question = _YEAR_WORDS.sub(" ", question)
    terms: list[str] = []
    rest, position = [], 0
    for mention in table.mentions(question):
        terms.append(mention.name)
        rest.append(question[position:mention.start])
        position = mention.end
    rest.append(question[position:])
    for piece in rest:
        for token in tokenize(piece):
            if len(token) >= 2 and token not in QUESTION_FRAME_WORDS and not re.fullmatch(r"[\d.%]+", token) \
                    and not any(word in token for word in FRAME_PARTS) \
                    and not any(token in term for term in terms):
                terms.append(token)
    # Search-mode tokenizers give a word and its parts (城镇新增就业, 城镇, 新增, 就业): keep the longest.
    return [t for t in dict.fromkeys(terms) if not any(t != other and t in other for other in terms)]


# Units that answer the same measure (beyond retrieval.query.UNIT_GROUPS): weights in 吨, 斤, 公斤.
MEASURE_GROUPS = {"吨": ("吨", "斤", "公斤", "千克"), "%": ("%", "个百分点"), "元": ("元", "美元"),
                  "平方米": ("平方米", "平方公里", "亩", "公顷", "㎡", "m²", "平方千米"), "人": ("人", "名", "人次")}
# Cues of a question asking a rate ("增长多少" asks a rate, "多少亿元" an amount).
RATE_CUES = ("增长多少", "增长了多少", "增速", "增幅", "涨幅", "降幅", "增长率", "百分之", "下降多少", "提高多少",
             "涨了多少", "增长几", "比例", "占比", "比重", "率是", "率多少", "率为", "率控制", "占到", "占全", "占多少")


def measure_unit(metric_terms: Sequence[str]) -> str:
    """The unit kind a metric is measured in, from its last word (产量 → 吨, 增长 → %), "" when unknown."""
    for term in reversed(list(metric_terms)):
        for endings, unit in MEASURE_UNITS:
            if term.endswith(endings):
                return unit
    return ""


def unit_fit(asked_unit: str, record: FigureRecord) -> float:
    """1 when the record's unit is the asked one, 0.7 a unit answering the same measure, -1 another, 0 nothing asked."""
    if not asked_unit:
        return 0.0
    unit = record.unit
    if asked_unit == "%":
        return 1.0 if unit in ("%", "个百分点") else -1.0
    if unit.endswith(asked_unit) or unit == asked_unit:
        return 1.0
    family = set(MEASURE_GROUPS.get(asked_unit, ())) | compatible_units(asked_unit)
    return 0.7 if any(unit.endswith(u) for u in family) else -1.0


@dataclass(frozen=True)
class FigureQuestion:
    """What a number question asks of a figure: which metric, in what unit, for which year, result or target."""

    metric_terms: tuple[str, ...]
    unit: str = ""                          # "%" for a rate, "元" for money, "吨", "万人", … ("" unknown)
    years: tuple[int, ...] = ()             # years the question names
    year_offset: int | None = None          # 今年 0, 去年 -1, 明年 1 (against each document's planning year)
    stance: str = ""                        # TARGET, RESULT or ""
    negated: bool = False                   # the question counts what is not (还没脱贫的多少户)

    @classmethod
    def of(cls, question: str, metric_terms: Sequence[str], asked_unit: str = "",
           years: Sequence[int] = ()) -> "FigureQuestion":
        """From a question's text (normalised), its metric terms (`question_metric_terms`), the unit the query
        analysis read (QueryAnalysis.unit) and the years it names (QueryAnalysis.years)."""
        unit = "%" if any(cue in question for cue in RATE_CUES) else asked_unit
        if not unit:
            unit = measure_unit(metric_terms)
        return cls(tuple(metric_terms), unit, tuple(years), question_year_offset(question), question_stance(question),
                   is_negated(question))

    def wanted_years(self, meta: DocumentMeta | None) -> tuple[int, ...]:
        """The years asked in one document: named years, else 今年/去年 read against its planning year."""
        if self.years:
            return self.years
        plan = planning_year(meta) if meta is not None else None
        if self.year_offset is not None and plan is not None:
            return (plan + self.year_offset,)
        return ()


# Feature weights of `figure_fit` (hand-set starting values: the fact step fits its own, retrieval.kinds / h5).
FIGURE_WEIGHTS = {"metric": 1.0, "unit": 0.5, "year": 0.4, "stance": 0.25}


@dataclass(frozen=True)
class FigureFit:
    """How well one record answers a number question: named features (metric 0..1, the others -1..1) and their sum."""

    record: FigureRecord
    metric: float
    unit: float
    year: float
    stance: float

    @property
    def total(self) -> float:
        return sum(FIGURE_WEIGHTS[name] * getattr(self, name) for name in FIGURE_WEIGHTS)


def figure_fit(question: FigureQuestion, record: FigureRecord, meta: DocumentMeta | None = None,
               weights: Mapping[str, float] | None = None) -> FigureFit:
    """Score one record for a question. `meta`: the record's document (reads 今年/去年); `weights`: term weights
    for `metric_match`."""
    wanted = question.wanted_years(meta)
    if not wanted:
        year = 0.0
    elif record.year is None:
        year = -0.5
    else:
        year = 1.0 if record.year in wanted else -1.0
    if not question.stance or not record.stance:
        stance = 0.0
    else:
        stance = 1.0 if question.stance == record.stance else -1.0
    metric = metric_match(question.metric_terms, record, weights)
    if question.negated != is_negated(record.metric):
        metric *= NEGATION_FACTOR          # 还没脱贫的 asks the 未脱贫 figure, not the 已脱贫 one
    return FigureFit(record, metric, unit_fit(question.unit, record), year, stance)


# Words that negate what a metric counts (未脱贫, 尚未完成, 没有…): a question and a record must agree (不 is left
# out: 不低于 bounds a value, it negates nothing).
NEGATIONS = ("未", "没", "尚未")
NEGATION_FACTOR = 0.5


def is_negated(text: str) -> bool:
    return any(word in text for word in NEGATIONS)


def rank_figures(question: FigureQuestion, records: Iterable[FigureRecord],
                 documents: Mapping[str, DocumentMeta] | None = None,
                 weights: Mapping[str, float] | None = None, min_metric: float = 0.5) -> list[FigureFit]:
    """Records whose metric matches at least `min_metric` and whose unit fits (not -1), best first; equal totals
    keep the order of `records` (pass them in the order of their passages' ranks)."""
    fits = [figure_fit(question, record, (documents or {}).get(record.doc_id), weights) for record in records]
    kept = [fit for fit in fits if fit.metric >= min_metric and fit.unit > -1]
    kept.sort(key=lambda fit: -fit.total)
    return kept


def discriminating_terms(question_metric_terms: Sequence[str], records: Sequence[FigureRecord],
                         table: SynonymTable | None = None) -> list[str]:
    """The question's metric terms that some record's metric names: a word no figure of the candidates measures
    (a place name, a word of the question's frame) cannot tell their figures apart."""
    table = table or load_synonyms()
    return [term for term in question_metric_terms
            if any(metric_match([term], record, table=table) > 0 for record in records)]
