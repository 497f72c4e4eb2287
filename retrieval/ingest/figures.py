"""Figure records made at indexing: each value of a passage bound to the metric it measures, its year and whether
it is a result or a target (matching a question against them is retrieval.answer.figures)."""
from __future__ import annotations

import re
from typing import Sequence

from retrieval.text.quantities import LEADING_QUALIFIERS, TRAILING_QUALIFIERS, FactSpan
from retrieval.text.quantities import quantity_spans as _quantity_spans
from retrieval.text.statements import planning_year, sentence_stance, statements, years_named
from retrieval.types import Chunk, DocumentMeta, FigureRecord

_CLAUSE_BREAK = re.compile(r"[，,；;：:。！？!?\n、（）()“”]")
_LIST_SEPARATORS = re.compile(r"[、和及与]")
# Words that link a metric to its value ("粮食产量稳定在600亿斤"): not part of the metric.
_LINKING_WORDS = tuple(sorted((
    "稳定在", "控制在", "保持在", "稳定", "保持", "达到", "达", "为", "是", "在", "至", "到", "突破", "完成", "实现",
    "累计", "共", "分别", "均", "了", "将", "要", "提高到", "提升到", "提高至", "提升至", "增加到", "增至", "降至",
    "下降到", "降低到", "降低至", "超", "预计", "力争", "确保", "全年", "总计", "合计", "共计", "约", "近",
    # "从X增长到Y": the value after 增长到 is the metric's level, not its growth
    "增长到", "增长至", "增加至", "上升到", "上升至", "减少到", "减少至", "下降至", "扩大到", "扩大至", "从", "由", "的",
), key=len, reverse=True))
# Words before which the metric does not reach: "全年粮食产量" → 粮食产量, "完成地区生产总值" → 地区生产总值.
_SUBJECT_BREAKS = re.compile(r"(?:完成|实现|达到|全年|今年|去年|上年|全省|全市|全区|全县|全镇|全国|其中|力争|预计|确保|"
                             r"主要预期目标是|预期目标是|目标是|累计|年末|年底|同期)")
_LEADING_WORDS = ("和", "及", "与", "并", "其", "的", "我们", "共")
_YEAR_WORDS = re.compile(r"(?:19|20)\d{2}\s*年(?:末|底|度)?|[“”\"]")
# Words that name a rate or a comparison: alone before a value they measure the previous metric
# ("地区生产总值32765亿元、增长4.1%" → 地区生产总值增长 4.1%).
RATE_WORDS = ("增长", "下降", "增速", "增幅", "涨幅", "降幅", "提高", "降低", "上涨", "回落", "年均增长", "同比增长",
              "同比下降", "快于", "高于", "低于", "增加", "减少")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_TENS = {"十": 10, "百": 100, "千": 1000}
_MULTIPLIERS = {"万": 1e4, "亿": 1e8, "千": 1e3, "百": 1e2}


_LEADING = re.compile("^(?:" + "|".join(sorted(LEADING_QUALIFIERS, key=len, reverse=True)) + ")")
_TRAILING = re.compile("(?:" + "|".join(sorted(TRAILING_QUALIFIERS, key=len, reverse=True)) + ")$")
_TRAILING_LINK = re.compile("(?:" + "|".join(map(re.escape, _LINKING_WORDS)) + ")$")


def _strip_qualifiers(value: str) -> str:
    return _TRAILING.sub("", _LEADING.sub("", value, count=1), count=1)


def _chinese_number(text: str) -> float | None:
    """三 → 3, 十二 → 12, 二百五十 → 250 (small counts written in words)."""
    if not text or any(ch not in _CN_DIGITS and ch not in _CN_TENS for ch in text):
        return None
    total, digit = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:
            total += (digit or 1) * _CN_TENS[ch]
            digit = 0
    return float(total + digit)


def unit_and_number(value: str) -> tuple[str, float | None]:
    """"40万人以上" → ("万人", 400000.0); "5.5%左右" → ("%", 5.5); "3.2万亿元" → ("万亿元", 3.2e12)."""
    bare = _strip_qualifiers(value)
    if bare.startswith("百分之"):
        rest = bare[3:]
        number = float(rest) if re.fullmatch(r"\d+(?:\.\d+)?", rest) else _chinese_number(rest)
        return "%", number
    match = _NUMBER.match(bare)
    if match:
        number: float | None = float(match.group().replace(",", ""))
        rest = bare[match.end():]
    else:
        head = re.match(r"[零〇一二两三四五六七八九十百千]+", bare)
        number = _chinese_number(head.group()) if head else None
        rest = bare[head.end():] if head else bare
    rest = rest.replace("余", "").replace("多", "")
    if rest.startswith("%"):
        return "%", number
    scale = 1.0
    for ch in rest:
        if ch in ("万", "亿") or (ch in ("千", "百") and rest.index(ch) == 0 and len(rest) > 1
                                   and rest[1] in ("万", "亿")):
            scale *= _MULTIPLIERS[ch]
        else:
            break
    return rest, (None if number is None else number * scale)


