"""Small frozen records passed between the stages: documents, chunks, hits and answers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence


LEGS = ("bm25", "dense", "hybrid")          # the retriever legs every result and metric is given for


@dataclass(frozen=True)
class DocumentMeta:
    """What a plan document is: who wrote it, for which year(s), of which kind."""

    doc_id: str                      # the file name inside corpus/, e.g. "吴淞街道2021年工作要点.txt"
    title: str
    org: str                         # short organisation name, e.g. "吴淞"
    aliases: tuple[str, ...]         # other names a user may type: "吴淞街道", "宝山", ...
    years: tuple[int, ...]           # the year(s) the plan covers; "今年" means years[-1]
    kind: str                        # 计划 / 要点 / 总结 / 规划 / 思路 / 文件
    sha256: str                      # hash of the source file bytes
    period: str = ""                 # 上半年 / 下半年 / 一季度 … when the plan covers part of a year
    published: str = ""              # publication date as YYYY-MM-DD (page metadata or the dated signature), "" unknown
    issuer: str = ""                 # issuing body (发布机构 / 发文机关 / the signature), "" unknown
    doc_number: str = ""             # 文号 such as 某府发〔2023〕5号, "" when none
    # The organisation's place among China's divisions (retrieval.text.gazetteer): its level (省 / 市 / 县 / 街道 / 镇 /
    # 乡 / 开发区 / 部门, "" unknown), its parent chain of full names highest first (("上海市", "宝山区") for 吴淞),
    # its division code where it has one ("310113"), and who signed or delivered the document ("王正谱").
    level: str = ""
    parents: tuple[str, ...] = ()
    code: str = ""
    speaker: str = ""


@dataclass(frozen=True)
class Document:
    """A cleaned document: the text the app shows, plus its metadata."""

    meta: DocumentMeta
    text: str                        # cleaned text; every chunk span points into it

    @property
    def doc_id(self) -> str:
        return self.meta.doc_id


@dataclass(frozen=True)
class Chunk:
    """A passage of one document, inside one section."""

    chunk_id: str                    # stable: hash of doc_id and text
    doc_id: str
    section_path: tuple[str, ...]    # ("二、立足新要求，…", "（一）聚焦重点难点，…")
    char_span: tuple[int, int]       # [start, end) in Document.text
    text: str                        # == Document.text[start:end]
    # [start, end) offsets in `text` of lines that are section titles only (they name a topic and never
    # answer a question); numbered items such as "1. 新建…5个" are body text and are not listed here.
    heading_spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class FigureRecord:
    """One value of a passage and what it measures (made by retrieval.ingest.figures.extract_figures at indexing)."""

    record_id: str                 # stable: f"{chunk_id}:{start}"
    chunk_id: str
    doc_id: str
    metric: str                    # the phrase the value measures, as written: "地区生产总值增长", "粮食产量"
    value: str                     # as written, with qualifiers: "5.5%左右", "40万人以上", "600亿斤以上"
    unit: str                      # "%", "万人", "亿元", "亿斤", … ("" when none)
    number: float | None           # in the base unit (5.5 for 5.5%, 400000 for 40万人), None if unparsable
    year: int | None               # the year the statement speaks of; None for a span of years or none
    stance: str                    # "target" | "result" | ""
    char_span: tuple[int, int]     # [start, end) of the value in chunk.text
    sentence_span: tuple[int, int] # [start, end) of its sentence in chunk.text

    def as_row(self) -> list:
        """The stored form (chunk and document ids are the passage's own): see `from_row`."""
        return [self.char_span[0], self.char_span[1], self.sentence_span[0], self.sentence_span[1], self.metric,
                self.value, self.unit, self.number, self.year, self.stance]

    @classmethod
    def from_row(cls, chunk_id: str, doc_id: str, row: Sequence) -> "FigureRecord":
        start, end, sentence_start, sentence_end, metric, value, unit, number, year, stance = row
        return cls(f"{chunk_id}:{start}", chunk_id, doc_id, metric, value, unit,
                   None if number is None else float(number), None if year is None else int(year), stance,
                   (int(start), int(end)), (int(sentence_start), int(sentence_end)))


@dataclass(frozen=True)
class Hit:
    """One ranked result of a retriever."""

    chunk_id: str
    score: float
    rank: int                                            # 1-based
    leg_ranks: tuple[tuple[str, int], ...] = ()          # (("bm25", 3), ("dense", 1)); absent leg = not in its list
    matched_terms: tuple[str, ...] = ()

    def leg_rank(self, leg: str) -> int | None:
        return dict(self.leg_ranks).get(leg)


@dataclass(frozen=True)
class Answer:
    """The extracted answer: a sentence or clause of one chunk."""

    text: str                        # at most 100 characters
    chunk_id: str
    char_span: tuple[int, int]       # [start, end) in the chunk's Document.text
    confidence: float                # 0..1
    fact: str = ""                   # the short fact inside text (e.g. "3万平方米"), "" when none stands out
    # The score that chose this unit among the question's candidates (retrieval.answer.choice_score);
    # comparable only within one question, so not part of the answer's identity.
    score: float = field(default=0.0, compare=False)
    # The best candidate fact of the sentence whether or not it passed its gate, and its calibrated probability
    # of being right (retrieval.answer.facts.FactChoice); `fact` is it when shown, "" otherwise.
    fact_candidate: str = field(default="", compare=False)
    fact_confidence: float = field(default=0.0, compare=False)
    fact_source: str = field(default="sentence", compare=False)      # "sentence" | "figure" (a figure record)


@dataclass(frozen=True)
class QueryAnalysis:
    """What the query says besides its words: whose plan, which year, what kind of answer."""

    text: str
    orgs: tuple[str, ...] = ()               # doc_ids whose organisation the query names
    years: tuple[int, ...] = ()
    half: str = ""                           # "上半年" / "下半年" / ""
    answer_kind: str = "other"               # quantity / date / doc_number / person / entity / list / other
    unit: str = ""                           # unit asked for in a quantity question, e.g. "平方米"
    asks_organisation: bool = False          # "哪个街道…" asks which organisation's plan says so
    # The organisation as the question names it ("市桥街道", "吴淞", "火星街道"), "" when none is named.
    # When set, answers come only from `orgs` (empty when no document belongs to that organisation).
    asked_org: str = ""
    unknown_orgs: tuple[str, ...] = ()       # named organisations no document belongs to ("火星街道")
    asked_noun: str = ""                     # what is asked for: 多少家沿街店铺 → 沿街店铺, 什么奖 → 奖
    # 今年 0, 去年 -1, 明年 1: read against each document's planning year (retrieval.text.statements); None: not said.
    year_offset: int | None = None
    stance: str = ""                         # "target" (目标/计划/今年…) | "result" (完成/实现/去年…) | ""


@dataclass(frozen=True)
class AskResult:
    """Everything one question produced: the answer (or None = 未找到) and the ranked passages."""

    question: str
    analysis: QueryAnalysis
    answer: Answer | None
    hits: tuple[Hit, ...]                                 # hybrid ranking
    legs: dict[str, tuple[Hit, ...]] = field(default_factory=dict)   # "bm25" / "dense" / "hybrid"
    # Why the answer is 未找到 when the question is scoped to an organisation or year that lacks it,
    # e.g. "文档中没有市桥街道的这项数据"; "" otherwise. Hits of other organisations may still be listed.
    scope_note: str = ""
    # The best candidate even when it falls below the 未找到 threshold (for calibration reports), or None.
    best_guess: Answer | None = None
    # The best candidate that would be another answer (another passage or fact): how clear the choice was.
    runner_up: Answer | None = None
    # Older versions (near-duplicates of one organisation's document) of the answer's document, oldest first:
    # the answer cites the newest version the passages reach, and says these exist.
    older_versions: tuple[str, ...] = ()
    # Documents searched by BM25 only because their vectors are still being encoded (background indexing).
    dense_pending: tuple[str, ...] = ()
    # The index snapshot the hits come from: a document deleted meanwhile does not break their display.
    chunks: Mapping[str, Chunk] = field(default_factory=dict, repr=False, compare=False)
    documents: Mapping[str, Document] = field(default_factory=dict, repr=False, compare=False)
