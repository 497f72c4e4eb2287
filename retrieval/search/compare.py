"""Comparisons across organisations and years: "各省今年地区生产总值增长目标是多少？" as rows of cells, each
cell filled only from that organisation's own figure records for that year (or 未找到)."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from retrieval.text.normalize import normalize_question
from retrieval.serialize import breadcrumb

NOT_FOUND = "未找到"

# ---------------------------------------------------------------------------------------------- cues as data
# A plural scope: the word after 各/每个/所有/全部 … names the organisations to list, by level (the levels of
# retrieval.types.DocumentMeta.level). An empty tuple of levels means every organisation.
SCOPE_QUANTIFIERS = ("各个", "每一个", "每个", "每一", "所有", "全部", "全体", "各")
SCOPE_NOUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("省区市", ("省",)), ("省市区", ("省",)), ("省份", ("省",)), ("自治区", ("省",)), ("省", ("省",)),
    ("地市", ("市",)), ("地级市", ("市",)), ("城市", ("市",)), ("市州", ("市",)), ("市", ("市",)),
    ("区县", ("县",)), ("县区", ("县",)), ("县市区", ("县",)), ("区", ("县",)), ("县", ("县",)),
    ("街道", ("街道",)), ("街镇", ("街道", "镇")), ("乡镇", ("镇", "乡")), ("镇", ("镇",)), ("乡", ("乡",)),
    ("开发区", ("开发区",)), ("园区", ("开发区",)), ("高新区", ("开发区",)),
    ("部门", ("部门",)), ("委办局", ("部门",)),
    ("单位", ()), ("地区", ()), ("地方", ()), ("地", ()),
)
# "哪个省…最高", "哪个街道任务最多": a superlative over a level is a comparison too.
WHICH_WORDS = ("哪一个", "哪个", "哪些", "哪家", "哪")
# (cue, order): "desc" puts the largest value first and names it, "asc" the smallest.
SUPERLATIVES: tuple[tuple[str, str], ...] = (
    ("最高", "desc"), ("最多", "desc"), ("最大", "desc"), ("最快", "desc"), ("最低", "asc"), ("最少", "asc"),
    ("最小", "asc"), ("最慢", "asc"), ("更高", "desc"), ("更多", "desc"), ("更大", "desc"), ("更快", "desc"),
    ("更低", "asc"), ("更少", "asc"), ("更小", "asc"), ("高", "desc"), ("多", "desc"), ("大", "desc"),
    ("快", "desc"), ("低", "asc"), ("少", "asc"), ("小", "asc"), ("慢", "asc"),
)
_WHO_OR_WHICH = re.compile(r"谁|哪个|哪一个|哪家|哪")
# Joining words between names: 江苏和浙江, 吴淞、万里, 2020年与2021年.
_JOINERS = "和与及、跟同,，/"
# 近两年 / 近三年 / 这两年 / 前两年 / 最近3年: the latest N years.
_RELATIVE_YEARS = re.compile(r"(?:最近|近|这|前)([两二三四五2-5])年(?!来|以来|累计|一共|共|合计|总)")
# A comparison asks for figures: an amount, a target or a ranking. A question for names, measures or a date
# (分别是哪位省长, 有哪些措施, 叫啥) stays a normal question whatever organisations it lists.
FIGURE_CUES = ("多少", "几", "比例", "占比", "百分之", "增速", "增幅", "涨幅", "降幅", "增长", "下降", "目标", "任务",
               "指标", "数量", "总量", "产量", "面积", "金额", "收入", "总额", "率", "最高", "最低", "最多", "最少", "最大",
               "最小", "最快", "排名", "对比", "比较", "谁的", "高", "低")
NOT_FIGURE_CUES = ("哪些", "什么", "哪位", "哪项", "叫啥", "啥", "是谁", "哪天", "何时", "什么时候", "措施", "举措", "怎么",
                   "如何", "为什么", "走势")
_AMOUNT_CUES = ("多少", "几", "比例", "占比", "百分之")
_NUMERALS = {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5}
_YEAR = re.compile(r"(20\d{2})\s*年?")
_HEADING_YEAR = re.compile(r"(20\d{2})\s*年")
# Years named relative to the latest planning year of the rows.
RELATIVE_YEAR_WORDS: tuple[tuple[str, int], ...] = (("今年", 0), ("本年", 0), ("当年", 0), ("去年", -1), ("上年", -1),
                                                     ("上一年", -1), ("前年", -2), ("明年", 1))
# What the asked value is: a target (planned) or a result (achieved).
TARGET_CUES = ("目标", "预期", "计划", "力争", "任务", "打算", "要求", "指标", "拟")
RESULT_CUES = ("完成", "实现了", "实际", "达到了", "增长了", "下降了", "结果", "成效", "实绩", "取得")
STANCE_LABELS = {"target": "目标", "result": "结果", "": ""}
# Words of the question that are not the metric: question words, cues, particles.
_NOT_METRIC = re.compile(
    "|".join(sorted(map(re.escape, (
        "分别是多少", "分别是", "分别为", "分别", "各是多少", "各是", "是多少", "有多少", "为多少", "多少", "几", "是什么",
        "怎么样", "如何", "情况", "对比", "比较", "相比", "排名", "排序", "谁的", "谁", "哪一个", "哪个", "哪家", "哪",
        "最高", "最低", "最多", "最少", "最大", "最小", "最快", "最慢", "更高", "更低", "各自", "的", "是",
        "了", "呢", "吗", "？", "?", "。", "，", ",", "请问", "一下", "列出", "看看",
        "实际", "结果", "实绩", *TARGET_CUES, *(cue for cue in RESULT_CUES if len(cue) > 2))), key=len, reverse=True)))

# Units written in values and the base unit and factor they convert to, for sorting (万人 and 人 compare).
UNIT_SCALES: Mapping[str, tuple[str, float]] = {
    "%": ("%", 1.0), "个百分点": ("个百分点", 1.0), "‰": ("‰", 1.0),
    "人": ("人", 1.0), "万人": ("人", 1e4), "人次": ("人次", 1.0), "万人次": ("人次", 1e4),
    "元": ("元", 1.0), "万元": ("元", 1e4), "亿元": ("元", 1e8), "万亿元": ("元", 1e12),
    "美元": ("美元", 1.0), "万美元": ("美元", 1e4), "亿美元": ("美元", 1e8),
    "户": ("户", 1.0), "万户": ("户", 1e4), "亩": ("亩", 1.0), "万亩": ("亩", 1e4),
    "斤": ("吨", 5e-4), "万斤": ("吨", 5.0), "亿斤": ("吨", 5e4), "公斤": ("吨", 1e-3), "千克": ("吨", 1e-3),
    "吨": ("吨", 1.0),
    "万吨": ("吨", 1e4), "亿吨": ("吨", 1e8),
    "平方米": ("平方米", 1.0), "万平方米": ("平方米", 1e4), "公顷": ("平方米", 1e4), "平方公里": ("平方米", 1e6),
    "米": ("米", 1.0), "公里": ("米", 1e3), "千米": ("米", 1e3),
    "千瓦": ("千瓦", 1.0), "万千瓦": ("千瓦", 1e4), "兆瓦": ("千瓦", 1e3),
    "个": ("个", 1.0), "家": ("家", 1.0), "项": ("项", 1.0), "所": ("所", 1.0), "辆": ("辆", 1.0), "万辆": ("辆", 1e4),
    "件": ("件", 1.0), "处": ("处", 1.0), "套": ("套", 1.0), "万套": ("套", 1e4), "座": ("座", 1.0), "条": ("条", 1.0),
    "次": ("次", 1.0), "场": ("场", 1.0), "栋": ("栋", 1.0), "幢": ("栋", 1.0), "名": ("人", 1.0), "位": ("人", 1.0),
}
_COUNT_WORDS = ("个", "项", "家", "件", "批", "场", "次", "条", "所", "座", "万", "亿")
_MAGNITUDES = {"万亿": 1e12, "亿": 1e8, "万": 1e4, "千": 1e3, "百": 1e2}
_UNIT_ALTERNATION = "|".join(sorted(map(re.escape, UNIT_SCALES), key=len, reverse=True))
# A written value: an optional prefix (约/近/超), a number or a range (4.5%-5%, 5—5.5%), magnitude, unit, qualifier.
_VALUE = re.compile(
    rf"(?P<low>\d+(?:\.\d+)?)\s*(?P<low_unit>%|(?:万亿|亿|万|千|百)?(?:{_UNIT_ALTERNATION})?)?"
    rf"(?:\s*(?:-|—|–|~|～|至|到)\s*(?P<high>\d+(?:\.\d+)?))?"
    rf"\s*(?P<magnitude>万亿|亿|万|千|百)?(?P<unit>{_UNIT_ALTERNATION})?")
# "多少项民生实事": the unit counted is the answer's, not part of the metric.
_COUNTED_UNIT = re.compile(rf"(?:多少|几)(?:{'|'.join(sorted(map(re.escape, (*UNIT_SCALES, *_COUNT_WORDS)), key=len, reverse=True))})")
# Comparison wording left out of the topic a per-organisation question is asked with.
_COMPARISON_WORDS = re.compile("分别|各自|对比|比较|相比|排名|排序|谁的|谁|哪一个的|哪个的|哪一个|哪个|哪家|最高|最低|最多|最少|"
                               "最大|最小|最快|最慢|更高|更低")
# "谁的增长目标高？": a bare comparative at the end of the question is not part of the metric.
_TRAILING_COMPARATIVE = re.compile(r"(?:更)?[高低多少大小快慢](?:一些|些)?(?=[？?。！!]*$)")
_PERCENT_WORDS = re.compile(r"百分之(\d+(?:\.\d+)?)")

# A record matches the asked metric at this share or more (retrieval.answer.figures.metric_match is 0..1).
MIN_METRIC_MATCH = 0.5


# ---------------------------------------------------------------------------------------------- values
@dataclass(frozen=True)
class NormalisedValue:
    """A written value as a number in its base unit: "40万人以上" → 400000 人; "5.5%左右" → 5.5 %."""

    number: float | None
    unit: str                       # base unit ("人" for 万人), "" when none
    written: str


def normalise_value(text: str, unit_hint: str = "") -> NormalisedValue:
    """The number a value means, for sorting: ranges by their middle, 万/亿 applied, the unit converted to its
    base (万人 → 人, 亿元 → 元). Qualifiers (左右, 以上, 约) are kept in `written` and do not change the number."""
    written = text or ""
    plain = _PERCENT_WORDS.sub(r"\1%", written.replace(",", "").replace("，", ""))
    match = _VALUE.search(plain)
    if match is None:
        return NormalisedValue(None, "", written)
    low = float(match.group("low"))
    high = float(match.group("high")) if match.group("high") else None
    low_unit = match.group("low_unit") or ""
    magnitude = match.group("magnitude") or ""
    unit = match.group("unit") or ""
    if not unit and low_unit:                         # 5%-6%: the unit written after the first number
        for name in _MAGNITUDES:
            if low_unit.startswith(name) and low_unit != name:
                magnitude, unit = name, low_unit[len(name):]
                break
        else:
            if low_unit in _MAGNITUDES:
                magnitude = magnitude or low_unit
            else:
                unit = low_unit
    unit = unit or unit_hint
    number = (low + high) / 2 if high is not None else low
    factor = _MAGNITUDES.get(magnitude, 1.0)
    if unit in UNIT_SCALES:
        unit, scale = UNIT_SCALES[unit]
        factor *= scale
    return NormalisedValue(number * factor, unit, written)


# ---------------------------------------------------------------------------------------------- organisations
# Name endings that tell an organisation's level when the metadata does not (longest first).
LEVEL_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("街道办事处", "街道"), ("街道", "街道"), ("经济技术开发区", "开发区"), ("经济开发区", "开发区"), ("高新区", "开发区"),
    ("经开区", "开发区"), ("开发区", "开发区"), ("园区", "开发区"), ("新区", "开发区"), ("自治区", "省"), ("省", "省"),
    ("自治州", "市"), ("地区", "市"), ("盟", "市"), ("自治县", "县"), ("县", "县"), ("旗", "县"), ("区", "县"),
    ("市", "市"), ("镇", "镇"), ("乡", "乡"), ("局", "部门"), ("委员会", "部门"), ("委", "部门"), ("办公室", "部门"),
)


@dataclass(frozen=True)
class Organisation:
    """One organisation of the corpus: its name as the metadata gives it, level and documents."""

    name: str
    level: str
    doc_ids: tuple[str, ...]
    names: tuple[str, ...] = ()                 # every name it is known by (short, full, aliases)
    planning_year: int | None = None            # the latest year its documents cover
    years: tuple[int, ...] = ()                 # every year its documents cover
    parents: tuple[str, ...] = ()               # the divisions it lies in (DocumentMeta.parents): 上海市, 宝山区


def level_of(meta) -> str:
    """The metadata's level (retrieval.types.DocumentMeta.level), else read from the ending of its names."""
    level = getattr(meta, "level", "")
    if level:
        return level
    for name in (meta.org, *meta.aliases, meta.title):
        clean = re.sub(r"（.*?）|\(.*?\)", "", name or "")
        for suffix, suffix_level in LEVEL_SUFFIXES:
            if clean.endswith(suffix) and len(clean) > len(suffix):
                return suffix_level
    return ""


