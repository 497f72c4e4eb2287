"""Candidate facts of an answer sentence and their named features.

Generators (GENERATORS, by name) find spans that may answer: amounts, ordinals, dates, document numbers, quoted
terms, places of the gazetteer, organisations, names attached to the asked category (before it, ending in it,
after it), names after a title, objects of measure verbs and of the question's own verb, short clauses, list
items. A span found by several generators is one candidate that knows all of them. `features` describes a
candidate against the question with named numbers; retrieval.answer.fact_model weighs them with fitted weights.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping

from retrieval.answer.kinds import kind_named
from retrieval.text.patterns import DOC_NUMBER
from retrieval.text.quantities import (CHINESE_DIGITS, NUMBER, RATIO, TRAILING_QUALIFIERS, FactSpan, compatible_units,
                                       quantity_spans, strip_leading)
from retrieval.types import QueryAnalysis

_CN = CHINESE_DIGITS
ORDINAL = re.compile(rf"[第前]{NUMBER}(?:位|名|批|届|轮|次|个|期)?")
FORMULA = re.compile(r"\d+\s*[+＋]\s*\d+")
# 三上三下, 一户一档, 五个一: numerals alternating with one character each.
NUMERAL_PATTERN = re.compile(rf"[{_CN}\d][\u4e00-\u9fff][{_CN}\d][\u4e00-\u9fff]")
QUOTED_NUMERAL = re.compile(rf"[“\"]([{_CN}]{{2,4}})[”\"]")
SLOGAN = re.compile(rf"[“\"]([{_CN}\d]+个?[\u4e00-\u9fff]{{1,4}})[”\"]")
DATE = re.compile(r"(?:19|20)\d{2}[-/.年]\s*\d{1,2}[-/.月]\s*\d{1,2}日?|\d{1,2}月\d{1,2}[日号]|(?:19|20)\d{2}年\d{1,2}月")
WEEKLY_TIME = re.compile(r"每(?:周|月|年|季度|天|日)[一二三四五六日天]?(?:[上下]午|晚上|早上)?")
QUOTED = re.compile(r"([《])([^《》\n]{2,30})》|[“\"「]([^“”\"「」\n]{2,20})[”\"」]")
PLACE = re.compile(r"[\u4e00-\u9fff]{1,8}(?:路|街(?!道)|弄|巷|大道)\d*(?:号|弄)?(?:\d+号)?")
NAMED = re.compile(r"[\u4e00-\u9fff]{2,10}(?:事务所|服务社|中心|公司|集团|学院|基地|平台|工作室|联盟|品牌|项目|工程|协会|商会)")
# Titles a person's name follows in signature and meeting lines (省长 王某某, 镇长某某).
TITLES = ("省长", "市长", "区长", "县长", "镇长", "乡长", "州长", "主席", "主任", "书记", "代省长", "代市长", "代区长")
PERSON_AFTER_TITLE = re.compile(rf"(?:{'|'.join(sorted(TITLES, key=len, reverse=True))})[\s　]*([\u4e00-\u9fff]{{2,3}})(?![\u4e00-\u9fff])")
PERSON_BEFORE_REPORT = re.compile(r"([\u4e00-\u9fff]{2,3})[\s　]*(?:代表|受)")
NEGATION = ("未", "没", "尚未", "还没", "不")
RESULT_MARKERS = ("至", "到", "为")
ORIGIN_CUES = ("从多少", "原来", "原先", "之前是", "起初", "最初")
TOTAL_CUES = ("一共", "总共", "累计", "总计", "到现在", "目前", "至今", "共计")
TOTAL_MARKERS = ("累计", "共计", "总计", "合计", "总数", "已")
ORDINAL_CUES = ("第几", "排名", "前几", "排第", "哪一轮", "第几轮")
# Words that name a category, not a thing: never the answer themselves.
CATEGORY_WORDS = frozenset({"品种", "种类", "类型", "名称", "名单", "项目", "品牌", "产品", "工程", "企业", "计划", "平台",
                            "单位", "机构", "组织", "活动", "工作", "行动", "措施", "模式", "方式", "制度", "机制"})
MEASURE_VERBS = re.compile(r"(?:推行|实行|实施|推进|开展|建立|打造|办好|依托|采取|推广|启动|举办|设立|成立|创建|"
                           r"落实|引进|组建|开通|试点|组织|坚持|形成|创设|推出|深化)")
GENERIC_TAIL = ("工作", "活动", "建设", "行动")
LEADING_FUNCTION_CHARS = "对在沿于将把和与及从向至到为以由经就是即如"
LEADING_VERBS = ("做好", "做实", "推进", "完成", "实施", "加快", "启动", "开展", "打造", "建成", "新建", "改造",
                 "提升", "位于", "落户", "依托", "发挥", "办好", "建设", "加强", "深化", "推动", "围绕")
# Verbs of a question that say nothing of what is asked (是什么, 有哪些, 要多少).
LIGHT_VERBS = frozenset({"是", "有", "要", "叫", "作", "做", "为", "在", "到", "让", "给", "想", "能", "会", "说", "搞", "拿",
                         "用", "来", "去", "定", "打算", "准备", "计划"})
CLAUSE_BREAK_AT = re.compile(r"[，,；;。！？!?：\n]|(?<!\d):|:(?!\d)")
TERM_SCALE = 3.0


@lru_cache(maxsize=8192)
def words(text: str) -> tuple[tuple[int, str, str], ...]:
    """(offset, word, part of speech) of the text, by jieba; cached, as the same sentences come back."""
    from retrieval.text.tokenizer import part_of_speech_cut

    found, position = [], 0
    for word in part_of_speech_cut(text):
        found.append((position, word.word, word.flag))
        position += len(word.word)
    return tuple(found)


@dataclass(frozen=True)
class FactQuestion:
    """What the fact step knows of the question: its analysis and its content words weighted (sum TERM_SCALE)."""

    analysis: QueryAnalysis
    weights: Mapping[str, float]

    @classmethod
    def of(cls, analysis: QueryAnalysis, term_weights: Mapping[str, float]) -> "FactQuestion":
        total = sum(term_weights.values())
        weights = {t: TERM_SCALE * w / total for t, w in term_weights.items()} if total > 0 else {}
        return cls(analysis, weights)

    @property
    def text(self) -> str:
        return self.analysis.text

    @property
    def noun(self) -> str:
        return self.analysis.asked_noun

    @property
    def primary_generators(self) -> tuple[str, ...]:
        """The generators most typical of the asked kind (the first two of its entry)."""
        return kind_named(self.analysis.answer_kind).generators[:2]

    @property
    def gate(self) -> str:
        return kind_named(self.analysis.answer_kind).gate


@dataclass
class Candidate:
    """A span of the sentence that may be the fact, with the generators that found it."""

    start: int
    end: int
    text: str
    sources: set[str] = field(default_factory=set)


# ------------------------------------------------------------------------------------------------ generators
def _spans(matches, group: int = 0) -> list[FactSpan]:
    return [FactSpan(m.start(group), m.end(group), m.group(group)) for m in matches]


def amount(sentence: str, question: FactQuestion) -> list[FactSpan]:
    return quantity_spans(sentence)


def ordinal(sentence: str, question: FactQuestion) -> list[FactSpan]:
    return _spans(ORDINAL.finditer(sentence)) + _spans(QUOTED_NUMERAL.finditer(sentence), 1)


def slogan_count(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """Numbered slogans (“四个到位”, “六个一”) whose noun the question asks for ("要做到几个到位"); a slogan is no
    amount of anything else."""
    return [span for span in _spans(SLOGAN.finditer(sentence), 1)
            if len(noun := slogan_noun(span.text)) >= 2 and noun in question.text]


def slogan_noun(slogan: str) -> str:
    """四个到位 → 到位: what a numbered slogan counts."""
    return re.sub(rf"^[{_CN}\d]+个?", "", slogan)


def shaped_value(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """Values shaped like 5+1 or 三上三下 (questions shaped 几加几, 几上几下)."""
    return _spans(FORMULA.finditer(sentence)) + _spans(NUMERAL_PATTERN.finditer(sentence))


def date(sentence: str, question: FactQuestion) -> list[FactSpan]:
    return _spans(DATE.finditer(sentence)) + [s for s in _spans(WEEKLY_TIME.finditer(sentence)) if len(s.text) > 2]


def doc_number(sentence: str, question: FactQuestion) -> list[FactSpan]:
    return [FactSpan(m.start(), m.end(), re.sub(r"\s+", "", m.group())) for m in DOC_NUMBER.finditer(sentence)]


def person_after_title(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """Names after a title (省长 王某某) or before 代表…作报告."""
    return _spans(PERSON_AFTER_TITLE.finditer(sentence), 1) + [
        s for s in _spans(PERSON_BEFORE_REPORT.finditer(sentence), 1)
        if any(flag == "nr" for _o, _w, flag in words(s.text))]


def person_name(sentence: str, question: FactQuestion) -> list[FactSpan]:
    spans = [FactSpan(offset, offset + len(word), word) for offset, word, flag in words(sentence)
             if flag == "nr" and 2 <= len(word) <= 4]
    return spans + _spans(re.finditer(r"(?m)^[\u4e00-\u9fff]{2,4}$", sentence))


def quoted(sentence: str, question: FactQuestion) -> list[FactSpan]:
    spans = []
    for match in QUOTED.finditer(sentence):
        if match.group(1):                            # 《…》 titles keep their marks
            spans.append(FactSpan(match.start(), match.end(), match.group()))
        else:
            spans.append(FactSpan(match.start(3), match.end(3), match.group(3)))
    return spans


def place(sentence: str, question: FactQuestion) -> list[FactSpan]:
    return [trimmed(sentence, m.start(), m.end()) for m in PLACE.finditer(sentence)]


def gazetteer_place(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """Provinces, cities and counties of the gazetteer the sentence names (保定, 明光市)."""
    from retrieval.text.gazetteer import COUNTY, CITY, PROVINCE, gazetteer

    places = gazetteer()
    found = {(m.start, m.end) for m in places.places_in(sentence)}
    for start, end, name in places.name_matches(sentence):
        # a short name standing alone (保定国家…), not the start of a longer name (富水|路, 明光|市)
        if len(name) >= 2 and sentence[end:end + 1] not in PLACE_SUFFIXES \
                and any(p.level in (PROVINCE, CITY, COUNTY) for p in places.named(name)):
            found.add((start, end))
    return [FactSpan(start, end, sentence[start:end]) for start, end in sorted(found)]


PLACE_SUFFIXES = frozenset("路街道巷弄桥河湖山区县市镇乡村州盟旗省")


def organisation(sentence: str, question: FactQuestion) -> list[FactSpan]:
    return [trimmed(sentence, m.start(), m.end()) for m in NAMED.finditer(sentence)]


def name_before_category(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """The name a sentence gives right before the asked category: “陇上食安”智慧监管平台 → 陇上食安,
    三晋英才计划 → 三晋英才, 锦绣小区创建文明小区 (asked 小区) → 锦绣."""
    spans = []
    for head in _category_heads(question.noun):
        for match in re.finditer(re.escape(head), sentence):
            end = match.start()
            lead = re.search(r"[”\"」》][\u4e00-\u9fff]{1,6}$", sentence[max(0, end - 7):end])
            if lead and sentence[end - 1:end] not in "”\"」》":
                end = end - len(lead.group()) + 1     # “陇上食安”智慧监管|平台: the quoted name before the category's words
            if sentence[end - 1:end] in "”\"」》":
                opening = max(sentence.rfind(mark, 0, end - 1) for mark in "“\"「《")
                if opening >= 0 and 2 <= end - 1 - opening - 1 <= 20:
                    spans.append(FactSpan(opening + 1, end - 1, sentence[opening + 1:end - 1]))
                continue
            name, start = "", end
            # the sentence's own words ending at the category (a short window cut alone is tagged worse)
            before = [w for w in words(sentence) if w[0] + len(w[1]) <= end and w[0] >= max(0, end - 12)]
            if not before or before[-1][0] + len(before[-1][1]) != end:
                continue                               # the category starts inside a word (文明|小区 in 文明小区)
            while before and (before[-1][2][:1] == "a" or before[-1][1] in MODIFIERS
                              or LEVEL_WORD.fullmatch(before[-1][1])) and len(before) > 1:
                end -= len(before.pop()[1])            # 红星机械厂|老|厂房: the modifier of the category, not the name
                start = end
            for offset, word, flag in reversed(before):
                if flag[:1] in ("v", "p", "d", "c", "u", "x", "w", "r", "m", "q") and not (flag == "vn" and name) \
                        or LEVEL_WORD.fullmatch(word) or word in LEADING_VERBS or MEASURE_VERBS.fullmatch(word):
                    break                              # 创建|市级|文明小区: a level qualifies the category, it names nothing
                name, start = word + name, start - len(word)
                if len(name) >= 6:
                    break
            if 2 <= len(name) and name not in CATEGORY_WORDS:
                spans.append(FactSpan(start, end, name))
    return spans


# Words that qualify a category rather than name a thing (老厂房, 新校区).
MODIFIERS = frozenset({"老", "新", "旧", "原", "大", "小", "该", "这", "那"})
LEVEL_WORD = re.compile(r"[\u4e00-\u9fff]{1,3}级")             # 市级, 省级, 国家级: a rank, not a name


def _category_heads(noun: str) -> list[str]:
    """The asked category and its tails of two characters or more, longest first (食品安全智慧监管平台 →
    …, 智慧监管平台, 监管平台, 平台): a sentence may name the category shorter than the question."""
    if not noun:
        return []
    return [noun[start:] for start in range(0, max(1, len(noun) - 1))]


def ending_in_category(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """Short noun phrases that end in the asked noun or its head character (入围奖, 明光市, 超级联赛)."""
    noun = question.noun
    if not noun:
        return []
    heads = {noun, noun[-2:], noun[-1], words(noun)[-1][1]}      # 文明小区: also …小区 (锦绣小区) and …区
    found = words(sentence)
    spans = []
    for index, (start, word, _flag) in enumerate(found):
        if not any(word.endswith(head) for head in heads) or word in heads and index == 0:
            continue
        if word in CATEGORY_WORDS:
            continue                                  # 三晋英才|计划: the name stands before a category word (name_before_category)
        begin = start
        if word in heads:                             # a one-word head takes the word before it: 入围|奖
            previous = found[index - 1] if index else None
            if previous and previous[2][:1] in ("n", "v", "a", "j", "b", "s") and len(previous[1]) >= 2:
                begin = previous[0]
            else:
                back = index - 1                     # 90|号|地块, 3号|楼: a numbered one
                while back >= 0 and found[back][2][:1] == "m" and re.fullmatch(r"\d+号?|号", found[back][1]):
                    begin, back = found[back][0], back - 1
        phrase = sentence[begin:start + len(word)]
        # 市级文明小区 for 哪个文明小区: the asked category with a qualifier, not a name of one (12号地块 is one)
        qualified = len(noun) >= 2 and phrase.endswith(noun) and not re.search(r"\d", phrase[:-len(noun)])
        if len(phrase) >= 2 and phrase != noun and not qualified:
            spans.append(FactSpan(begin, start + len(word), phrase))
    return spans


def name_after_category(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """A proper name right after the asked noun ("首个重点项目某某芯正式落地" → 某某芯)."""
    noun = question.noun
    if not noun:
        return []
    head = noun[-2:] if len(noun) >= 2 else noun
    spans = []
    for match in re.finditer(re.escape(head), sentence):
        rest = sentence[match.end():match.end() + 12]
        start, name = match.end(), ""
        for _offset, word, flag in words(rest):
            if flag[:1] in ("v", "p", "d", "c", "u", "x", "m", "r", "w", "t") or (flag[:1] == "a" and name):
                break
            if not name and word in CATEGORY_WORDS:
                start += len(word)
                continue
            name += word
        if 2 <= len(name) <= 8:
            spans.append(FactSpan(start, start + len(name), name))
    return spans


def copula(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """"…主导产业为茶叶" / "…品牌是X": the phrase after 为/是 ending a clause."""
    spans = []
    for match in re.finditer(r"(?:为|是)([\u4e00-\u9fff“”]{2,12})(?=[，,；;。、]|$)", sentence):
        value = match.group(1).strip("“”")
        start = sentence.find(value, match.start(1))
        spans.append(FactSpan(start, start + len(value), value))
    return spans


def _object_after(sentence: str, end: int) -> FactSpan | None:
    stop = re.search(r"[，,。；;：:！？!?\n]", sentence[end:])
    object_end = end + (stop.start() if stop else len(sentence) - end)
    if not 2 <= object_end - end <= 16:
        return None
    phrase = sentence[end:object_end]
    for tail in GENERIC_TAIL:
        if phrase.endswith(tail) and len(phrase) - len(tail) >= 3:
            object_end -= len(tail)
            break
    value = sentence[end:object_end]
    start = end
    if value.startswith("“") and value.endswith("”") and value.count("“") == 1:
        start, value = start + 1, value[1:-1]
    return FactSpan(start, start + len(value), value) if len(value) >= 2 else None


def measure_object(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """Objects of measure verbs: "推行积分管理制" → 积分管理制."""
    return [_past_category(sentence, span, question.noun) for m in MEASURE_VERBS.finditer(sentence)
            if (span := _object_after(sentence, m.end()))]


def _past_category(sentence: str, span: FactSpan, noun: str) -> FactSpan:
    """An object that opens with the asked category names its member after it: 引进|中药材品种|厚朴 → 厚朴."""
    if not noun or not span.text.startswith(noun):
        return span
    start = span.start + len(noun)
    for word in sorted(CATEGORY_WORDS, key=len, reverse=True):
        if sentence.startswith(word, start):
            start += len(word)
            break
    return FactSpan(start, span.end, sentence[start:span.end]) if span.end - start >= 2 else span


def question_verb_object(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """What follows the question's own verb in the sentence ("打造成什么" over "聚力打造中国光热之都" → 中国光热之都);
    "向X转变" for a question about a direction."""
    spans = []
    for _offset, word, flag in words(question.text):
        if flag[:1] != "v" or word in LIGHT_VERBS or len(word) < 2:
            continue
        for match in re.finditer(re.escape(word), sentence):
            end = match.end()
            if sentence[end:end + 1] in "成为到至":
                end += 1
            span = _object_after(sentence, end)
            if span is not None:
                spans.append(_past_category(sentence, span, question.noun))
    for match in re.finditer(r"向([\u4e00-\u9fff“”]{2,12}?)(?:转变|转型|迈进|延伸|拓展|升级|集聚)", sentence):
        spans.append(FactSpan(match.start(1), match.end(1), match.group(1)))
    return spans


def short_clause(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """Short clauses and 、-joined lists of short clauses (企业出题、政府立项、产学研答题)."""
    spans = []
    bounds = [0] + [m.end() for m in re.finditer(r"[，,；;。：:！？!?]", sentence)]
    for start in bounds:
        stop = re.search(r"[，,；;。：:！？!?]", sentence[start:])
        end = start + (stop.start() if stop else len(sentence) - start)
        clause = sentence[start:end]
        if 2 <= len(clause) <= 24 and "、" in clause:
            lead = re.match(r"(?:坚持|实行|推行|按照|做到|实现|形成|突出)", clause)
            offset = lead.end() if lead else 0
            spans.append(FactSpan(start + offset, end, clause[offset:]))
        elif 2 <= len(clause) <= 10:
            spans.append(FactSpan(start, end, clause))
    return spans


def list_items(sentence: str, question: FactQuestion) -> list[FactSpan]:
    """Every quoted term of the sentence, or its longest 、-enumeration: a list's answer, joined."""
    terms = quoted(sentence, question)
    if len(terms) >= 2:
        return [FactSpan(terms[0].start, terms[-1].end, "、".join(t.text for t in terms))]
    enumerations = [m for m in re.finditer(r"[\u4e00-\u9fff“”]{2,12}(?:、[\u4e00-\u9fff“”]{2,12})+", sentence)]
    if not enumerations:
        return []
    longest = max(enumerations, key=lambda m: len(m.group()))
    return [FactSpan(longest.start(), longest.end(), longest.group())]


