"""The organisation a document is by: mentions of 街道/镇/乡/开发区 and of divisions, weighed by where they
stand, then placed among China's divisions (retrieval.text.gazetteer)."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Mapping

from retrieval.ingest.titles import file_stem, squash_spaces
from retrieval.text.patterns import CJK as _CJK
from retrieval.types import DocumentMeta

BODY_CHARS = 30000        # organisation mentions are collected from this much text (the rest adds only counts)

# Where the organisation is mentioned, by how much that mention counts.
WEIGHT_TITLE = 10.0
WEIGHT_ISSUER_FIELD = 8.0
WEIGHT_HEADER_LINE = 5.0          # a short line above the body, e.g. the column name or the issuing body
WEIGHT_BREADCRUMB = 3.0
WEIGHT_SOURCE_FIELD = 2.0
WEIGHT_FILE_NAME = 1.5
WEIGHT_BODY = 1.0
WEIGHT_EARLY_BODY = 0.5           # extra for a body mention in the opening paragraphs
WEIGHT_PER_NAME_USE = 0.3         # each use of the bare name ("好生活在丁兰"), up to NAME_USES_COUNTED
NAME_USES_COUNTED = 10
OPENING_CHARS = 1000              # the opening paragraphs, where a plan names its own organisation

# Organisation types a plan's author can be, longest spelling first; the value is the type the spelling names.
ORG_TYPES = {
    "高新技术产业开发区": "高新区", "经济技术开发区": "经开区", "经济开发区": "经开区", "高新区": "高新区",
    "经开区": "经开区", "工业园区": "工业园区", "开发区": "开发区", "街道办事处": "街道", "街道": "街道",
    "镇": "镇", "乡": "乡",
}
ZONE_TYPES = {"高新区", "经开区", "工业园区", "开发区"}
_LEVEL = r"(?:自治区|自治州|自治县|地区|省|市|县|区|旗|盟)"
_ADMIN_ITEM = rf"(?:[{_CJK}]{{2,7}}?|[XxＸｘ×*＊○某]{{1,3}}){_LEVEL}(?:人民政府)?"     # XX县 is anonymised
_ORG = re.compile(
    rf"(?P<chain>(?:{_ADMIN_ITEM})*)"
    rf"(?P<name>某|[XxＸｘ×*＊○]{{1,3}}|(?:(?![区县省])[{_CJK}]){{2,5}}?)\s?"
    rf"(?P<suffix>{'|'.join(ORG_TYPES)})"
    r"(?P<body>人民政府|办事处|党工委|党委|管委会|管理委员会)?")
_ADMIN_ITEMS = re.compile(_ADMIN_ITEM)
_PLACEHOLDER = re.compile(r"某|^[XxＸｘ×*＊○]+(?:[省市县区旗]|$)")
# A name made of these is a common noun phrase (各乡镇, 全省高新区, 省级开发区, 特色小镇), not a place.
_GENERIC_NAME = re.compile(r"^[各全本该我其每此诸在对把由从被]|^关于|乡镇|街镇|城镇|村镇|城乡|小镇|国家|省级|市级|县级|区级"
                           r"|重点|特色|示范|中心|周边|相关|有关|所属|辖区|片区|农业|工业|产业|经济|高新|一批|若干")
# jieba part-of-speech tags of words that are not names: verbs, adverbs, prepositions, conjunctions, pronouns.
_VERB_LIKE_TAGS = ("v", "d", "p", "c", "u", "r", "ad")
# The word a phrase of running text opens with, when it makes the phrase an action (深化开发区管理…): jieba tags
# some such verbs as abbreviations (深化 j).
_OPENING_VERB_TAGS = (*_VERB_LIKE_TAGS, "j")
# Mentions are read where a name can start: line starts, after punctuation or a year, after 在/代表.
_MENTION_START = re.compile(rf"[\n,，。;；:：、“”\"‘’'(（)）《》【】\[\]>›»|\s—-]+|(?:19|20)\d{{2}}\s*年度?|我?代表|在|关于")

# --- the organisation ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrgMention:
    """One place the text names an organisation: 重庆市巴南区木洞镇人民政府 → name 木洞, suffix 镇, district 巴南区."""

    name: str
    suffix: str          # as written: 街道办事处, 经济开发区, 镇 …
    district: str = ""   # the nearest 区/县/市 written before the name, "" when none
    body: str = ""       # 人民政府 / 党工委 / 管委会 … written after the name, "" when none

    @property
    def org_type(self) -> str:
        return ORG_TYPES[self.suffix]

    @property
    def is_placeholder(self) -> bool:
        """An anonymised name (某街道, XX街道, ××开发区): the document does not say who wrote it."""
        return bool(_PLACEHOLDER.search(self.name))


@dataclass(frozen=True)
class Organisation:
    """The organisation a document is from: short name, full name and the other names a user may type."""

    name: str            # the place name alone: 甘泉路, 木洞, 舒城, 如皋, 河北
    org_type: str        # 街道 / 镇 / 乡 / 经开区 / 高新区 / 工业园区 / 开发区 / 省 / 市 / 县
    short: str           # 甘泉路, 木洞, 舒城经开区, 如皋高新区, 河北
    full: str            # 甘泉路街道, 木洞镇, 舒城经济开发区, 如皋高新区, 河北省
    aliases: tuple[str, ...]
    level: str = ""                     # 省 / 市 / 县 / 街道 / 镇 / 乡 / 开发区 (DocumentMeta.level)
    parents: tuple[str, ...] = ()       # full names of the divisions above it, highest first
    code: str = ""                      # the division code, where the gazetteer has one
    named_up_front: bool = True         # named in the title, page fields, header lines or file name (not only the body)


def org_mention_at(text: str, pos: int) -> tuple[OrgMention, int] | None:
    """The organisation named from `pos` on and where its mention ends, or None. Common nouns (各乡镇,
    省级开发区) and a preposition before a name (在鹅湖镇) are not names."""
    match = _ORG.match(text, pos)
    if not match:
        return None
    name = match.group("name")
    if not _PLACEHOLDER.search(name) and _GENERIC_NAME.search(name):
        return None
    items = _ADMIN_ITEMS.findall(match.group("chain"))
    district = items[-1].removesuffix("人民政府") if items else ""
    mention = OrgMention(name=name, suffix=match.group("suffix"), district=district, body=match.group("body") or "")
    return mention, match.end()


def _is_common_word(name: str, tags: tuple[str, ...] = ()) -> bool:
    """A name that is a verb or function word in jieba's dictionary (建立, 推进, 坚持): read in running text,
    "…,建立街道、营商…" is a verb and a noun, not a street. Titles and page fields are trusted as written."""
    import jieba.posseg as posseg

    return posseg.dt.word_tag_tab.get(name, "n").startswith(tags or _VERB_LIKE_TAGS)


def org_mentions(text: str, limit: int = BODY_CHARS, running_text: bool = False,
                 opening: bool = False) -> list[tuple[int, OrgMention]]:
    """(position, mention) for every organisation named where a name can start.

    With `running_text`, phrases that only look like names are skipped (see `_stands_as_name`); in the
    `opening` paragraphs a plan names its own organisation ("今年以来，青枫街道紧紧围绕…"), so there a name
    need not be one the gazetteer knows.
    """
    text = text[:limit]
    starts = {0} | {m.end() for m in _MENTION_START.finditer(text)}
    found: list[tuple[int, OrgMention]] = []
    covered_until = -1
    for pos in sorted(starts):
        if pos < covered_until:
            continue              # inside a mention already read (在乌镇镇 is not also read as 镇镇)
        read = org_mention_at(text, pos)
        if read and running_text and not read[0].is_placeholder \
                and not _stands_as_name(text, pos, read[1], read[0], opening):
            continue
        if read:
            found.append((pos, read[0]))
            covered_until = read[1]
    return found


def _stands_as_name(text: str, start: int, end: int, mention: OrgMention, opening: bool = False) -> bool:
    """In running text a name does not open with a verb and its type word ends a word ("深化|开发区|管理",
    "和美|乡村", "常住人口|城镇化" are phrases, not places); and it is a place the gazetteer knows (闽宁镇;
    天水经开区 after the city 天水) or is written as an organisation: after its county (某县桃源镇), before
    its government (柳河镇人民政府), or after 在/代表 ("在云岭镇第六届人民代表大会", "我代表柳河镇人民政府")."""
    if _is_common_word(mention.name):
        return False
    words = _words(text)
    if end not in words.ends:
        return False
    first = next((word for position, word in words.cut if position == start), "")
    if len(first) >= 2 and _is_common_word(first, _OPENING_VERB_TAGS):
        return False
    return (opening or _is_known_place(mention) or bool(mention.district or mention.body)
            or bool(re.search(r"(?:在|代表)$", text[:start])))


def _is_known_place(mention: OrgMention) -> bool:
    from retrieval.text.gazetteer import COUNTY, LEVEL_RANK, gazetteer

    places = gazetteer()
    if mention.org_type in ZONE_TYPES:          # a zone is named after its city or county: 天水经开区, 祥云经开区
        return bool(places.by_full_name(mention.name + mention.suffix)) or any(
            LEVEL_RANK[place.level] <= LEVEL_RANK[COUNTY] for place in places.named(mention.name))
    return bool(places.by_full_name(mention.name + ORG_TYPES[mention.suffix].removesuffix("办事处")))


@dataclass(frozen=True)
class _Words:
    cut: tuple[tuple[int, str], ...]          # (start, word)
    starts: frozenset[int]
    ends: frozenset[int]


_WORDS_CACHE: dict[str, _Words] = {}


def _words(text: str) -> _Words:
    """The jieba words of a line with their offsets (kept for the line being read)."""
    if text not in _WORDS_CACHE:
        from retrieval.text.tokenizer import default_cut

        cut, position = [], 0
        for word in default_cut(text):
            cut.append((position, word))
            position += len(word)
        _WORDS_CACHE.clear()
        _WORDS_CACHE[text] = _Words(tuple(cut), frozenset(s for s, _ in cut) | {len(text)},
                                    frozenset(s + len(w) for s, w in cut) | {0})
    return _WORDS_CACHE[text]


def organisation_of(mention: OrgMention, title_bodies: tuple[str, ...] = ()) -> Organisation:
    """Short name, full name and aliases by the rules of Chinese administrative names.

    甘泉路街道 → 甘泉路 (甘泉路街道); 嘉定区青石街道 → 青石 (青石街道, 嘉定青石, 嘉定区青石街道);
    舒城经济开发区 → 舒城经开区 (舒城经济开发区, 舒城开发区); 如皋高新技术产业开发区 → 如皋高新区 (如皋高新, …).
    A bare type word (经开区, 高新区) is not an alias: it names every zone of that type in the corpus.
    `title_bodies` are the bodies the title names with it (党工委, 办事处): "吴淞街道党工委" is an alias too.
    """
    name, org_type = mention.name, mention.org_type
    if org_type == "经开区":
        full = name + ("经济技术开发区" if mention.suffix == "经济技术开发区" else "经济开发区")
        return Organisation(name, org_type, name + "经开区", full, _unique([full, name + "开发区"]))
    if org_type == "高新区":
        return Organisation(name, org_type, name + "高新区", name + "高新区", (name + "高新", name + "高新技术产业开发区"))
    if org_type == "工业园区":
        return Organisation(name, org_type, name + "工业园区", name + "工业园区", (name + "工业园",))
    if org_type == "开发区":
        return Organisation(name, org_type, name + "开发区", name + "开发区", ())
    full = name + org_type                      # 街道 / 镇 / 乡: the short name is the name itself
    aliases = [full]
    if mention.suffix == "街道办事处":
        aliases.append(name + "街道办事处")
    district = mention.district
    if district and "自治" not in district and len(district) >= 3 and not _PLACEHOLDER.search(district):
        district_name = district[:-2] if district.endswith("新区") else district[:-1]     # 浦东新区 → 浦东
        aliases += [district_name + name, district + full]
    aliases += [full + body for body in title_bodies if body in ("党工委", "党委", "办事处")]
    return Organisation(name, org_type, name, full, _unique(aliases))


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for item in items if item))


def _paren_spans(line: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"[(（][^()（）]*[)）]", line)]


def choose_organisation(text: str, title_line: str, fields: Mapping[str, str], file_stem: str,
                        header_lines: list[str]) -> Organisation | None:
    """The organisation the document is from, weighing every mention by where it stands; None when unknown.

    The title counts most, then the issuer the page names, lines above the body, breadcrumbs, the body
    (each mention, more at the start, plus how often the bare name is used), and the file name last.
    A placeholder that wins (某街道) means the document is anonymised: the organisation is unknown.
    """
    scores: dict[tuple[str, str], float] = defaultdict(float)
    examples: dict[tuple[str, str], list[tuple[float, OrgMention]]] = defaultdict(list)
    title_bodies: list[str] = []

    up_front: set[tuple[str, str]] = set()

    def add(mention: OrgMention, weight: float) -> None:
        key = (mention.name, mention.org_type)
        scores[key] += weight
        examples[key].append((weight, mention))

    def add_line(line: str, weight: float) -> None:
        spans = _paren_spans(line)
        for pos, mention in org_mentions(line):
            in_parens = any(start <= pos < end for start, end in spans)
            add(mention, WEIGHT_BODY if in_parens else weight)
            if not in_parens:
                up_front.add((mention.name, mention.org_type))
            if weight == WEIGHT_TITLE and mention.body:
                title_bodies.append(mention.body)

    add_line(title_line, WEIGHT_TITLE)
    for line in header_lines:
        add_line(line, WEIGHT_HEADER_LINE)
    for key, weight in (("issuer", WEIGHT_ISSUER_FIELD), ("source", WEIGHT_SOURCE_FIELD),
                        ("breadcrumb", WEIGHT_BREADCRUMB)):
        if fields.get(key):
            for part in re.split(r"\s*[>›»]\s*", fields[key]):
                add_line(squash_spaces(part), weight)
    add_line(file_stem, WEIGHT_FILE_NAME)
    offset = 0
    for line in text[:BODY_CHARS].split("\n"):
        if line.strip() in header_lines or (title_line and line.strip() == title_line):
            offset += len(line) + 1
            continue
        breadcrumb = bool(re.search(r"[>›»]", line))
        for pos, mention in org_mentions(line, running_text=not breadcrumb, opening=offset < OPENING_CHARS):
            weight = WEIGHT_BREADCRUMB if breadcrumb else WEIGHT_BODY
            if not breadcrumb and offset + pos < OPENING_CHARS:
                weight += WEIGHT_EARLY_BODY
            add(mention, weight)
        offset += len(line) + 1
    if not scores:
        return None
    # 舒城开发区 and 舒城经济开发区 are one zone: a plain 开发区 counts for the typed zone of the same name.
    for (name, org_type), score in list(scores.items()):
        if org_type == "开发区":
            typed = [key for key in scores if key[0] == name and key[1] in ZONE_TYPES - {"开发区"}]
            if typed:
                scores[typed[0]] += score
                del scores[(name, org_type)]
                if (name, org_type) in up_front:
                    up_front.add(typed[0])
    for (name, org_type), score in list(scores.items()):
        if not _PLACEHOLDER.search(name):
            scores[(name, org_type)] = score + WEIGHT_PER_NAME_USE * min(text.count(name), NAME_USES_COUNTED)
    best_key = max(scores, key=lambda key: (scores[key], -len(key[0])))
    mentions = sorted(examples[best_key], key=lambda item: -item[0])
    if mentions[0][1].is_placeholder:
        return None
    with_district = next((m for _, m in mentions if m.district), None)
    mention = with_district if with_district else mentions[0][1]
    fullest_spelling = max((m.suffix for _, m in mentions), key=len)          # 街道办事处 over 街道
    mention = replace(mention, suffix=fullest_spelling)
    return replace(placed(organisation_of(mention, tuple(title_bodies)), mention.district, text),
                   named_up_front=best_key in up_front)


# Levels of the organisation types a plan's author can be (DocumentMeta.level).
LEVEL_OF_TYPE = {"街道": "街道", "镇": "镇", "乡": "乡", "高新区": "开发区", "经开区": "开发区", "工业园区": "开发区",
                 "开发区": "开发区"}


def _in_context(candidates, text: str):
    """The one candidate place whose parents the document names most (宝山区 of 上海, not of 双鸭山), or None."""
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    from retrieval.text.gazetteer import gazetteer

    places = gazetteer()

    def votes(place) -> int:
        names = {place.parents[-1]} if place.parents else set()
        names |= {parent for parent in place.parents} | {p.short for parent in place.parents
                                                           for p in places.by_full_name(parent)[:1] if p.short}
        return sum(min(text.count(name), 5) for name in names if len(name) >= 2)
    scored = sorted(((votes(place), index) for index, place in enumerate(candidates)), reverse=True)
    if scored[0][0] > 0 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        return candidates[scored[0][1]]
    return None


def placed(org: Organisation, district: str, text: str) -> Organisation:
    """The organisation with its level, parent chain and code from the gazetteer: 万里街道 under 上海市 › 普陀区;
    a zone under the city or county it is named after (舒城经开区 › 安徽省 › 六安市 › 舒城县)."""
    from retrieval.text.gazetteer import COUNTY, LEVEL_RANK, gazetteer

    places = gazetteer()
    level = LEVEL_OF_TYPE.get(org.org_type, org.level)
    if level == "开发区":
        listed = places.by_full_name(org.full)
        if listed:
            place = _in_context(listed, text)
            return replace(org, level=level, parents=place.parents if place else ())
        named_after = [p for p in places.named(org.name) if LEVEL_RANK[p.level] <= LEVEL_RANK[COUNTY]]
        place = _in_context(named_after, text)
        return replace(org, level=level, parents=place.chain if place else ())
    candidates = places.by_full_name(org.full)
    if district and len(candidates) > 1:
        candidates = tuple(p for p in candidates if district in p.parents
                           or any(district.startswith(q.short) for parent in p.parents
                                  for q in places.by_full_name(parent)[:1] if q.short)) or candidates
    place = _in_context(candidates, text)
    return replace(org, level=level, parents=place.parents if place else (), code=place.code if place else "")


def _organisation_of_place(place, text: str) -> Organisation:
    """A division as the organisation: 河北省 → 河北 (河北省); 宁夏回族自治区 → 宁夏 (宁夏回族自治区, 宁夏自治区)."""
    from retrieval.text.gazetteer import PROVINCE, STREET, TOWN, TOWNSHIP

    if place.level in (STREET, TOWN, TOWNSHIP):
        suffix = "街道" if place.level == STREET else place.level
        mention = OrgMention(place.full.removesuffix(suffix), suffix, place.parents[-1] if place.parents else "")
        return replace(organisation_of(mention), level=place.level, parents=place.parents, code=place.code)
    short = place.short or place.full
    aliases = [place.full]
    if place.level == PROVINCE and "自治区" in place.full:
        aliases.append(short + "自治区")
    return Organisation(short, place.level, short, place.full, _unique(a for a in aliases if a != short),
                        level=place.level, parents=place.parents, code=place.code)


def signing_body(body: str, org: Organisation | None) -> str:
    """The body a signature names, completed with the organisation when it gives only its level:
    自治区人民政府 → 宁夏回族自治区人民政府."""
    level_word = re.match(r"^(?:自治区|省|市|区|县)(?=人民政府|政府)", body)
    if level_word and org is not None and org.full.endswith(level_word.group()):
        return org.full + body[level_word.end():]
    return body


def administrative_organisation(sources: list[str], text: str) -> Organisation | None:
    """The division a document is from, read from its sources in order (title line, meeting line, signature,
    header lines, page fields, file name): the first that names one by its full name (河北省, 温州市, 鹿城区)
    or a province by its short name (河北) gives it; of several in one source, the lowest (浙江省温州市 → 温州市)."""
    from retrieval.text.gazetteer import LEVEL_RANK, PROVINCE, gazetteer

    places = gazetteer()
    for source in sources:
        mentions = [m for m in places.places_in(source)
                    if m.full_name or any(p.level == PROVINCE and p.short == m.name for p in m.places)]
        if not mentions:
            continue
        written = {m.name for m in mentions}
        # The lowest division named (a province's short name ranks as the province).
        best = max(mentions, key=lambda m: min(LEVEL_RANK[p.level] for p in m.places) if m.full_name else 0)
        candidates = best.places if best.full_name else tuple(p for p in best.places if p.level == PROVINCE)
        within = tuple(p for p in candidates if any(name in p.parents or any(name == q.short for parent in p.parents
                                                    for q in places.by_full_name(parent)[:1]) for name in written))
        place = _in_context(within or candidates, text) or (candidates[0] if len(candidates) == 1 else None)
        if place is not None:
            return _organisation_of_place(place, text)
    return None


def organisation_names(meta: DocumentMeta) -> list[str]:
    """Names a user may type for a document's organisation: the short name and the aliases."""
    out = []
    for name in (meta.org, *meta.aliases):
        name = re.sub(r"（.*?）|\(.*?\)", "", name).strip()
        if len(name) >= 2 and "某" not in name and "未识别" not in name:
            out.append(name)
    return out
