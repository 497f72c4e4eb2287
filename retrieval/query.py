"""Query analysis: which organisation's plan, which year or half-year, and what kind of answer is asked for."""
from __future__ import annotations

import re
from typing import Iterable, Mapping

from retrieval.types import DocumentMeta, QueryAnalysis

# Units a quantity answer can carry, longest first so that 万平方米 wins over 平方米 and 米.
UNITS = tuple(sorted({
    "平方米", "万平方米", "平方公里", "公里", "千米", "米", "公顷", "亩", "吨", "立方米", "微克", "微克/立方米",
    "亿元", "万元", "元", "美元", "万美元", "个", "家", "辆", "项", "件", "名", "人", "人次", "户", "所", "栋", "幢",
    "座", "条", "次", "场", "场次", "批", "批次", "处", "台", "套", "间", "张", "本", "支", "位", "轮", "期", "天",
    "小时", "年", "个月", "%", "个百分点", "倍", "起", "宗", "株", "棵", "盏", "块", "只", "所学校",
}, key=len, reverse=True))
# Words after 多少/几 that name the thing, mapped to the unit the answer will use.
UNIT_ALIASES = {"钱": "元", "资金": "元", "经费": "元", "多长": "公里", "多远": "公里", "多大": "平方米",
                "面积": "平方米", "比例": "%", "占比": "%", "百分之": "%", "浓度": "微克"}
# Units that answer the same question: 几栋 may be answered in 幢, 多少钱 in 万元 or 亿元.
UNIT_GROUPS = (
    {"栋", "幢", "座"}, {"个", "家", "项", "所", "处", "件", "批", "批次"}, {"元", "万元", "亿元", "美元", "万美元"},
    {"平方米", "万平方米", "亩", "公顷", "平方公里"}, {"公里", "千米", "米"}, {"人", "名", "人次", "户"},
    {"%", "个百分点"}, {"次", "场", "场次"}, {"辆", "台"},
)


def compatible_units(unit: str) -> set[str]:
    for group in UNIT_GROUPS:
        if unit in group:
            return group
    return {unit}


QUANTITY_CUES = ("多少", "几", "比例", "占比", "百分之", "多大", "多长", "多远", "多久", "多高", "第几", "增长率", "浓度")
LIST_CUES = ("哪些", "有什么", "有哪些", "都有", "哪几", "什么手段", "什么措施", "什么举措", "具体动作", "新招")
ENTITY_CUES = ("哪个", "哪家", "哪条", "哪里", "哪所", "哪一", "什么", "叫啥", "叫什么", "是谁", "哪", "啥", "谁", "有没有")
PERIODS = ("上半年", "下半年", "一季度", "二季度", "三季度", "四季度")
_YEAR = re.compile(r"(20\d{2})\s*年?")


def organisation_names(meta: DocumentMeta) -> list[str]:
    """Names a user may type for a document's organisation: the short name and the aliases."""
    names = [meta.org, *meta.aliases]
    out = []
    for name in names:
        name = re.sub(r"（.*?）|\(.*?\)", "", name).strip()
        if len(name) >= 2 and "某" not in name and "未识别" not in name:
            out.append(name)
    return out


def match_organisations(text: str, documents: Mapping[str, DocumentMeta]) -> tuple[str, ...]:
    """doc_ids whose organisation or one of its aliases is named in the text."""
    found = []
    for doc_id, meta in documents.items():
        if any(name in text for name in organisation_names(meta)):
            found.append(doc_id)
    return tuple(found)


def asked_unit(question: str) -> str:
    """The unit a quantity question asks for: 多少平方米 → 平方米, 几个小区 → 个, 多少钱 → 元."""
    for cue, unit in UNIT_ALIASES.items():
        if cue in question and cue in ("多长", "多远", "多大", "比例", "占比", "百分之"):
            return unit
    for match in re.finditer(r"(?:多少|几)", question):
        if question[max(0, match.start() - 1):match.start()] == "第":
            continue                              # 第几轮 asks for an ordinal, not an amount
        rest = question[match.end():match.end() + 5]
        for word, unit in UNIT_ALIASES.items():
            if rest.startswith(word):
                return unit
        for unit in UNITS:
            if rest.startswith(unit):
                return unit
    return ""


def answer_kind(question: str) -> str:
    if any(cue in question for cue in LIST_CUES):
        return "list"
    if any(cue in question for cue in QUANTITY_CUES):
        return "quantity"
    if any(cue in question for cue in ENTITY_CUES):
        return "entity"
    return "other"


_ASKS_ORGANISATION = re.compile(r"(哪个|哪一个|哪家|哪些|什么)(街道|单位|开发区|街镇|镇|部门)|哪里的计划|谁家")


def analyze_query(question: str, documents: Mapping[str, DocumentMeta]) -> QueryAnalysis:
    years = tuple(sorted({int(y) for y in _YEAR.findall(question)}))
    half = next((p for p in PERIODS if p in question), "")
    kind = answer_kind(question)
    orgs = match_organisations(question, documents)
    return QueryAnalysis(text=question, orgs=orgs, years=years, half=half,
                         answer_kind=kind, unit=asked_unit(question) if kind == "quantity" else "",
                         asks_organisation=not orgs and bool(_ASKS_ORGANISATION.search(question)))


def strip_organisations(question: str, documents: Iterable[DocumentMeta]) -> str:
    """The question without organisation names, for scoring how well a passage covers its topic."""
    names = sorted({n for meta in documents for n in organisation_names(meta)}, key=len, reverse=True)
    for name in names:
        question = question.replace(name, " ")
    return question