GENERATORS: dict[str, Callable[[str, FactQuestion], list[FactSpan]]] = {
    "amount": amount, "ordinal": ordinal, "slogan_count": slogan_count, "shaped_value": shaped_value,
    "date": date, "doc_number": doc_number, "person_after_title": person_after_title, "person_name": person_name,
    "quoted": quoted, "place": place, "gazetteer_place": gazetteer_place, "organisation": organisation,
    "name_before_category": name_before_category, "ending_in_category": ending_in_category,
    "name_after_category": name_after_category, "copula": copula, "measure_object": measure_object,
    "question_verb_object": question_verb_object, "short_clause": short_clause, "list_items": list_items,
}


def trimmed(text: str, start: int, end: int) -> FactSpan:
    """A name span without the verbs and prepositions jieba finds before it: 统筹推进|某某支路 → 某某支路."""
    skip = 0
    found = words(text[start:end])
    for offset, word, flag in found[:-1]:
        if flag[:1] in ("v", "p", "d", "c", "u", "r") or word in LEADING_FUNCTION_CHARS:
            skip = offset + len(word)
            continue
        break
    name = _trim_function_words(text[start + skip:end])
    return FactSpan(end - len(name), end, name)


def _trim_function_words(name: str) -> str:
    changed = True
    while changed and len(name) > 3:
        changed = False
        if name[0] in LEADING_FUNCTION_CHARS:
            name, changed = name[1:], True
        for verb in LEADING_VERBS:
            if name.startswith(verb) and len(name) - len(verb) >= 3:
                name, changed = name[len(verb):], True
    return name