def organisations_of(documents: Mapping) -> list[Organisation]:
    """The corpus's organisations: documents grouped by organisation name, in name order."""
    grouped: dict[str, list] = {}
    for doc_id in sorted(documents):
        meta = documents[doc_id].meta
        grouped.setdefault(meta.org or doc_id, []).append(meta)
    out = []
    for name, metas in sorted(grouped.items()):
        levels = [level_of(meta) for meta in metas]
        years = [year for meta in metas for year in meta.years]
        names = tuple(dict.fromkeys(n for meta in metas for n in (meta.org, *meta.aliases) if n))
        parents = tuple(dict.fromkeys(p for meta in metas for p in getattr(meta, "parents", ())))
        out.append(Organisation(name, next((level for level in levels if level), ""),
                                tuple(meta.doc_id for meta in metas), names, max(years) if years else None,
                                tuple(sorted(set(years))), parents))
    return out


# ---------------------------------------------------------------------------------------------- the request
@dataclass(frozen=True)
class ComparisonRequest:
    """What a comparison question asks: which organisations (a level, or names), which years, which metric."""

    question: str                               # normalised (simplified characters, ASCII digits)
    metric: str                                 # the question without scope, names, years and cue words
    levels: tuple[str, ...] = ()                # "各省" → ("省",); () with `every` = every organisation
    every: bool = False                         # a plural scope (各X / 全部单位) was asked
    named: tuple[str, ...] = ()                 # organisations named (corpus names first as found, then unknown)
    years: tuple[int, ...] = ()                 # named years
    relative_years: tuple[int, ...] = ()        # offsets from the latest planning year: 今年 0, 去年 -1, 近两年 -1, 0
    stance: str = ""                            # "target" / "result" / "" (either)
    order: str = ""                             # "desc" (谁最高) / "asc" (谁最低) / ""
    topic: str = ""                             # the question without scope, names, years and comparison cues

    @property
    def metric_terms(self) -> tuple[str, ...]:
        return tuple(part for part in re.split(r"\s+", self.metric) if part)