def _clean_metric(region: str) -> str:
    """The metric phrase a value's preceding words name: subject breaks, years, linking words taken off
    ("全年粮食产量稳定在" → 粮食产量), but never down to a rate word alone ("PM2.5平均浓度累计下降" keeps its subject)."""
    region = _YEAR_WORDS.sub("", region).strip()
    choices = [region] + [region[m.end():] for m in _SUBJECT_BREAKS.finditer(region)]
    cleaned = [_strip_links(choice) for choice in choices]
    usable = [c for c in cleaned if len(c) >= 2 and c not in RATE_WORDS]
    return usable[-1] if usable else cleaned[0]


def _strip_links(region: str) -> str:
    changed = True
    while changed and region:
        changed = False
        link = _TRAILING_LINK.search(region)
        if link:
            region, changed = region[:link.start()], True
        for word in _LEADING_WORDS:
            if region.startswith(word) and len(region) > len(word):
                region, changed = region[len(word):], True
                break
    return region.strip()


# Verbs that count what follows the value ("建成3个示范区"): the metric is the verb and the counted thing.
COUNTING_VERBS = ("建成", "新建", "建设", "新增", "打造", "培育", "实施", "开展", "改造", "引进", "落地", "招引", "签约",
                  "创建", "认定", "开工", "竣工", "投用", "启动", "推出", "举办", "培训", "帮扶", "完成", "达到")


def _base_of(metric: str) -> str:
    """A metric without its rate word: 地区生产总值增长 → 地区生产总值."""
    for word in sorted(RATE_WORDS, key=len, reverse=True):
        if metric.endswith(word) and len(metric) > len(word):
            return metric[:-len(word)]
    return metric


def _needs_subject(metric: str) -> bool:
    """A rate or comparison word alone (增长, 快于), or nothing: the metric is the previous value's."""
    return len(metric) < 2 or metric in RATE_WORDS or any(metric.startswith(w) for w in ("快于", "高于", "低于", "比"))


def _clause_start(sentence: str, position: int, floor: int) -> int:
    start = max((m.end() for m in _CLAUSE_BREAK.finditer(sentence, 0, position)), default=0)
    return max(start, floor)


def _following_noun(sentence: str, value: FactSpan, limit: int) -> str:
    """"建成3个示范区" → 示范区: the words after a value up to the clause end or the next value."""
    end = min(limit, next((m.start() for m in _CLAUSE_BREAK.finditer(sentence, value.end)), len(sentence)))
    words = sentence[value.end:end]
    words = re.split(r"(?:的|以上|左右|，)", words)[0]
    return words[:10] if re.fullmatch(r"[\u4e00-\u9fffA-Za-z0-9]{2,}", words[:10] or "") else ""


def _list_head(items: Sequence[str]) -> str:
    """The shared head of a 分别 list's items when it names a measured quantity: "交通、水利、能源投资" → 投资 (the
    last item past a modifier as long as the first item's); "学校、医院、养老机构" share nothing (机构 is no measure)."""
    first, last = items[0].strip(), items[-1].strip()
    head = last[len(first):] if len(last) > len(first) + 1 else ""
    return head if any(head.endswith(endings) for endings, _ in MEASURE_UNITS) else ""


def _respectively(sentence: str, spans: list[FactSpan]) -> dict[int, str]:
    """Metrics of the values of "A、B、C分别X、Y、Z" lists, by position: value start → metric."""
    bound: dict[int, str] = {}
    for match in re.finditer("分别", sentence):
        after = [s for s in spans if s.start >= match.end()]
        values: list[FactSpan] = []
        for span in after:
            gap = sentence[(values[-1].end if values else match.end()):span.start]
            if values and not re.fullmatch(r"[、，,和及与]?[\u4e00-\u9fff]{0,4}", gap):
                break
            if not values and len(gap) > 8:
                break
            values.append(span)
        start = _clause_start(sentence, match.start(), 0)
        # 、 separates the items themselves: the clause starts at the previous comma or semicolon.
        start = max((m.end() for m in re.finditer(r"[，,；;：:。\n]", sentence[:match.start()])), default=0)
        items_text = _YEAR_WORDS.sub("", sentence[start:match.start()])
        items = [item for item in _LIST_SEPARATORS.split(items_text) if item.strip()]
        if len(values) < 2 or len(items) != len(values):
            continue
        items[0] = _clean_metric(items[0]) or items[0]
        head = _list_head(items)
        verb = _clean_metric(sentence[match.end():values[0].start]) if values else ""
        rate = verb if verb in RATE_WORDS else ""
        for item, value in zip(items, values):
            item = item.strip()
            if head and not item.endswith(head) and len(item) <= 4:
                item += head
            bound[value.start] = item + rate
    return bound