def generate(sentence: str, question: FactQuestion, generator_names, accepts: re.Pattern | None = None
             ) -> list[Candidate]:
    """The candidates of the named generators that pass the kind's type check, one per distinct span, knowing
    every generator that found it."""
    found: dict[tuple[int, int], Candidate] = {}
    for name in dict.fromkeys(generator_names):
        for span in GENERATORS[name](sentence, question):
            text = span.text.strip()
            if accepts is not None and not accepts.search(text):
                continue
            if len(text) < 2 and not (name in ("amount", "ordinal") and text):
                continue
            key = (span.start, span.end)
            candidate = found.setdefault(key, Candidate(span.start, span.end, text))
            candidate.sources.add(name)
    return sorted(found.values(), key=lambda c: (c.start, -c.end))


# ------------------------------------------------------------------------------------------------ features
def clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = max((m.end() for m in CLAUSE_BREAK_AT.finditer(text, 0, start)), default=0)
    right = next((m.start() for m in CLAUSE_BREAK_AT.finditer(text, end)), len(text))
    return left, right


def term_nearness(text: str, start: int, end: int, weights: Mapping[str, float]) -> float:
    """Question words in the value's clause, the nearer the better: the indicator a value belongs to."""
    left, right = clause_bounds(text, start, end)
    score = 0.0
    for term, weight in weights.items():
        best = 0.0
        for match in re.finditer(re.escape(term), text):
            if match.start() < end and start < match.end():
                continue                               # a span's own words say nothing about it
            distance = max(start - match.end(), match.start() - end, 0)
            in_clause = left <= match.start() and match.end() <= right
            value = weight / (1 + distance / 40) if in_clause else weight * 0.25 / (1 + distance / 12)
            best = max(best, value)
        score += best
    return score