def _scope(question: str) -> tuple[bool, tuple[str, ...], tuple[int, int] | None]:
    """(a plural scope was found, its levels, its span) from 各省 / 全部单位 / 哪个街道…最高."""
    for quantifier in SCOPE_QUANTIFIERS:
        for start in [m.start() for m in re.finditer(re.escape(quantifier), question)]:
            rest = question[start + len(quantifier):]
            for noun, levels in SCOPE_NOUNS:
                if rest.startswith(noun) and not _continues_word(rest, noun):
                    # 各地区生产总值: the 地 of 各地 begins the metric too, so only the quantifier is cut out.
                    shared = noun == "地" and rest.startswith("地区生产")
                    return True, levels, (start, start + len(quantifier) + (0 if shared else len(noun)))
    return False, (), None


def _continues_word(rest: str, noun: str) -> bool:
    """"各项" / "各地区生产总值": a scope noun glued into a longer word is not a scope (各地区 is, 各区域 is not)."""
    after = rest[len(noun):len(noun) + 2]
    if noun == "地区" and after == "生产":
        return True                       # 各地区生产总值: 各地 + the statistical term 地区生产总值
    if noun == "地" and after[:1] in ("区", "方", "市") and not rest.startswith("地区生产"):
        return True                       # 各地区 / 各地方 / 各地市 are matched by their own entries
    if noun == "区" and after[:1] in ("域", "别"):
        return True                       # 各区域, 各区别 are not districts
    return noun in ("省", "市") and after[:1] in ("级", "委", "直", "内", "场", "民", "容")


