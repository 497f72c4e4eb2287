"""The fact inside an answer sentence: the value a question asks for, not just any number in the sentence.

For 多少/几 it is the quantity the asked noun governs (多少家沿街店铺 → 近600家, not the 近30家 of another
noun in the same sentence), with its qualifiers (近, 约, 余, 以上); for 哪天 a date; for 文号 a document
number; for 谁 a person's name; for 什么/哪个 the name of the asked kind of thing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

from retrieval.text.quantities import (CHINESE_DIGITS, LEADING_QUALIFIERS, NUMBER, PERCENT, QUANTITY, RATIO,  # noqa: F401
                                        TRAILING_QUALIFIERS, UNITS, YEAR_OR_DATE, FactSpan, compatible_units,
                                        quantities, quantity_spans, strip_leading)
from retrieval.text.patterns import DOC_NUMBER
from retrieval.types import QueryAnalysis

_CN = CHINESE_DIGITS
ORDINAL = re.compile(rf"[第前]{NUMBER}(?:位|名|批|届|轮|次|个|期)?")
FORMULA = re.compile(r"\d+\s*\+\s*\d+")
QUOTED_NUMERAL = re.compile(rf"[“\"]([{_CN}]{{2,4}})[”\"]")
DATE = re.compile(r"(?:19|20)\d{2}[-/.年]\s*\d{1,2}[-/.月]\s*\d{1,2}日?|\d{1,2}月\d{1,2}[日号]|(?:19|20)\d{2}年\d{1,2}月")
WEEKLY_TIME = re.compile(r"每(?:周|月|年|季度|天|日)[一二三四五六日天]?(?:[上下]午|晚上|早上)?")
QUOTED = re.compile(r"([《])([^《》\n]{2,30})》|[“\"「]([^“”\"「」\n]{2,20})[”\"」]")
PLACE = re.compile(r"[\u4e00-\u9fff]{1,8}(?:路|街(?!道)|弄|巷|大道)\d*(?:号|弄)?(?:\d+号)?")
NAMED = re.compile(r"[\u4e00-\u9fff]{2,10}(?:事务所|服务社|中心|公司|集团|学院|基地|平台|工作室|联盟|品牌|项目|工程|协会|商会)")
_NEGATION = ("未", "没", "尚未", "还没", "不")
_RESULT_MARKERS = ("至", "到", "为")
TERM_SCALE = 3.0
# A question about where a change started (从多少, 原来) wants the first value of 从…至….
_ORIGIN_CUES = ("从多少", "原来", "原先", "之前是", "起初", "最初")
# A question about a running total (一共, 累计, 到现在) wants the cumulative figure of a sentence.
_TOTAL_CUES = ("一共", "总共", "累计", "总计", "到现在", "目前", "至今", "共计")
_TOTAL_MARKERS = ("累计", "共计", "总计", "合计", "总数", "已")            # 从120家增至350家: the value after 至 is the current one
_strip_leading = strip_leading
_quantity_spans = quantity_spans


# Clause breaks; an ASCII colon between digits belongs to a ratio or a time (3.2:40:56.8, 11:58), not a break.
_CLAUSE_BREAK_AT = re.compile(r"[，,；;。！？!?：\n]|(?<!\d):|:(?!\d)")


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = max((m.end() for m in _CLAUSE_BREAK_AT.finditer(text, 0, start)), default=0)
    right = next((m.start() for m in _CLAUSE_BREAK_AT.finditer(text, end)), len(text))
    return left, right


def _term_score(text: str, span: FactSpan, weights: Mapping[str, float]) -> float:
    """Question words in the value's clause, the nearer the better: the indicator a value belongs to."""
    left, right = _clause_bounds(text, span.start, span.end)
    clause_score = 0.0
    for term, weight in weights.items():
        best = None
        for match in re.finditer(re.escape(term), text):
            if match.start() < span.end and span.start < match.end():
                continue                               # a span's own words say nothing about it
            distance = max(span.start - match.end(), match.start() - span.end, 0)
            in_clause = left <= match.start() and match.end() <= right
            # Inside the value's clause the indicator may stand a little apart ("结构由…调整为…的X").
            value = weight / (1 + distance / 40) if in_clause else weight * 0.25 / (1 + distance / 12)
            best = value if best is None else max(best, value)
        clause_score += best or 0.0
    return clause_score