def unit_fit(value: str, unit: str) -> float:
    """+1 the asked unit itself, +2/3 a unit that answers it, -2/3 another unit, 0 when no unit is asked."""
    if not unit:
        return 0.0
    if unit == "%":
        return 2 / 3 if "%" in value or "百分之" in value or RATIO.fullmatch(value) else -1 / 3
    bare = value
    for word in TRAILING_QUALIFIERS:
        if bare.endswith(word):
            bare = bare[:-len(word)]
    if unit in value:
        return 1.0
    if bare.endswith(tuple(compatible_units(unit))):
        return 2 / 3
    return -2 / 3


def question_word_share(span: str, weights: Mapping[str, float], asked_noun: str = "") -> float:
    """Share of a span's characters that are the question's own words (other than the asked noun)."""
    covered = [False] * len(span)
    for term in weights:
        if asked_noun and term in asked_noun:
            continue
        for match in re.finditer(re.escape(term), span):
            covered[match.start():match.end()] = [True] * (match.end() - match.start())
    return sum(covered) / max(1, len(span))


def predicate_before_question_word(question: str) -> str:
    """The content word right before 多少/几 ("受理了多少户" → 受理, "签约金额多少" → 金额), or ""."""
    match = re.search(r"(多少|几)", question)
    if not match:
        return ""
    before = re.sub(r"(?:了|是|有|达|为|共|一共|总共|要|能|将|到|达到)+$", "", question[:match.start()])
    found = [word for _offset, word, flag in words(before) if flag[:1] not in ("x", "u", "w")]
    return found[-1] if found and len(found[-1]) >= 2 else ""