def _which_scope(question: str) -> tuple[tuple[str, ...], tuple[int, int]] | None:
    """"哪个省的增长目标最高": which + a level noun + a superlative asks to rank that level."""
    if not any(cue.startswith("最") and cue in question for cue, _ in SUPERLATIVES):
        return None
    for which in WHICH_WORDS:
        for match in re.finditer(re.escape(which), question):
            rest = question[match.end():]
            for noun, levels in SCOPE_NOUNS:
                if rest.startswith(noun) and not _continues_word(rest, noun):
                    return levels, (match.start(), match.end() + len(noun))
    return None


def _order(question: str) -> str:
    """"desc" when the question asks for the highest, "asc" for the lowest, "" when it asks for neither."""
    for cue, order in SUPERLATIVES:
        if cue.startswith(("最", "更")) and cue in question:
            return order
    if _WHO_OR_WHICH.search(question):
        for cue, order in SUPERLATIVES:
            if len(cue) == 1 and re.search(rf"(?:谁|哪)[^，。？?]*{cue}", question):
                return order
    return ""


def _stance(question: str, relative_years: Sequence[int] = ()) -> str:
    """"target" or "result" by the question's cues; else by its relative year alone (去年 asks a result, 今年 a
    plan's target); "" when neither tells."""
    target = any(cue in question for cue in TARGET_CUES)
    result = any(cue in question for cue in RESULT_CUES)
    if target != result:
        return "target" if target else "result"
    if not target and len(set(relative_years)) == 1:
        return "result" if relative_years[0] < 0 else "target"
    return ""


def asks_figures(question: str) -> bool:
    """A figure is asked (多少, 目标, 增长, 最高 …), and not a name, a measure or a date (哪些, 什么, 哪位 …) unless
    an amount is asked as well (分别是多少)."""
    if not any(cue in question for cue in FIGURE_CUES):
        return False
    return not any(cue in question for cue in NOT_FIGURE_CUES) or any(cue in question for cue in _AMOUNT_CUES)


def detect_comparison(question: str, matcher=None, known_places: Callable[[str], list[str]] | None = None
                      ) -> ComparisonRequest | None:
    """The comparison a question asks for, or None for a normal question.

    A comparison is a plural scope (各街道, 各省, 全部单位, 哪个省…最高), or two or more organisations named
    (江苏和浙江), or two or more years (2020年和2021年, 近两年). `matcher` (retrieval.orgs.OrganisationMatcher)
    finds the corpus's organisation names; `known_places` names places the corpus may lack (a gazetteer).
    """
    text = normalize_question(question)
    every, levels, scope_span = _scope(text)
    if not every:
        which = _which_scope(text)
        if which is not None:
            every, (levels, scope_span) = True, which
    named: list[str] = []
    spans: list[tuple[int, int]] = [scope_span] if scope_span else []
    if matcher is not None:
        for mention in matcher.mentions(text):
            if scope_span and mention.start < scope_span[1] and scope_span[0] < mention.end:
                continue                        # 各开发区: a level, though one plan's alias is 开发区
            named.append(mention.name)
            spans.append((mention.start, mention.end))
    if known_places is not None:
        for name in known_places(text):
            position = text.find(name)
            if position != -1 and not any(s <= position < e for s, e in spans):
                named.append(name)
                spans.append((position, position + len(name)))
    years = tuple(dict.fromkeys(int(y) for y in _YEAR.findall(text)))
    relative: list[int] = []
    match = _RELATIVE_YEARS.search(text)
    if match:
        count = int(match.group(1)) if match.group(1).isdigit() else _NUMERALS[match.group(1)]
        relative = list(range(1 - count, 1))
        spans.append(match.span())
    else:
        relative = [offset for word, offset in RELATIVE_YEAR_WORDS if word in text]
    many_years = len(years) + len(relative) >= 2 and not (years and relative)
    many_orgs = len(dict.fromkeys(named)) >= 2
    if not (every or many_orgs or many_years) or not asks_figures(text):
        return None
    stripped = text
    for start, end in sorted(spans, reverse=True):
        stripped = stripped[:start] + " " + stripped[end:]
    stripped = _YEAR.sub(" ", stripped)
    for word, _ in RELATIVE_YEAR_WORDS:
        stripped = stripped.replace(word, " ")
    for quantifier in SCOPE_QUANTIFIERS:
        stripped = re.sub(rf"^{quantifier}|(?<=\s){quantifier}", " ", stripped)
    topic = re.sub(r"\s+", "", _COMPARISON_WORDS.sub(" ", stripped))
    topic = re.sub(rf"^[{_JOINERS}]+|[{_JOINERS}]+$", "", _TRAILING_COMPARATIVE.sub("", topic))
    stripped = _COUNTED_UNIT.sub(" ", stripped)
    stripped = _TRAILING_COMPARATIVE.sub(" ", _NOT_METRIC.sub(" ", stripped).rstrip())
    metric = re.sub(rf"[{_JOINERS}\s]+", " ", stripped).strip()
    metric = re.sub(r"(?:^|(?<=\s))[和与及跟同]|[和与及跟同](?=\s|$)", " ", metric).strip()
    return ComparisonRequest(question=text, metric=re.sub(r"\s+", " ", metric), levels=levels, every=every,
                             named=tuple(dict.fromkeys(named)), years=tuple(sorted(years)),
                             relative_years=tuple(relative), stance=_stance(text, relative), order=_order(text),
                             topic=topic)


# ---------------------------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Row:
    """One organisation (known to the corpus, or only named) and one year to fill."""

    organisation: str
    year: int | None
    doc_ids: tuple[str, ...] = ()               # empty: the corpus holds no document of this organisation
    level: str = ""
    covered_years: tuple[int, ...] = ()         # the years its documents cover