def _value_spans(sentence: str) -> list[FactSpan]:
    """Amounts and percentages of a sentence written in digits; ratios, bare numbers and counts in words (一批,
    两个, 这五年: phrases more than figures) are not records."""
    spans = [s for s in _quantity_spans(sentence) if not re.fullmatch(r"[\d.:：]+", s.text)
             and not re.match(r"[零〇一二两三四五六七八九十百千]", _strip_qualifiers(s.text))]
    merged: list[FactSpan] = []
    for span in spans:
        previous = merged[-1] if merged else None
        gap = sentence[previous.end:span.start] if previous else ""
        # A range is one value: "4.5%—5%", "5%-5.5%" (the dash may have been read as a minus sign).
        if previous and (gap in _RANGE_DASHES or not gap and span.text.startswith("-")) \
                and unit_and_number(previous.text)[0] == unit_and_number(span.text.lstrip("-"))[0]:
            merged[-1] = FactSpan(previous.start, span.end, sentence[previous.start:span.end])
            continue
        merged.append(span)
    return merged


_RANGE_DASHES = ("—", "-", "－", "～", "~", "–", "——", "至", "到")


def extract_figures(chunk: Chunk, document_meta: DocumentMeta, document_text: str = "") -> list[FigureRecord]:
    """Every value of a passage as a record, in text order.

    `document_text` (the passage's document text) lets a passage that starts inside a paragraph read the
    paragraph's opening year ("刚刚过去的2025年，"): see retrieval.text.statements.statements.
    """
    records: list[FigureRecord] = []
    text = chunk.text
    if not re.search(r"\d", text):                     # figures are written in digits (see _value_spans)
        return records
    plan = planning_year(document_meta)
    for statement in statements(chunk, document_meta, document_text):
        sentence = text[statement.start:statement.end]
        spans = _value_spans(sentence)
        if not spans:
            continue
        listed = _respectively(sentence, spans)
        previous_metric, previous_end = "", 0
        for index, span in enumerate(spans):
            clause_start = _clause_start(sentence, span.start, 0)
            if span.start in listed:
                metric = listed[span.start]
            else:
                region = sentence[max(clause_start, previous_end):span.start]
                metric = _clean_metric(region)
                limit = spans[index + 1].start if index + 1 < len(spans) else len(sentence)
                own_words = sentence[max(clause_start, previous_end):span.start]
                if previous_metric and (metric and _needs_subject(metric) or not metric and previous_end
                                        and re.fullmatch(r"\s*[、]?\s*|[\u4e00-\u9fff]{0,4}[到至]",
                                                         _YEAR_WORDS.sub("", own_words).rstrip("的 "))):
                    metric = _base_of(previous_metric) + metric     # 增长4.1%, 快于…, 、Y after X: the same metric
                elif len(metric) < 2 or metric in COUNTING_VERBS:
                    metric = metric + _following_noun(sentence, span, limit)
            clause = sentence[clause_start:span.end]
            years = (years_named(sentence[max(clause_start, previous_end):span.start], plan)
                     or years_named(clause, plan) or statement.years)
            stance = sentence_stance(clause) or statement.stance
            unit, number = unit_and_number(span.text)
            start = statement.start + span.start
            records.append(FigureRecord(
                f"{chunk.chunk_id}:{start}", chunk.chunk_id, chunk.doc_id, metric, span.text, unit, number,
                years[0] if len(years) == 1 else None, stance, (start, start + len(span.text)),
                (statement.start, statement.end)))
            previous_metric, previous_end = metric, span.end
    return records


# What a metric measures, by the word it ends in: its answer is in one of these units (产量 is not 亩).
MEASURE_UNITS = (
    (("增长", "增速", "增幅", "涨幅", "降幅", "下降", "比重", "占比", "比例", "率", "强度"), "%"),
    (("产量", "总产", "产能", "吞吐量", "货运量"), "吨"),
    (("面积", "用地", "耕地"), "平方米"),
    (("收入", "投资", "产值", "总额", "零售额", "增加值", "生产总值", "总量", "规模", "支出", "资金", "金额", "外资",
      "营收", "税收", "利润"), "元"),
    (("人口", "就业", "人数", "人员", "人才"), "人"),
)
