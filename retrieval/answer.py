"""Extractive answers: the one sentence or clause of the top passages that best answers the question."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from retrieval.query import UNITS, compatible_units
from retrieval.types import Answer, Chunk, Hit, QueryAnalysis

ANSWER_MAX_CHARS = 100
CANDIDATE_PASSAGES = 5
# Below this confidence the corpus is taken not to answer the question (calibrated on eval/dev.jsonl:
# unanswerable questions fall below it without silencing answerable ones).
NOT_FOUND_BELOW = 0.40
# Similarities enter in standard deviations of the encoder's query-to-sentence cosines, measured on the
# corpus at build time (manifest dense.query_unit_similarity), so the weights hold for any encoder.
RELATIVE_SIMILARITY_WEIGHT = 0.072   # per std below the best candidate's similarity
ABSOLUTE_SIMILARITY_WEIGHT = 0.09    # per std above the corpus mean, in the confidence
SIMILARITY_OFFSET = 0.22
RANK_WEIGHT = 0.3                  # the top passage's sentences get +0.3, the second's +0.15, …

_NUMBER = r"(?:\d+(?:[.,]\d+)*|[零一二两三四五六七八九十百千]+)"
_UNIT_PATTERN = "|".join(re.escape(u) for u in UNITS)
QUANTITY = re.compile(rf"(?:约|近|超|超过|逾|达|共)?{_NUMBER}(?:[万亿千百])?(?:余|多)?(?:{_UNIT_PATTERN})")
YEAR_OR_DATE = re.compile(r"^(?:19|20)\d{2}(?:年度?|-)|^\d{1,2}[月日号]$|^\d{1,2}月")
_SENTENCE = re.compile(r"[^。！？；;!?\n]+[。！？；;!?]?[”’」』]?")
_QUOTED = re.compile(r"[“《「\"]([^“”《》「」\"\n]{2,20})[”》」\"]")
_PLACE = re.compile(r"[\u4e00-\u9fff]{1,8}(?:路|街(?!道)|弄|巷|大道)\d*(?:号|弄)?(?:\d+号)?")
_NAMED = re.compile(r"[\u4e00-\u9fff]{2,10}(?:事务所|服务社|中心|公司|集团|学院|基地|平台|工作室|联盟|品牌|项目)")


@dataclass(frozen=True)
class Candidate:
    chunk: Chunk
    start: int              # offset in chunk.text
    end: int
    text: str
    hit_rank: int
    similarity: float       # the unit's cosine with the query, in std above the corpus mean


def answer_units(text: str) -> list[tuple[int, int]]:
    """The sentences of a passage that can be answers, as [start, end) offsets: sentences of up to 100
    characters, longer ones cut at clause ends into pieces that fit. The index embeds each unit, so the
    dense leg can score a passage by its best sentence and the answer can be chosen by meaning."""
    units = []
    for sentence in _SENTENCE.finditer(text):
        start, end = sentence.start(), sentence.end()
        while start < end and text[start].isspace():
            start += 1
        if end - start < 2:
            continue
        while end - start > ANSWER_MAX_CHARS:
            window = text[start:start + ANSWER_MAX_CHARS]
            cut = max(window.rfind("，"), window.rfind(","), window.rfind("、"))
            cut = cut + 1 if cut >= 20 else ANSWER_MAX_CHARS
            units.append((start, start + cut))
            start += cut
        units.append((start, end))
    return units


def _is_heading_line(chunk: Chunk, text: str) -> bool:
    """A title or heading standing alone names a topic; it never answers a question."""
    stripped = text.strip()
    if any(stripped == heading.strip() for heading in chunk.section_path):
        return True
    return len(stripped) <= 40 and stripped[-1:] not in "。！？；;!?”" and f"{stripped}\n" in chunk.text + "\n"


def quantities(text: str) -> list[re.Match]:
    """Number-with-unit spans that are amounts, not years or dates."""
    return [m for m in QUANTITY.finditer(text) if not YEAR_OR_DATE.match(m.group().lstrip("约近超过逾达共"))]


def _nearest_to_terms(matches: list[re.Match], text: str, terms: Sequence[str]) -> list[re.Match]:
    """Matches ordered by their distance to the nearest question term in the text ("新增停车位800个")."""
    positions = [(m.start(), m.end()) for t in terms for m in re.finditer(re.escape(t), text)]
    if not positions:
        return matches

    def distance(match: re.Match) -> int:
        return min(max(start - match.end(), match.start() - end, 0) for start, end in positions)
    return sorted(matches, key=lambda m: (distance(m), m.start()))


def _fact(candidate: str, analysis: QueryAnalysis, terms: Sequence[str] = ()) -> str:
    """The short fact inside the answer sentence: the asked amount, or the name asked for."""
    if analysis.answer_kind == "quantity":
        found = quantities(candidate)
        if analysis.unit:
            with_unit = [m for m in found if analysis.unit in m.group()]
            compatible = [m for m in found if m.group().endswith(tuple(compatible_units(analysis.unit)))]
            found = with_unit or compatible or found
        found = _nearest_to_terms(found, candidate, terms)
        return found[0].group() if found else ""
    if analysis.answer_kind == "entity":
        names = [m for pattern in (_QUOTED, _PLACE, _NAMED) for m in pattern.finditer(candidate)]
        nearest = _nearest_to_terms(names, candidate, terms)
        if nearest:
            match = nearest[0]
            return match.group(1) if match.re is _QUOTED else _trim_function_words(match.group())
    return ""


_LEADING_FUNCTION_CHARS = "对在沿于将把和与及从向至到为以由经就是即如"
_LEADING_VERBS = ("做好", "做实", "推进", "完成", "实施", "加快", "启动", "开展", "打造", "建成", "新建", "改造",
                  "提升", "位于", "落户", "依托", "发挥", "办好", "建设", "加强", "深化", "推动", "围绕")


def _trim_function_words(name: str) -> str:
    """"对富水路" → "富水路", "做好中山南二路597号" → "中山南二路597号": a preposition or verb before a
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