def _inside_named(request: ComparisonRequest, organisations: Sequence[Organisation]) -> list[Organisation]:
    """"宝山区各街道", "江西各市": a plural scope after one place names the organisations of that level inside it
    (by their parent chain); [] when the question is not of that shape or none lies inside."""
    if not (request.every and request.levels and len(request.named) == 1):
        return []
    place = request.named[0]

    def within(parent: str) -> bool:
        return parent == place or (len(place) >= 2 and parent.startswith(place))
    return [o for o in organisations if o.level in request.levels and any(within(p) for p in o.parents)]


def resolve_rows(request: ComparisonRequest, organisations: Sequence[Organisation]) -> list[Row]:
    """Every organisation of the asked level (or every one named), for every asked year.

    Named years are the same for every row. Relative years (今年, 去年, 近两年) count from each organisation's
    own planning year (its latest), as 今年 means a plan's own year in a normal question; no year named means
    this year (last year when a result is asked). An organisation the corpus lacks takes the latest planning
    year of the others.
    """
    chosen: list[Organisation | str] = []
    inside = _inside_named(request, organisations)
    if inside:
        chosen.extend(inside)                   # 宝山区各街道: the 街道 within the place named
    elif request.named:
        by_name = {}
        for organisation in organisations:
            for name in (organisation.name, *organisation.names):
                by_name.setdefault(name, organisation)
        for name in request.named:
            found = by_name.get(name)
            if found is None:
                found = next((o for o in organisations if any(name in n or n in name for n in o.names if len(n) >= 2)),
                             None)
            chosen.append(found if found is not None else name)
    if request.every and not request.named:
        chosen.extend(o for o in organisations if not request.levels or o.level in request.levels)
    unique: list[Organisation | str] = []
    for item in chosen:
        if item not in unique:
            unique.append(item)
    latest = max((o.planning_year for o in unique if isinstance(o, Organisation) and o.planning_year), default=None)
    # No year named: this year's plan (a target), or last year's figure when a result is asked.
    relative = request.relative_years or ((() if request.years else (-1,) if request.stance == "result" else (0,)))

    def years_of(planning_year: int | None) -> list[int | None]:
        years: list[int | None] = list(request.years)
        if relative and planning_year is not None:
            years += [planning_year + offset for offset in relative]
        return sorted(set(years)) if years else [None]
    rows = []
    for item in unique:
        if isinstance(item, Organisation):
            rows += [Row(item.name, year, item.doc_ids, item.level, item.years)
                     for year in years_of(item.planning_year)]
        else:
            rows += [Row(item, year) for year in years_of(latest)]
    return rows


# ---------------------------------------------------------------------------------------------- cells
@dataclass(frozen=True)
class Cell:
    """One row's value, from one figure record of that organisation's documents and that year, or 未找到."""

    organisation: str
    year: int | None
    value: str = ""                             # as written ("5.5%左右"); "" = 未找到
    number: float | None = None                 # in the base unit, for sorting
    unit: str = ""                              # the base unit ("人" for 40万人)
    stance: str = ""                            # the record's: "target" / "result" / ""
    stance_mismatch: bool = False               # a result where a target was asked, or the reverse
    doc_id: str = ""
    title: str = ""
    chunk_id: str = ""
    section: str = ""                           # the section path as a breadcrumb
    sentence: str = ""                          # the sentence the value stands in
    sentence_span: tuple[int, int] = (0, 0)     # [start, end) of the sentence in the document's text
    value_span: tuple[int, int] = (0, 0)        # [start, end) of the value in the document's text
    record_id: str = ""
    metric: str = ""                            # the record's metric as written
    note: str = ""                              # why 未找到, e.g. "文档中没有江苏的文档"

    @property
    def found(self) -> bool:
        return bool(self.value)

    @property
    def stance_label(self) -> str:
        label = STANCE_LABELS.get(self.stance, "")
        return f"{label}（问的是{'目标' if self.stance == 'result' else '结果'}）" if self.stance_mismatch else label

    def as_dict(self) -> dict:
        return {"organisation": self.organisation, "year": self.year, "value": self.value or None,
                "number": self.number, "unit": self.unit, "stance": self.stance, "stance_label": self.stance_label,
                "stance_mismatch": self.stance_mismatch, "doc": self.doc_id or None, "title": self.title,
                "chunk_id": self.chunk_id or None, "section": self.section, "sentence": self.sentence,
                "span": list(self.value_span) if self.found else None, "record_id": self.record_id or None,
                "metric": self.metric, "note": self.note}


@dataclass(frozen=True)
class Comparison:
    """A comparison's answer: its cells in the order shown, and whether they were sorted by value."""

    question: str
    request: ComparisonRequest
    cells: tuple[Cell, ...]
    sorted_by_value: bool = False
    unit: str = ""                              # the shared base unit when sorted
    note: str = ""                              # "最高的是…", or why the values were not sorted

    @property
    def chartable(self) -> bool:
        return self.sorted_by_value and sum(cell.number is not None for cell in self.cells) >= 1

    def as_dict(self) -> dict:
        return {"question": self.question, "comparison": True, "metric": self.request.metric,
                "stance": self.request.stance, "levels": list(self.request.levels),
                "sorted_by_value": self.sorted_by_value, "unit": self.unit, "note": self.note,
                "rows": [cell.as_dict() for cell in self.cells]}


