"""The answer kinds, one table: what a question asks for, and for each kind its cues, the candidate generators
that find its values, whether a sentence must hold one to answer, and the gate its fact passes.

Adding a kind is one entry here (plus its tests); the query analysis, the answer step and the fact step read
this table and hold no list of kinds of their own. Entries are tried in order: the first whose cue or shape
the question holds is its kind ("哪天发布" is a date before it is a 哪 question).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class AnswerKind:
    """One kind of answer.

    cues:        words of a question that ask for this kind
    shape:       a pattern of the question that asks for it (where words alone would mislead)
    generators:  names of the candidate generators (retrieval.answer.candidates.GENERATORS) whose spans can be
                 its answer
    needs_value: a sentence with no candidate of this kind cannot answer the question (confidence 0)
    sentence_fit: (with, without): added to a sentence's fit in the answer step when it holds, or lacks, a
                 value of the kind (how much the kind of value decides between sentences)
    gate:        the family whose fitted confidence threshold the fact must pass (retrieval.answer.fact_model)
    joins:       the answer is every candidate, joined with 、 (a list), not one of them
    accepts:     the type check a candidate must pass to be an answer of this kind (None: any candidate)
    shares_question: when some candidates share a content word with the question, only they can answer
                 (有没有…事故 over “零投诉”“零事故”: the one about 事故)
    decisive:    generators that find only what the question itself names (a slogan whose noun it asks): when
                 one finds a candidate, the others' candidates are no answer
    names_only:  a single verb or adverb (深化, 广泛) is no answer of this kind
    """

    name: str
    label: str
    cues: tuple[str, ...] = ()
    shape: re.Pattern | None = None
    generators: tuple[str, ...] = ()
    needs_value: bool = False
    sentence_fit: tuple[float, float] = (0.0, 0.0)
    gate: str = "name"
    joins: bool = False
    accepts: re.Pattern | None = None
    shares_question: bool = False
    decisive: tuple[str, ...] = ()
    names_only: bool = False

    def asked_by(self, question: str) -> bool:
        question = NOT_ASKING.sub(" ", question)
        return any(cue in question for cue in self.cues) or bool(self.shape and self.shape.search(question))


# Time phrases with 几 that ask nothing (这几年, 近几个月, 过去几年): read past by every kind's cues.
NOT_ASKING = re.compile(r"(?:这|近|前|过去|最近|头)几(?:年|个月|天|周)")


# Generators that find names: quoted terms, places, organisations, names attached to the asked category.
NAME_GENERATORS = ("quoted", "name_before_category", "ending_in_category", "name_after_category", "place",
                   "gazetteer_place", "organisation", "copula", "question_verb_object")
PHRASE_GENERATORS = ("quoted", "measure_object", "question_verb_object", "copula", "short_clause",
                     "name_before_category")

# Abstract nouns a 什么 question asks a phrase for (什么模式, 什么思路): a way, a state, a judgement, a purpose.
ABSTRACT_NOUNS = ("模式", "思路", "评价", "共识", "情况", "状况", "办法", "做法", "机制", "理念", "路径", "方式", "方向",
                  "途径", "目的", "定位", "原则", "口号", "提法", "要求", "安排", "打算", "变化")

KINDS: tuple[AnswerKind, ...] = (
    AnswerKind("doc_number", "文号", cues=("文号", "发文字号"), generators=("doc_number",), needs_value=True,
               sentence_fit=(0.45, -0.6), gate="number"),
    AnswerKind("date", "日期", cues=("哪天", "哪一天", "几月几日", "几月几号", "什么时候", "何时", "什么日子", "日期",
                                    "什么时间"),
               generators=("date",), needs_value=True, sentence_fit=(0.45, -0.6), gate="number"),
    # 几号地块 asks for a label (90号地块), not an amount.
    AnswerKind("label", "编号", shape=re.compile(r"几号(?![\u4e00-\u9fff]*?[日天])[\u4e00-\u9fff]"),
               generators=NAME_GENERATORS + ("ending_in_category",), sentence_fit=(0.15, 0.0),
               accepts=re.compile(r"\d"), names_only=True),
    AnswerKind("list", "列举", cues=("哪些", "有哪些", "都有", "哪几", "什么措施", "什么举措", "分别是"),
               generators=("list_items",), gate="phrase", joins=True),
    # 有没有…的提法: the answer is the term that says it, or nothing.
    AnswerKind("yes_no", "有无", cues=("有没有", "是否", "有无"),
               generators=NAME_GENERATORS, sentence_fit=(0.15, 0.0), shares_question=True, names_only=True),
    # A question shaped like its answer (几加几, 几上几下) wants the span of that shape.
    AnswerKind("shaped", "格式", shape=re.compile(r"几[\u4e00-\u9fff+＋]几"), generators=("shaped_value",),
               needs_value=True, sentence_fit=(0.45, -0.6), gate="number"),
    AnswerKind("quantity", "数量", cues=("多少", "几", "比例", "占比", "百分之", "多大", "多长", "多远", "多久", "多高",
                                        "第几", "增长率", "浓度", "增速", "增幅", "涨幅", "多快"),
               generators=("amount", "ordinal", "slogan_count"), needs_value=True, gate="number",
               decisive=("slogan_count",)),
    AnswerKind("person", "人名", cues=("是谁", "谁代表", "谁作", "谁做", "由谁", "哪位"),
               shape=re.compile(r"(?:长|主任|书记|主席|代表)(?:叫什么|叫啥|名字)"),
               generators=("person_after_title", "person_name"), needs_value=True, sentence_fit=(0.45, -0.6),
               names_only=True),
    # How, by what means, to what end, in what state: a quoted term or a short clause.
    AnswerKind("phrase", "做法", cues=("怎么", "如何", "什么办法", "靠什么", "通过什么", "干什么", "做什么", "为了什么"),
               shape=re.compile(rf"(?:什么|哪种|哪个|啥)(?:{'|'.join(ABSTRACT_NOUNS)})|(?:成|为|向|往)(?:什么|啥|哪)"),
               generators=PHRASE_GENERATORS, sentence_fit=(0.15, 0.0), gate="phrase"),
    AnswerKind("place", "地点", cues=("在哪", "哪里", "哪条路", "哪条街", "什么地方", "哪个地方", "什么位置", "哪个位置"),
               shape=re.compile(r"哪个(?:省|市|县|区|镇|乡|村|社区)"),
               generators=("place", "gazetteer_place") + NAME_GENERATORS, sentence_fit=(0.15, 0.0), names_only=True),
    AnswerKind("entity", "名称", cues=("哪个", "哪家", "哪条", "哪所", "哪一", "哪种", "哪项", "哪类", "什么", "叫啥",
                                      "叫什么", "哪", "啥", "谁"),
               generators=NAME_GENERATORS + ("measure_object",), sentence_fit=(0.15, 0.0), names_only=True),
    AnswerKind("other", "其他", generators=PHRASE_GENERATORS + ("amount",), gate="phrase"),
)
KIND_BY_NAME = {kind.name: kind for kind in KINDS}
# Kinds whose answer is a number of some shape: the quantity analysis (asked unit, counted noun) applies.
NUMBER_KINDS = frozenset({"quantity"})


def kind_of(question: str) -> AnswerKind:
    """The kind of answer a question asks for (the first entry of KINDS it asks by; "other" when none)."""
    return next((kind for kind in KINDS if kind.asked_by(question)), KIND_BY_NAME["other"])


def kind_named(name: str) -> AnswerKind:
    """The entry of a kind by its name; raises KeyError naming the known kinds for an unknown one."""
    try:
        return KIND_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown answer kind {name!r}; known: {', '.join(KIND_BY_NAME)}") from None