def _unit_score(value: str, unit: str) -> float:
    if not unit:
        return 0.0
    if unit == "%":
        return 2.0 if "%" in value or "百分之" in value or RATIO.fullmatch(value) else -1.0
    bare = value
    for word in TRAILING_QUALIFIERS:
        if bare.endswith(word):
            bare = bare[:-len(word)]
    if unit in value:
        return 3.0
    if bare.endswith(tuple(compatible_units(unit))):
        return 2.0
    return -2.0


def _choose_quantity(text: str, analysis: QueryAnalysis, weights: Mapping[str, float]) -> FactSpan | None:
    question = analysis.text
    if "第几" in question or "排名" in question or "前几" in question:
        ordinals = [FactSpan(m.start(), m.end(), m.group()) for m in ORDINAL.finditer(text)]
        ordinals += [FactSpan(m.start(1), m.end(1), m.group(1)) for m in QUOTED_NUMERAL.finditer(text)]
        if ordinals:
            return _best(text, ordinals, analysis, weights, prefer_result=True)
    if "加几" in question:                                # a formula such as 5+1
        formulas = [FactSpan(m.start(), m.end(), m.group()) for m in FORMULA.finditer(text)]
        if formulas:
            return formulas[0]
    spans = _quantity_spans(text)
    if any(word in question for word in ("比例", "结构", "比重")):
        ratios = [s for s in spans if RATIO.fullmatch(s.text)]
        spans = ratios or spans
    if analysis.unit:
        # An amount in the asked unit (or one that answers it: 万元 for 多少钱) beats any other amount.
        fitting = [s for s in spans if _unit_score(s.text, analysis.unit) > 0]
        spans = fitting or spans
    if not spans:
        return None
    return _best(text, spans, analysis, weights, prefer_result=True)


def _best(text: str, spans: list[FactSpan], analysis: QueryAnalysis, weights: Mapping[str, float],
          prefer_result: bool) -> FactSpan:
    question = analysis.text
    asks_negated = any(word in question for word in _NEGATION)
    asks_total = any(word in question for word in _TOTAL_CUES)
    asks_origin = any(word in question for word in _ORIGIN_CUES)
    predicate = _word_before_question_word(question)
    if predicate and analysis.asked_noun and predicate in analysis.asked_noun:
        predicate = ""                                 # the counted noun itself, scored as such above

    def score(span: FactSpan) -> float:
        value = _unit_score(span.text, analysis.unit) + _term_score(text, span, weights)
        left, right = _clause_bounds(text, span.start, span.end)
        clause = text[left:right]
        # What stands before this value and after the previous one: the value's own indicator.
        own_start = max([left] + [other.end for other in spans if other.end <= span.start])
        before = text[own_start:span.start]
        if analysis.asked_noun:
            after = text[span.end:span.end + len(analysis.asked_noun) + 4]
            if analysis.asked_noun in after:
                value += 3.0                           # 近600家|沿街店铺: the value counts the asked noun
            elif analysis.asked_noun in before:
                value += 1.5
        if predicate and predicate in text[max(own_start, span.start - len(predicate) - 3):span.start]:
            value += 2.0                               # 受理了多少户 → "受理230户": the asked verb right before it
        if asks_total and any(marker in clause for marker in _TOTAL_MARKERS):
            value += 1.0
        negated = any(word in clause for word in _NEGATION)
        if negated != asks_negated:
            value -= 1.5
        if prefer_result and not asks_origin and any(later.start > span.end and later.start < right
                                 and any(m in text[span.end:later.start] for m in _RESULT_MARKERS)
                                 for later in spans):
            value -= 3.0                               # the starting value of 从…至… / 由…调整为…
        return value
    return max(spans, key=lambda s: (score(s), -s.start))


def _word_before_question_word(question: str) -> str:
    """The content word right before 多少/几 ("受理了多少户" → 受理, "签约金额多少" → 金额), or ""."""
    match = re.search(r"(多少|几|第几)", question)
    if not match:
        return ""
    before = re.sub(r"(?:了|是|有|达|为|共|一共|总共|要|能|将|到|达到)+$", "", question[:match.start()])
    words = [word for _offset, word, flag in _words(before) if flag[:1] not in ("x", "u", "w")]
    return words[-1] if words and len(words[-1]) >= 2 else ""


