"""Query analysis: which organisation's plan, which year or half-year, and what kind of answer is asked for."""
from __future__ import annotations

import re
from typing import Iterable, Mapping

from retrieval.answer.kinds import kind_of
from retrieval.text.normalize import normalize_question
from retrieval.search.orgs import OrganisationMatcher, organisation_names
from retrieval.text.patterns import PERIODS
from retrieval.text.quantities import UNITS, compatible_units  # noqa: F401  (read from here by older callers)
from retrieval.text.statements import question_stance, question_year_offset
from retrieval.types import DocumentMeta, QueryAnalysis

# Words after 多少/几 that name the thing, mapped to the unit the answer will use.
UNIT_ALIASES = {"钱": "元", "资金": "元", "经费": "元", "多长": "公里", "多远": "公里", "多大": "平方米",
                "面积": "平方米", "比例": "%", "占比": "%", "百分之": "%", "浓度": "微克"}


_YEAR = re.compile(r"(20\d{2})\s*年?")
# What a 什么/哪种/多少 question asks about: 什么奖 → 奖, 哪种水果 → 水果, 多少家沿街店铺 → 沿街店铺.
_ASKED_NOUN_AFTER = re.compile(r"(?:什么|哪种|哪个|哪项|哪类|哪家|哪条|哪所|哪位|啥|几号)([\u4e00-\u9fff]{1,8})")
_COUNTED_NOUN_AFTER = re.compile(r"(?:多少|几)([\u4e00-\u9fff]{1,10})")
# "第一个百亿级项目是哪个": the thing asked about is the subject before 是哪个 / 叫什么.
_SUBJECT_BEFORE = re.compile(r"([\u4e00-\u9fff]{2,12}?)(?:是|叫)(?:哪|什么|啥)")
_COUNTED_SUBJECT_BEFORE = re.compile(r"([\u4e00-\u9fff]{2,12}?)(?:有|是|共|一共|总共|达到|达)?(?:多少|几)")


# Indicators measured in money (元, 万元, 亿元).
_MONEY_WORDS = ("金额", "资金", "经费", "投资", "投资额", "收入", "产值", "营收", "税收", "预算", "总额", "销售额",
                "零售额", "工资", "补贴", "奖金", "费用", "成本", "利润", "财政收入", "总产值")


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
    # "签约金额多少", "财政收入是多少": the indicator before 多少 says the amount is money.
    before = question[:question.find("多少")] if "多少" in question else ""
    if before.endswith(_MONEY_WORDS) or re.search(rf"(?:{'|'.join(_MONEY_WORDS)})(?:是|有|达|为|共|一共)?$", before):
        return "元"
    return ""


def answer_kind(question: str) -> str:
    """The name of the kind of answer the question asks for (retrieval.answer.kinds.KINDS, first match)."""
    return kind_of(question).name


def _leading_noun(phrase: str) -> str:
    """The noun phrase a phrase opens with: 水果撑起农业 → 水果, 沿街店铺要管门责 → 沿街店铺."""
    import jieba
    from retrieval.text.tokenizer import part_of_speech_cut

    jieba.setLogLevel(60)
    words: list[str] = []
    pending: list[str] = []                    # an amount inside the phrase (亿元|项目) counts once a noun follows
    cut = list(part_of_speech_cut(phrase))
    for index, word in enumerate(cut):
        # a verbal noun counts after a noun (招商|活动), or alone before the question's end (什么|比赛？)
        alone = not words and word.flag == "vn" and (index + 1 == len(cut) or cut[index + 1].flag[:1] in ("x", "w"))
        if word.flag[:1] in ("n", "j", "b", "s") or word.flag == "f" and not words \
                or (words and word.flag in ("vn", "ng")) or alone:
            words.extend(pending)
            pending = []
            words.append(word.word)
            continue
        if (word.flag[:1] in ("m", "q") or word.flag == "a" and not words) and len(pending) < 2:
            pending.append(word.word)
            continue
        break
    return "".join(words)