def _before_category(sentence: str, end: int, heads: list[str]) -> float:
    """1 when the asked category follows the span at once (“某某”计划), less when a few more words of the
    category stand between (“某某”智慧监管平台 for 平台): 1 / (1 + gap/3); 0 beyond a clause break or 6 characters."""
    best = 0.0
    for head in heads:
        found = sentence.find(head, end, end + 6 + len(head))
        if found < 0 or re.search(r"[^\u4e00-\u9fff]", sentence[end:found]):
            continue
        best = max(best, 1 / (1 + (found - end) / 3))
    return best


def is_single_verb_or_adverb(text: str) -> bool:
    """深化, 进一步: one word that is a verb, adverb, preposition or conjunction names nothing (adjectives may:
    jieba tags some names so, 厚朴)."""
    own = words(text) if text else ()
    return len(own) == 1 and own[0][2][:1] in ("v", "d", "p", "c") and own[0][2] != "vn"


def _inside_quotes(sentence: str, start: int, end: int) -> bool:
    return sentence[start - 1:start] in "“\"「《" and sentence[end:end + 1] in "”\"」》" or \
        (sentence[start:start + 1] == "《" and sentence[end - 1:end] == "》")


FEATURE_NAMES: tuple[str, ...] = (
    "bias_sources", "unit_fit", "term_nearness", "question_word_share", "inside_question", "category_word",
    "before_category", "ends_with_category", "after_category", "predicate_before", "inside_quotes", "length",
    "single_character", "position", "negation_mismatch", "origin_value", "total_fit", "ordinal_fit",
    "ordinal_misfit", "slogan_asked", "place_level_fit", "digits_in_phrase", "year_like",
    "first_of_kind", "last_of_kind", "primary_generator", "single_verb_or_adverb",
) + tuple(f"from_{name}" for name in GENERATORS)
# Features whose meaning differs for numbers: an amount's indicator stands before it (财税收入5545万元) while a
# name's category stands after it (“某某”计划); each also enters once more, for number kinds only.
NUMBER_SPECIFIC = ("before_category", "after_category", "ends_with_category", "term_nearness", "question_word_share",
                   "inside_quotes", "position", "first_of_kind", "last_of_kind", "predicate_before")