def _choose_date(text: str, analysis: QueryAnalysis, weights: Mapping[str, float]) -> FactSpan | None:
    spans = [FactSpan(m.start(), m.end(), m.group()) for m in DATE.finditer(text)]
    spans += [FactSpan(m.start(), m.end(), m.group()) for m in WEEKLY_TIME.finditer(text) if len(m.group()) > 2]
    if not spans:
        return None
    return max(spans, key=lambda s: (_term_score(text, s, weights), -s.start))


def _choose_person(text: str, weights: Mapping[str, float]) -> FactSpan | None:
    spans = [FactSpan(offset, offset + len(word), word) for offset, word, flag in _words(text)
             if flag == "nr" and 2 <= len(word) <= 4]
    lines = [(m.start(), m.end(), m.group()) for m in re.finditer(r"(?m)^[\u4e00-\u9fff]{2,4}$", text)]
    spans += [FactSpan(start, end, line) for start, end, line in lines if not any(s.text == line for s in spans)]
    if not spans:
        return None
    return max(spans, key=lambda s: (_term_score(text, s, weights), -s.start))


# Questions asking what is done or relied on (怎么处理, 靠哪项工程, 有啥安排): answered by a measure's object.
_MEANS_CUES = ("怎么处理", "如何处理", "怎么办", "怎么解决", "如何解决", "靠什么", "靠哪", "依靠", "通过什么", "什么办法",
               "什么安排", "什么措施", "怎么做", "如何做", "采取", "做什么")
# Verbs that introduce a measure in plans and reports; their object names it.
_MEASURE_VERBS = re.compile(r"(?:推行|实行|实施|推进|开展|建立|打造|办好|依托|采取|推广|启动|举办|设立|成立|创建|"
                            r"落实|引进|组建|开通|试点|组织)")
_GENERIC_TAIL = ("工作", "活动", "建设", "行动")
_NAME_CUES = ("叫什么", "叫啥", "名称", "名字", "怎么称呼", "叫做", "口号")
_PLACE_HEADS = ("路", "街", "道", "河", "桥", "线", "站", "弄", "巷")   # 哪条步行街: a place is asked
_PLACE_CUES = ("哪条路", "哪条街", "在哪", "哪里", "什么地方", "哪个地方", "什么位置", "哪个位置")


def _question_word_share(span: str, weights: Mapping[str, float], asked_noun: str = "") -> float:
    """Share of a span's characters that are the question's own words (other than the asked noun, which an
    answer naturally ends with: 入围奖 for 什么奖): such a span restates the question."""
    covered = [False] * len(span)
    for term in weights:
        if asked_noun and term in asked_noun:
            continue
        for match in re.finditer(re.escape(term), span):
            covered[match.start():match.end()] = [True] * (match.end() - match.start())
    return sum(covered) / max(1, len(span))


def _choose_name(text: str, analysis: QueryAnalysis, weights: Mapping[str, float]) -> FactSpan | None:
    """A name of the asked kind: a quoted term, a place, an organisation, a noun phrase ending in the asked
    noun, the name standing right after the asked noun (首个重点项目|某某芯), or what a 为/是 clause names."""
    spans: list[FactSpan] = []
    quoted: list[FactSpan] = []
    for match in QUOTED.finditer(text):
        if match.group(1):                            # 《…》 titles keep their marks
            quoted.append(FactSpan(match.start(), match.end(), match.group()))
        else:
            quoted.append(FactSpan(match.start(3), match.end(3), match.group(3)))
    places = [_trimmed(text, m.start(), m.end()) for m in PLACE.finditer(text)]
    named = [_trimmed(text, m.start(), m.end()) for m in NAMED.finditer(text)]
    spans += quoted + places + named
    noun = analysis.asked_noun
    after_noun: list[FactSpan] = []
    if noun:
        spans += _ending_in(text, noun)
        after_noun = _name_after(text, noun)
        spans += after_noun
    copula = _after_copula(text, weights)
    if copula:
        spans.append(copula)
    asks_means = any(cue in analysis.text for cue in _MEANS_CUES)
    objects = _verb_objects(text) if asks_means else []
    spans += objects
    spans = [s for s in spans if s.text]
    if not spans:
        return None
    asks_place = any(cue in analysis.text for cue in _PLACE_CUES) or noun.endswith(_PLACE_HEADS)
    asks_name = any(cue in analysis.text for cue in _NAME_CUES)
    asks_label = "几号" in analysis.text

    def score(span: FactSpan) -> float:
        value = _term_score(text, span, weights)
        if noun and (span.text.endswith(noun) or (len(noun) > 1 and span.text.endswith(noun[-1]))):
            value += 2.0
        if span in after_noun:
            value += 2.5
        if span is copula:
            value += 1.0
        if span in objects:
            value += 1.5                               # 怎么处理 → 推行|积分管理制: the measure taken
        if asks_place and span in places:
            value += 2.5
        if asks_label and not any(ch.isdigit() for ch in span.text):
            value -= 3.0                               # 几号地块 is answered by a numbered one
        if span in quoted:
            value += 2.5 if asks_name else 0.5
        value -= 4.0 * _question_word_share(span.text, weights, noun)
        return value
    return max(spans, key=lambda s: (score(s), -s.start))