def asked_noun(question: str, kind: str) -> str:
    """The thing a question asks for, when it names one (什么奖 → 奖, 多少家沿街店铺 → 沿街店铺), else ""."""
    pattern = _COUNTED_NOUN_AFTER if kind == "quantity" else _ASKED_NOUN_AFTER
    for match in pattern.finditer(question):
        rest = match.group(1)
        if kind == "quantity":
            unit = next((u for u in UNITS if rest.startswith(u)), "")
            rest = rest[len(unit):]
        noun = _leading_noun(rest) if rest else ""
        if noun:
            return noun
    subject = _SUBJECT_BEFORE if kind != "quantity" else _COUNTED_SUBJECT_BEFORE
    if kind not in ("date", "doc_number", "list"):
        for match in subject.finditer(question):
            noun = _trailing_noun(match.group(1))
            if noun:
                return noun
    return ""


def _trailing_noun(phrase: str) -> str:
    """The noun phrase a phrase ends with: 第一个百亿级项目 → 百亿级项目."""
    from retrieval.text.tokenizer import part_of_speech_cut

    words: list[str] = []
    for word in reversed(list(part_of_speech_cut(phrase))):
        # jieba tags a few nouns as status words (湿地 z); one ending the phrase is its head
        if word.flag[:1] in ("n", "j", "b") or (not words and word.flag == "z") \
                or (words and word.flag[:1] in ("m", "q") and len(word.word) > 1
                                                  and not word.word[0] in "第一二三四五六七八九十"):
            words.insert(0, word.word)
            continue
        break
    return "".join(words)


# Words naming a kind of organisation, or the organisation itself, in a question.
_ORGANISATION_KIND = re.compile(r"街道办事处|街道办|街道|开发区|经开区|高新区|园区|管委会|党工委|办事处|镇政府|乡政府|"
                                r"(?<![乡城村])镇(?![村])|(?<![城])乡(?![村镇])")
_ASKS_ORGANISATION = re.compile(r"(哪个|哪一个|哪家|哪些|什么)(街道|单位|开发区|街镇|镇|乡|部门)|哪里的计划|谁家")


def analyze_query(question: str, documents: Mapping[str, DocumentMeta] | None = None,
                  matcher: OrganisationMatcher | None = None, with_asked_noun: bool = True) -> QueryAnalysis:
    """What a question asks: whose documents (by name, alias, or an organisation the corpus lacks), which
    year or half-year, and what kind of answer. The question is read in simplified characters with ASCII
    digits. Pass `matcher` (built once per index) instead of `documents` to reuse its name automaton.
    with_asked_noun=False leaves asked_noun empty (its part-of-speech tagging is the slowest step here and
    only the answer step reads it).
    """
    question = normalize_question(question)
    if matcher is None:
        matcher = OrganisationMatcher(documents or {})
    years = tuple(sorted({int(y) for y in _YEAR.findall(question)}))
    half = next((p for p in PERIODS if p in question), "")
    kind = answer_kind(question)
    named = matcher.named_places(question)
    orgs = tuple(dict.fromkeys(doc_id for place in named for doc_id in place.doc_ids))
    unknown = [place.label for place in named if not place.doc_ids]
    asked = "、".join(dict.fromkeys(place.name if place.doc_ids else place.label for place in named))
    return QueryAnalysis(text=question, orgs=orgs, years=years, half=half, answer_kind=kind,
                         unit=asked_unit(question) if kind == "quantity" else "",
                         asks_organisation=not asked and bool(_ASKS_ORGANISATION.search(question)),
                         asked_org=asked, unknown_orgs=tuple(unknown), asked_noun=asked_noun(question, kind) if with_asked_noun else "",
                         year_offset=None if years else question_year_offset(question),
                         stance=question_stance(question))


def strip_organisations(question: str, documents: Iterable[DocumentMeta] = (),
                        matcher: OrganisationMatcher | None = None) -> str:
    """The question without organisation names (known ones and X街道-like ones) and without the words that
    name a kind of organisation ("街道有啥安排": the street office is who, not what), for scoring topic coverage."""
    question = normalize_question(question)
    matcher = matcher or OrganisationMatcher({meta.doc_id: meta for meta in documents})
    stripped = question
    for place in sorted(matcher.named_places(question), key=lambda p: -p.start):
        stripped = stripped[:place.start] + " " + stripped[place.end:]
    stripped = matcher.strip(stripped)
    return _ORGANISATION_KIND.sub(" ", stripped)