FEATURE_NAMES = FEATURE_NAMES + tuple(f"{name}_for_number" for name in NUMBER_SPECIFIC)


def features(sentence: str, candidate: Candidate, question: FactQuestion, candidates: list[Candidate]
             ) -> dict[str, float]:
    """The named features of one candidate (see FEATURE_NAMES); generator-independent except from_*."""
    analysis, weights, noun = question.analysis, question.weights, question.noun
    text, start, end = candidate.text, candidate.start, candidate.end
    q = question.text
    left, right = clause_bounds(sentence, start, end)
    own_start = max([left] + [other.end for other in candidates if other.end <= start and other is not candidate])
    before, after = sentence[own_start:start], sentence[end:end + len(noun) + 4] if noun else ""
    heads = _category_heads(noun)
    after_quote = end + (1 if sentence[end:end + 1] in "”\"」》" else 0)
    bare_text = text.strip("“”《》\"")
    predicate = predicate_before_question_word(q)
    if predicate and noun and predicate in noun:
        predicate = ""
    is_ordinal = bool(ORDINAL.fullmatch(text)) or bool(QUOTED_NUMERAL.search(sentence[start - 1:end + 1]))
    asks_ordinal = any(cue in q for cue in ORDINAL_CUES)
    is_slogan = "slogan_count" in candidate.sources
    asks_negated = any(word in q for word in NEGATION)
    negated = any(word in sentence[left:right] for word in NEGATION)
    origin = any(later.start > end and later.start < right and any(m in sentence[end:later.start] for m in RESULT_MARKERS)
                 for later in candidates if "amount" in later.sources) and "amount" in candidate.sources
    asks_origin = any(cue in q for cue in ORIGIN_CUES)
    asks_total = any(cue in q for cue in TOTAL_CUES)
    same_kind = [c for c in candidates if c.sources & candidate.sources]
    level_fit = 0.0
    if "gazetteer_place" in candidate.sources and noun:
        from retrieval.text.gazetteer import gazetteer

        levels = {place.level for place in gazetteer().named(text)} | {place.level for place in gazetteer().by_full_name(text)}
        level_fit = 1.0 if any(level and (noun.endswith(level) or level in noun) for level in levels) else 0.0
    values = {
        "bias_sources": math.log1p(len(candidate.sources)),
        "unit_fit": unit_fit(text, analysis.unit) if "amount" in candidate.sources else 0.0,
        "term_nearness": term_nearness(sentence, start, end, weights) / TERM_SCALE,
        "question_word_share": question_word_share(text, weights, noun),
        "inside_question": 1.0 if bare_text and bare_text in q else 0.0,
        "category_word": 1.0 if bare_text in CATEGORY_WORDS or (noun and bare_text in heads) else 0.0,
        "before_category": _before_category(sentence, after_quote, heads),
        "ends_with_category": 1.0 if noun and bare_text != noun and (bare_text.endswith(noun) or
                                                                     (len(noun) > 1 and bare_text.endswith(noun[-1])))
        else 0.0,
        "after_category": 1.0 if heads and any(sentence[max(0, start - len(h) - 2):start].endswith(h)
                                              or sentence[max(0, start - len(h) - 4):start].find(h) >= 0
                                              for h in heads) else 0.0,
        "predicate_before": 1.0 if predicate and predicate in sentence[max(own_start, start - len(predicate) - 3):start]
        else 0.0,
        "inside_quotes": 1.0 if _inside_quotes(sentence, start, end) else 0.0,
        "length": min(len(text), 30) / 10,
        "single_character": 1.0 if len(text) < 2 else 0.0,
        "position": start / max(1, len(sentence)),
        "negation_mismatch": 1.0 if negated != asks_negated else 0.0,
        "origin_value": 1.0 if origin and not asks_origin else 0.0,
        "total_fit": 1.0 if asks_total and any(marker in sentence[left:right] for marker in TOTAL_MARKERS) else 0.0,
        "ordinal_fit": 1.0 if is_ordinal and asks_ordinal else 0.0,
        "ordinal_misfit": 1.0 if is_ordinal != asks_ordinal else 0.0,
        "slogan_asked": 1.0 if is_slogan else 0.0,
        "place_level_fit": level_fit,
        "digits_in_phrase": 1.0 if re.search(r"\d", text) and analysis.answer_kind in ("phrase", "yes_no", "entity")
        and "ordinal" not in candidate.sources else 0.0,
        "year_like": 1.0 if re.fullmatch(r"(?:19|20)\d{2}年?", strip_leading(text)) else 0.0,
        "first_of_kind": 1.0 if same_kind and same_kind[0] is candidate else 0.0,
        "last_of_kind": 1.0 if same_kind and same_kind[-1] is candidate else 0.0,
    }
    # before_category for an amount: 近600家|沿街店铺, the value counts the asked noun
    if noun and "amount" in candidate.sources and noun in after:
        values["before_category"] = 1.0
    if noun and "amount" in candidate.sources and noun in before:
        values["after_category"] = 1.0
    for name in GENERATORS:
        values[f"from_{name}"] = 1.0 if name in candidate.sources else 0.0
    values["single_verb_or_adverb"] = 1.0 if is_single_verb_or_adverb(bare_text) else 0.0
    values["primary_generator"] = 1.0 if candidate.sources & set(question.primary_generators) else 0.0
    is_number = question.gate == "number"
    for name in NUMBER_SPECIFIC:
        values[f"{name}_for_number"] = values[name] if is_number else 0.0
    return values