def _sentence_of(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence around [start, end) of a text, by Chinese sentence ends."""
    left = max(text.rfind(mark, 0, start) for mark in "。！？；\n") + 1
    rights = [text.find(mark, end) for mark in "。！？；\n"]
    right = min([r + 1 for r in rights if r != -1] or [len(text)])
    return left, right


class RecordSource:
    """Cells' candidates from figure records looked up by document (retrieval.answer.figures.FigureRecord).

    `surfaces_of(terms)` names every string a matching metric must contain one of (the terms and their
    synonyms): records whose metric holds none are passed over without scoring, and each metric is scored once
    a comparison, so a comparison over many organisations reads their records without scoring them all.
    """

    def __init__(self, records_of: Callable[[str], Sequence], match: Callable[[Sequence[str], object], float],
                 terms_of: Callable[[ComparisonRequest], Sequence[str]] | None = None, chunks: Mapping | None = None,
                 unit_fit: Callable[[ComparisonRequest, Sequence[str], object], float] | None = None,
                 surfaces_of: Callable[[Sequence[str]], Iterable[str]] | None = None,
                 years_of: Callable[[str], Sequence[int]] | None = None):
        self.records_of, self.match, self.chunks = records_of, match, chunks or {}
        self.years_of = years_of            # a document's years (DocumentMeta.years), to skip other years' plans
        self.unit_fit = unit_fit            # -1 for a record in a unit that cannot answer (10万元 for a growth rate)
        self.terms_of = terms_of or (lambda request: request.metric_terms or (request.metric,))
        self.surfaces_of = surfaces_of or (lambda terms: terms)
        self._terms: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._scores: dict[tuple[tuple[str, ...], str], float] = {}

    def _in_section_year(self, record):
        """The record dated by its section when a heading names one year (一、2020年度工作总结, 三、2026年工作安排)
        and its own sentence names none: a heading's year scopes its section. A figure of a period (年均, 累计,
        a five-year plan) is left undated: it is no single year's."""
        chunk = self.chunks.get(record.chunk_id)
        if chunk is None:
            return record
        years = {int(y) for heading in chunk.section_path for y in _HEADING_YEAR.findall(heading)}
        if len(years) != 1 or record.year in years:
            return record
        sentence = chunk.text[record.sentence_span[0]:record.sentence_span[1]]
        if _YEAR.search(sentence) or _PERIOD_WORDS.search(record.metric) or _SPAN_WORDS.search(sentence):
            return record
        return replace(record, year=next(iter(years)))

    def _documents_for(self, row: Row) -> tuple[str, ...]:
        """The row's documents worth reading: when some cover the row's year, those and the next year's (a report
        or summary reviews the year before); else all of them (a five-year plan's 2030 target)."""
        if row.year is None or self.years_of is None:
            return row.doc_ids
        near = tuple(d for d in row.doc_ids if {row.year, row.year + 1} & set(self.years_of(d)))
        covering = any(row.year in self.years_of(d) for d in near)
        return near if covering else row.doc_ids

    def _score(self, terms: tuple[str, ...], surfaces: tuple[str, ...], record) -> float:
        key = (terms, record.metric)
        if key not in self._scores:
            metric = record.metric.casefold()
            self._scores[key] = (self.match(terms, record) if any(surface in metric for surface in surfaces)
                                 else 0.0)
        return self._scores[key]

    def candidates(self, row: Row, request: ComparisonRequest) -> list[tuple[float, object]]:
        """(metric match, record) of the row's own documents and year, MIN_METRIC_MATCH or better."""
        if request.metric not in self._terms:
            terms = tuple(self.terms_of(request))
            surfaces = tuple(dict.fromkeys(s.casefold() for s in self.surfaces_of(terms) if s))
            self._terms[request.metric] = (terms, surfaces)
        terms, surfaces = self._terms[request.metric]
        found = []
        for doc_id in self._documents_for(row):
            for record in self.records_of(doc_id):
                if record.doc_id != doc_id:
                    continue                    # a record filed under another document never fills this row
                score = self._score(terms, surfaces, record)
                if score < MIN_METRIC_MATCH:
                    continue
                record = self._in_section_year(record)
                if row.year is not None and record.year != row.year:
                    continue
                if self.unit_fit is None or self.unit_fit(request, terms, record) > -1:
                    found.append((score, record))
        return found


@dataclass(frozen=True)
class SearchedFigure:
    """A figure found by searching one document (SearchSource), shaped like retrieval.answer.figures.FigureRecord."""

    record_id: str
    chunk_id: str
    doc_id: str
    metric: str
    value: str
    unit: str
    number: float | None
    year: int | None
    stance: str
    char_span: tuple[int, int]          # [start, end) of the value in the chunk's text
    sentence_span: tuple[int, int]      # [start, end) of its sentence in the chunk's text


def metric_coverage(terms: Sequence[str], text: str) -> float:
    """Share of the asked metric's character pairs found in a text (0..1): a rough match for sentences the
    search fallback returns (figure records are matched by retrieval.answer.figures.metric_match, with synonyms)."""
    pairs = {term[i:i + 2] for term in terms for i in range(max(len(term) - 1, 1))}
    pairs.discard("")
    return sum(pair in text for pair in pairs) / len(pairs) if pairs else 0.0


# Wording that makes a figure a period's (an annual average over five years), not one year's.
_PERIOD_WORDS = re.compile(r"年均|平均每年|每年平均|累计|五年来|期间")
# A sentence about several years: its figures belong to no single year.
_SPAN_WORDS = re.compile(r"年均|累计|五年来|[十一二三四五六七八九]{2}五(?:期间|时期|以来|末)|期间|以来")
# A range written on after a value ("4.5%—5%"): a record of its first number is widened to the whole range.
_RANGE_REST = re.compile(r"\s*(?:-|—|–|~|～|至|到)\s*\d+(?:\.\d+)?(?:%|‰)?(?:左右|以上|以内|以下)?")
_RANGE_START = re.compile(r"\d+(?:\.\d+)?(?:%|‰)?\s*(?:-|—|–|~|～|至|到)\s*$")