def _verb_objects(text: str) -> list[FactSpan]:
    """Objects of measure verbs: "推行积分管理制" → 积分管理制, "强力推进某某农网改造" → 某某农网改造."""
    spans = []
    for match in _MEASURE_VERBS.finditer(text):
        end = match.end()
        stop = re.search(r"[，,。；;、：:！？!?\n]", text[end:])
        object_end = end + (stop.start() if stop else len(text) - end)
        if not 2 <= object_end - end <= 16:
            continue
        phrase = text[end:object_end]
        for tail in _GENERIC_TAIL:
            if phrase.endswith(tail) and len(phrase) - len(tail) >= 3:
                object_end -= len(tail)
                break
        start = end
        value = text[start:object_end]
        if value.startswith("“") and value.endswith("”") and value.count("“") == 1:
            start, value = start + 1, value[1:-1]          # a quoted name: the name itself
        if len(value) >= 2:
            spans.append(FactSpan(start, start + len(value), value))
    return spans


@lru_cache(maxsize=8192)
def _words(text: str) -> tuple[tuple[int, str, str], ...]:
    """(offset, word, part of speech) of the text, by jieba; cached, as the same sentences come back."""
    from retrieval.text.tokenizer import part_of_speech_cut

    words, position = [], 0
    for word in part_of_speech_cut(text):
        words.append((position, word.word, word.flag))
        position += len(word.word)
    return tuple(words)


def _trimmed(text: str, start: int, end: int) -> FactSpan:
    """A name span without the verbs and prepositions jieba finds before it: 统筹推进|某某支路 → 某某支路."""
    words = _words(text[start:end])
    skip = 0
    for offset, word, flag in words[:-1]:
        if flag[:1] in ("v", "p", "d", "c", "u", "r") or word in _LEADING_FUNCTION_CHARS:
            skip = offset + len(word)
            continue
        break
    name = _trim_function_words(text[start + skip:end])
    begin = end - len(name)
    return FactSpan(begin, end, name)


# Words that name a category, not a thing: "引进果树品种某某桃" names 某某桃.
_CATEGORY_WORDS = frozenset({"品种", "种类", "类型", "名称", "名单", "项目", "品牌", "产品", "工程", "企业"})


def _name_after(text: str, noun: str) -> list[FactSpan]:
    """A proper name right after the asked noun ("首个重点项目某某芯正式落地" → 某某芯)."""
    head = noun[-2:] if len(noun) >= 2 else noun
    spans = []
    for match in re.finditer(re.escape(head), text):
        rest = text[match.end():match.end() + 12]
        start, name = match.end(), ""
        for _offset, word, flag in _words(rest):
            # jieba tags many names as other words (厚朴 as an adjective): only a clear verb, particle,
            # time word or punctuation ends the name; an adjective ends it only after the first word.
            if flag[:1] in ("v", "p", "d", "c", "u", "x", "m", "r", "w", "t") or (flag[:1] == "a" and name):
                break
            if not name and word in _CATEGORY_WORDS:
                start += len(word)
                continue
            name += word
        if 2 <= len(name) <= 8:
            spans.append(FactSpan(start, start + len(name), name))
    return spans