def _type_fit(candidate: str, analysis: QueryAnalysis) -> float:
    """How well the clause has the kind of thing asked for: an amount in the asked unit, a name."""
    if analysis.answer_kind == "quantity":
        found = quantities(candidate)
        if not found:
            # "第几轮" / "几加几" answers are ordinals or formulas without a unit; a question that names
            # its unit (多少钱, 几所) needs an amount in some unit.
            formula = re.search(r"\d\+\d|“[一二三四五六七八九十]+[五四三二一]”", candidate)
            return 0.1 if formula and not analysis.unit else -0.6
        if not analysis.unit:
            return 0.2
        if any(analysis.unit in m.group() for m in found):
            return 0.45
        if any(m.group().endswith(tuple(compatible_units(analysis.unit))) for m in found):
            return 0.3
        return -0.2          # an amount of something else (三年 for 多少钱)
    if analysis.answer_kind == "entity":
        return 0.15 if (_QUOTED.search(candidate) or _PLACE.search(candidate) or _NAMED.search(candidate)) else 0.0
    return 0.0


@dataclass(frozen=True)
class ScoredUnit:
    candidate: Candidate
    coverage: float          # idf-weighted share of the question's content terms in the unit (and its headings)
    fit: float               # coverage + meaning relative to the best unit + kind of thing asked, no rank


def score_units(analysis: QueryAnalysis, hits: Sequence[Hit], chunks: Mapping[str, Chunk],
                content_terms: Sequence[str], idf: Callable[[str], float],
                unit_similarity: Callable[[str, int, int], float],
                similarity_scale: tuple[float, float]) -> list[ScoredUnit]:
    """Every answer unit of the given passages with how well it answers the question.

    `similarity_scale` is (mean, std) of the encoder's query-to-sentence cosines on this corpus.
    """
    mean, std = similarity_scale
    std = std if std > 1e-6 else 1.0
    terms = list(dict.fromkeys(content_terms))
    weights = {t: max(idf(t), 0.1) for t in terms}
    total = sum(weights.values()) or 1.0
    raw: list[tuple[Candidate, float]] = []
    for hit in hits:
        chunk = chunks[hit.chunk_id]
        context = "".join(chunk.section_path)
        for start, end in answer_units(chunk.text):
            text = chunk.text[start:end]
            if _is_heading_line(chunk, text):
                continue
            z = (unit_similarity(chunk.chunk_id, start, end) - mean) / std
            in_unit = sum(w for t, w in weights.items() if t in text)
            in_context = sum(w for t, w in weights.items() if t not in text and t in context)
            raw.append((Candidate(chunk, start, end, text, hit.rank, z), (in_unit + 0.3 * in_context) / total))
    if not raw:
        return []
    top_similarity = max(c.similarity for c, _ in raw)
    return [ScoredUnit(c, coverage, coverage + RELATIVE_SIMILARITY_WEIGHT * (c.similarity - top_similarity)
                       + _type_fit(c.text, analysis) - 0.001 * len(c.text))
            for c, coverage in raw]


def extract_answer(analysis: QueryAnalysis, hits: Sequence[Hit], chunks: Mapping[str, Chunk],
                   content_terms: Sequence[str], idf: Callable[[str], float],
                   unit_similarity: Callable[[str, int, int], float],
                   similarity_scale: tuple[float, float]) -> Answer | None:
    """The best answer unit of the top passages, or None (未找到) when none answers with enough confidence.

    A unit scores by the share of the question's content terms it contains (idf-weighted; terms only in
    its section headings count less), its similarity to the question, the rank of its passage, and
    whether it holds the kind of thing asked (an amount in the asked unit, a name).
    """
    scored = score_units(analysis, hits[:CANDIDATE_PASSAGES], chunks, content_terms, idf, unit_similarity,
                         similarity_scale)
    if not scored:
        return None
    best = max(scored, key=lambda u: u.fit + RANK_WEIGHT / u.candidate.hit_rank)
    candidate, coverage = best.candidate, best.coverage
    if analysis.answer_kind == "quantity" and _type_fit(candidate.text, analysis) < 0:
        return None          # a 多少/几 question needs an amount; a sentence without one does not answer it
    # Confidence: how much of the question the unit covers, and how close it is in meaning.
    evidence = coverage + SIMILARITY_OFFSET + ABSOLUTE_SIMILARITY_WEIGHT * candidate.similarity
    confidence = 1 / (1 + math.exp(-8 * (evidence - 0.45)))
    if confidence < NOT_FOUND_BELOW:
        return None
    text = candidate.text.strip()
    lead = len(candidate.text) - len(candidate.text.lstrip())
    start = candidate.chunk.char_span[0] + candidate.start + lead
    return Answer(text=text, chunk_id=candidate.chunk.chunk_id, char_span=(start, start + len(text)),
                  confidence=round(confidence, 4), fact=_fact(text, analysis, list(dict.fromkeys(content_terms))))