def widened(record, chunk):
    """The record with its value widened to the whole range it begins or ends ("4.5%" of "4.5%—5%"), else itself."""
    if chunk is None:
        return record
    start, end = record.char_span
    before = _RANGE_START.search(chunk.text[max(0, start - 12):start])
    after = _RANGE_REST.match(chunk.text, end)
    if before is None and after is None:
        return record
    new_start = start - len(before.group()) if before else start
    new_end = after.end() if after else end
    value = chunk.text[new_start:new_end]
    return replace(record, value=value, char_span=(new_start, new_end), number=normalise_value(value).number)


# Sentence wording that says a figure is planned or achieved (SearchSource only; figure records carry their own).
_TARGET_WORDING = re.compile(r"目标|预期|力争|计划|确保|左右|以上|以内|拟|将|要")
_RESULT_WORDING = re.compile(r"完成|实现|达到|增长了|下降了|比上年|同比|累计|去年|上年")


class SearchSource:
    """Cells' candidates from the engine's normal search, scoped to one document and year at a time: slower
    than records (one search per document and year) and without the record's stance; used when the index
    holds no figure records."""

    def __init__(self, ask: Callable[..., object], chunks: Mapping):
        self.ask, self.chunks = ask, chunks

    def candidates(self, row: Row, request: ComparisonRequest) -> list[tuple[float, object]]:
        found = []
        for doc_id in row.doc_ids:
            year = f"{row.year}年" if row.year else ""
            question = f"{row.organisation}{year}{request.topic or request.metric}"
            try:
                result = self.ask(question, k=5, org=doc_id, year=row.year)
            except Exception:                   # noqa: BLE001 (a year the document lacks is refused: no cell)
                continue
            answer = result.answer
            if answer is None or not answer.fact or answer.chunk_id not in self.chunks:
                continue
            chunk = self.chunks[answer.chunk_id]
            start = answer.char_span[0] - chunk.char_span[0] + max(answer.text.find(answer.fact), 0)
            sentence = (answer.char_span[0] - chunk.char_span[0], answer.char_span[1] - chunk.char_span[0])
            value = normalise_value(answer.fact)
            text = answer.text
            coverage = metric_coverage(request.metric_terms or (request.metric,), text)
            if value.number is None or coverage < MIN_METRIC_MATCH:
                continue                        # not an amount, or a sentence about something else
            stance = ("result" if _RESULT_WORDING.search(text) and not _TARGET_WORDING.search(text)
                      else "target" if _TARGET_WORDING.search(text) else "")
            found.append((coverage, SearchedFigure(
                f"{chunk.chunk_id}:{start}", chunk.chunk_id, doc_id, request.metric, answer.fact, value.unit,
                value.number, row.year, stance, (start, start + len(answer.fact)), sentence)))
        return found


def source_for(state, ask: Callable[..., object]):
    """Figure records when the index holds them (IndexState.figures_by_document, matched by
    retrieval.answer.figures.metric_match over question_metric_terms), else the engine's search per document and year."""
    by_document = getattr(state, "figures_by_document", None)
    if by_document is None:
        return SearchSource(ask, state.chunks)
    from retrieval.answer.figures import FigureQuestion, metric_match, question_metric_terms, unit_fit
    from retrieval.search.query import asked_unit

    def terms_of(request: ComparisonRequest) -> tuple[str, ...]:
        return tuple(question_metric_terms(request.metric, state.tokenizer)) or request.metric_terms

    from retrieval.text.synonyms import load_synonyms

    def fit(request: ComparisonRequest, terms: Sequence[str], record) -> float:
        return unit_fit(FigureQuestion.of(request.question, terms, asked_unit(request.question)).unit, record)

    def surfaces(terms: Sequence[str]) -> list[str]:
        """The terms and every name of the indicators they name: a metric matching none scores 0."""
        table = load_synonyms()
        names = list(terms)
        for term in terms:
            concept = table.concept_of(term)
            if concept is not None:
                names.extend(concept.names)
        return names
    return RecordSource(lambda doc_id: by_document.get(doc_id, ()), metric_match, terms_of, state.chunks, fit,
                        surfaces, lambda doc_id: state.documents[doc_id].meta.years)


def known_places() -> Callable[[str], list[str]] | None:
    """Place names a question may name though the corpus lacks them (江苏 in a corpus of other provinces): the
    gazetteer's (retrieval.text.gazetteer), or None where it is not available (only the corpus's names are known)."""
    try:
        from retrieval.text.gazetteer import gazetteer
    except ImportError:
        return None

    def places(text: str) -> list[str]:
        # A full name (江苏省, 宝山区) or a province's or city's short name (江苏, 苏州): lower divisions' short
        # names are too often ordinary words (地方, 光明) to list a row for.
        return [mention.name for mention in gazetteer().places_in(text)
                if mention.full_name or any(place.level in ("省", "市") for place in mention.places)]
    return places