def _ending_in(text: str, noun: str) -> list[FactSpan]:
    """Short noun phrases that end in the asked noun or its head character (入围奖, 明光市)."""
    # 县级市 → also …市 (明光市); a two-character noun keeps its whole self (手艺 is no …艺 like 技艺).
    heads = {noun, noun[-1]} if len(noun) > 2 else {noun}
    words = _words(text)
    spans = []
    for index, (start, word, _flag) in enumerate(words):
        if not any(word.endswith(head) for head in heads) or word in heads and index == 0:
            continue
        begin = start
        if word in heads:                             # a one-word head takes the word before it: 入围|奖
            previous = words[index - 1] if index else None
            if previous and previous[2][:1] in ("n", "v", "a", "j", "b", "s") and len(previous[1]) >= 2:
                begin = previous[0]
            else:
                back = index - 1                     # 90|号|地块, 3号|楼: a numbered one
                while back >= 0 and words[back][2][:1] == "m" and re.fullmatch(r"\d+号?|号", words[back][1]):
                    begin, back = words[back][0], back - 1
        phrase = text[begin:start + len(word)]
        if len(phrase) >= 2 and phrase != noun:
            spans.append(FactSpan(begin, start + len(word), phrase))
    return spans


def _after_copula(text: str, weights: Mapping[str, float]) -> FactSpan | None:
    """"…主导产业为茶叶" / "…品牌是X": the phrase after 为/是 in a clause that holds the question's words."""
    for match in re.finditer(r"(?:为|是)([\u4e00-\u9fff“”]{2,12})(?=[，,；;。、]|$)", text):
        value = match.group(1).strip("“”")
        start = text.find(value, match.start(1))
        return FactSpan(start, start + len(value), value)
    return None


_LEADING_FUNCTION_CHARS = "对在沿于将把和与及从向至到为以由经就是即如"
_LEADING_VERBS = ("做好", "做实", "推进", "完成", "实施", "加快", "启动", "开展", "打造", "建成", "新建", "改造",
                  "提升", "位于", "落户", "依托", "发挥", "办好", "建设", "加强", "深化", "推动", "围绕")


def _trim_function_words(name: str) -> str:
    """"对某某路" → "某某路", "做好某某路12号" → "某某路12号": a preposition or verb before a
    place or organisation name is not part of it."""
    changed = True
    while changed and len(name) > 3:
        changed = False
        if name[0] in _LEADING_FUNCTION_CHARS:
            name, changed = name[1:], True
        for verb in _LEADING_VERBS:
            if name.startswith(verb) and len(name) - len(verb) >= 3:
                name, changed = name[len(verb):], True
    return name


def extract_fact(sentence: str, analysis: QueryAnalysis, term_weights: Mapping[str, float]) -> str:
    """The short fact of the answer sentence for this question, or "" when no value of the asked kind stands out.

    `term_weights` maps the question's content words (organisation names removed) to their idf.
    """
    kind = analysis.answer_kind
    span = None
    # Question words decide among values of the right kind; normalised, they never outweigh the kind itself.
    total = sum(term_weights.values())
    if total > 0:
        term_weights = {term: TERM_SCALE * weight / total for term, weight in term_weights.items()}
    if kind == "doc_number":
        match = DOC_NUMBER.search(sentence)
        return re.sub(r"\s+", "", match.group()) if match else ""
    if kind == "date":
        span = _choose_date(sentence, analysis, term_weights)
    elif kind == "quantity":
        span = _choose_quantity(sentence, analysis, term_weights)
    elif kind == "person":
        span = _choose_person(sentence, term_weights)
    elif kind in ("entity", "other"):
        span = _choose_name(sentence, analysis, term_weights)
        if span is None and kind == "other":
            span = _choose_quantity(sentence, analysis, term_weights)
    # A single character is never a fact worth highlighting.
    return span.text if span and len(span.text) >= 2 else ""


def has_name(sentence: str) -> bool:
    """Whether the sentence holds a quoted term, a place or an organisation's name (a cheap test)."""
    return bool(QUOTED.search(sentence) or PLACE.search(sentence) or NAMED.search(sentence))


def has_value_of_kind(sentence: str, analysis: QueryAnalysis) -> bool:
    """Whether the sentence holds a value of the asked kind at all (an amount for 多少, a date for 哪天)."""
    kind = analysis.answer_kind
    if kind == "quantity":
        return bool(_quantity_spans(sentence) or ORDINAL.search(sentence) or FORMULA.search(sentence)
                    or QUOTED_NUMERAL.search(sentence))
    if kind == "date":
        return bool(DATE.search(sentence) or WEEKLY_TIME.search(sentence))
    if kind == "doc_number":
        return bool(DOC_NUMBER.search(sentence))
    return True


def term_weights(terms: Sequence[str], idf) -> dict[str, float]:
    """Question content words with their idf (at least 0.1, so a word every passage has still counts a little)."""
    return {term: max(idf(term), 0.1) for term in dict.fromkeys(terms)}