def fill_cells(rows: Sequence[Row], request: ComparisonRequest, source, documents: Mapping,
               chunks: Mapping) -> list[Cell]:
    """Each row's cell from the candidates of that row's own documents and year only.

    `source.candidates(row, request)` gives (metric match 0..1, FigureRecord) pairs (RecordSource, or
    SearchSource when the index has no figure records). The best match wins, a record of the asked stance
    before one of the other stance (which is then labelled); among equals, the record in the unit most rows
    have, then the earliest in the document. Whatever a source returns, a record of another document or year
    is never used.
    """
    candidates: list[list[tuple[float, object]]] = []
    for row in rows:
        candidates.append([(score, record) for score, record in source.candidates(row, request)
                           if record.doc_id in row.doc_ids and (row.year is None or record.year == row.year)])
    unit_votes: dict[str, int] = {}
    for found in candidates:
        for unit in {normalise_value(r.value, r.unit).unit for _, r in found}:
            unit_votes[unit] = unit_votes.get(unit, 0) + 1
    cells = []
    for row, found in zip(rows, candidates):
        if not row.doc_ids:
            cells.append(Cell(row.organisation, row.year, note=f"文档中没有{row.organisation}的文档"))
            continue
        if not found:
            if row.year is not None and row.covered_years and row.year not in row.covered_years:
                note = f"{row.organisation}的文档不涉及{row.year}年"
            else:
                note = f"{row.organisation}{f'{row.year}年' if row.year else ''}的文档中没有这项数据"
            cells.append(Cell(row.organisation, row.year, note=note))
            continue
        if row.year is None:                   # no year asked: the organisation's latest year with this figure
            latest = max(r.year or 0 for _, r in found)
            found = [(s, r) for s, r in found if (r.year or 0) == latest]

        def preference(item):
            score, record = item
            same_stance = not request.stance or record.stance == request.stance
            period = _PERIOD_WORDS.search(record.metric) is not None and not _PERIOD_WORDS.search(request.question)
            votes = unit_votes.get(normalise_value(record.value, record.unit).unit, 0)
            chunk = chunks.get(record.chunk_id)
            position = (chunk.char_span[0] if chunk is not None else 0) + record.char_span[0]
            return (not same_stance, period, -round(score, 6), -votes, record.doc_id, position)
        _, record = min(found, key=preference)
        cells.append(_cell(row, record, request, documents, chunks))
    return cells


def _cell(row: Row, record, request: ComparisonRequest, documents: Mapping, chunks: Mapping) -> Cell:
    chunk = chunks.get(record.chunk_id)
    record = widened(record, chunk)
    document = documents.get(record.doc_id)
    offset = chunk.char_span[0] if chunk is not None else 0
    sentence_start, sentence_end = record.sentence_span
    raw = chunk.text[sentence_start:sentence_end] if chunk is not None else ""
    sentence_start += len(raw) - len(raw.lstrip())          # the span of the sentence as shown, blanks left out
    sentence_end -= len(raw) - len(raw.rstrip())
    sentence = raw.strip()
    value = normalise_value(record.value, record.unit)
    number = value.number if value.number is not None else record.number
    return Cell(row.organisation, record.year if row.year is None else row.year, record.value, number, value.unit,
                record.stance, bool(request.stance and record.stance and record.stance != request.stance),
                record.doc_id, document.meta.title if document is not None else "", record.chunk_id,
                breadcrumb(chunk.section_path) if chunk is not None else "", sentence,
                (offset + sentence_start, offset + sentence_end),
                (offset + record.char_span[0], offset + record.char_span[1]), record.record_id, record.metric)


def order_cells(cells: Sequence[Cell], request: ComparisonRequest) -> tuple[tuple[Cell, ...], bool, str, str]:
    """Sorted by value (largest first, or smallest for 谁最低) when every filled cell shares one base unit;
    else in row order. Returns (cells, sorted, unit, note); the note names the top row when one was asked for."""
    filled = [cell for cell in cells if cell.found]
    units = {cell.unit for cell in filled}
    sortable = bool(filled) and len(units) == 1 and all(cell.number is not None for cell in filled)
    if not sortable:
        note = "各单位数值的单位不同，按单位名称排列，未按数值排序。" if len(units) > 1 else ""
        return tuple(cells), False, "", note
    unit = next(iter(units))
    ascending = request.order == "asc"
    ordered = sorted(filled, key=lambda c: (c.number if ascending else -c.number, c.organisation, c.year or 0))
    ordered += [cell for cell in cells if not cell.found]
    note = ""
    if request.order:
        top = ordered[0]
        ties = [c.organisation for c in filled if c.number == top.number]
        asked = [cue for cue, order in SUPERLATIVES if cue.startswith("最") and cue in request.question]
        word = asked[0] if asked else ("最低" if ascending else "最高")       # 最多 / 最快 as the question says
        who = "、".join(dict.fromkeys(ties))
        year = f"{top.year}年" if top.year and len({c.year for c in cells}) > 1 else ""
        note = f"{word}的是{who}{year}：{top.value}（排在第一行）"
    return tuple(ordered), True, unit, note


def compare(question: str, documents: Mapping, chunks: Mapping, source, matcher=None,
            known_places: Callable[[str], list[str]] | None = None) -> Comparison | None:
    """The comparison a question asks for (None when it asks none): rows resolved, cells filled, ordered."""
    request = detect_comparison(question, matcher, known_places)
    if request is None:
        return None
    rows = resolve_rows(request, organisations_of(documents))
    cells = fill_cells(rows, request, source, documents, chunks)
    ordered, by_value, unit, note = order_cells(cells, request)
    return Comparison(question, request, ordered, by_value, unit, note)


# ---------------------------------------------------------------------------------------------- CSV
CSV_COLUMNS = ("单位", "年份", "数值（原文）", "数值（换算后）", "换算单位", "目标/结果", "文档", "章节", "原文句子", "说明")


def to_csv(comparison: Comparison) -> str:
    """The table as CSV text (a header row, then one row per cell; 未找到 written out)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for cell in comparison.cells:
        number = "" if cell.number is None else f"{cell.number:g}"
        writer.writerow((cell.organisation, cell.year or "", cell.value or NOT_FOUND, number if cell.found else "",
                         cell.unit if cell.found else "", cell.stance_label, cell.title, cell.section, cell.sentence,
                         cell.note))
    return buffer.getvalue()
