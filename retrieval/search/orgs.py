"""Which organisation a question names: every document's organisation names in one Aho-Corasick automaton
(one pass over the question, whatever the number of documents), plus organisations the corpus does not hold."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from retrieval.ingest.organisations import organisation_names
from retrieval.types import DocumentMeta

# Suffixes that make a phrase an organisation of this domain: 火星街道, 桃源镇, 舒城经济开发区.
ORG_SUFFIXES = ("街道办事处", "街道", "经济技术开发区", "经济开发区", "高新技术产业开发区", "开发区", "高新区", "经开区",
                "工业园区", "产业园区", "园区", "新区", "镇", "乡")
# A name never starts with these: 全镇 / 本街道 / 哪个街道 / 各乡镇 / 该开发区 / 我镇 are not names.
_NOT_NAME_START = set("全本该各我哪每这那此其某啥什")
# 城镇 / 乡镇 / 村镇 / 城乡 / 下乡 are words, not a name plus a suffix.
_NOT_NAME_END = {"镇": set("城乡村集"), "乡": set("城下家故老")}
_NAME_CHARS = r"[\u4e00-\u9fff]"
_UNKNOWN_ORG = re.compile(rf"({_NAME_CHARS}{{2,6}}?)({'|'.join(ORG_SUFFIXES)})")
# Part-of-speech classes a place name is made of (jieba tags: nouns, place and person names, abbreviations,
# unknown words, and the single characters jieba leaves untagged-looking: 中|都 街道).
_NAME_FLAGS = set("nsjxfdbg")
# Generic words that can stand before a suffix without naming a place: 国家高新区, 代表镇政府, 省级开发区.
_GENERIC_WORDS = {"国家", "全国", "省级", "市级", "县级", "区级", "各级", "代表", "人民", "政府", "经济", "所在", "周边",
                  "相关", "其他", "重点", "特色", "示范", "城市", "农村", "社区"}


@dataclass(frozen=True)
class OrgMention:
    """A name found in the text: [start, end) and the documents whose organisation it names."""

    name: str
    start: int
    end: int
    doc_ids: tuple[str, ...]


DIVISION_LEVELS = ("省", "市", "县", "街道", "镇", "乡")


def division_chain(meta: DocumentMeta) -> tuple[str, ...]:
    """The chain of full names of the division a document's organisation is ("上海市", "宝山区", "吴淞街道"), or
    () when the gazetteer does not place it. A zone's chain is the place it is named after plus the zone."""
    from retrieval.text.gazetteer import gazetteer

    if meta.level == "开发区" and meta.parents:
        return (*meta.parents, meta.org)
    if meta.level not in DIVISION_LEVELS:
        return ()
    places = gazetteer()
    for name in (meta.org, *meta.aliases):
        for place in places.by_full_name(name):
            if place.level == meta.level and place.parents == meta.parents:
                return place.chain
    return ()


@dataclass(frozen=True)
class NamedPlace:
    """An organisation or division a question names, and the corpus documents that are its own."""

    name: str                               # as written: 吴淞, 温州, 冀, 近邻街道
    start: int
    end: int
    chains: tuple[tuple[str, ...], ...]     # every division it may be (full names, highest first); () unplaced
    doc_ids: tuple[str, ...]                # the corpus's documents of it; () when the corpus does not hold it
    label: str                              # how a 未找到 note names it: 温州市 for 温州, as written when unsure

    def is_above(self, other: "NamedPlace") -> bool:
        """A division that contains the other (浙江 above 温州市): named as its context, not as what is asked."""
        return any(len(mine) < len(theirs) and theirs[:len(mine)] == mine
                   for mine in self.chains for theirs in other.chains)


def _is_ordinary_word(name: str) -> bool:
    """A word jieba knows as something other than a place or a name (建设, 光明, 万里): not a place by its short name."""
    import jieba.posseg as posseg
    from retrieval.text.gazetteer import PLACE_LIKE_TAGS

    tag = posseg.dt.word_tag_tab.get(name)
    return tag is not None and not tag.startswith(PLACE_LIKE_TAGS)


def _label(mention) -> str:
    """How to name a division in a 未找到 note: its full name when the name settles which level it is
    (长春 → 长春市, a city before any town of that name), else as written."""
    from retrieval.text.gazetteer import LEVEL_RANK

    ranks = [LEVEL_RANK[place.level] for place in mention.places]      # places come highest level first
    if mention.full_name or len(ranks) == 1 or ranks[0] < ranks[1]:
        return mention.places[0].full
    return mention.name


class OrganisationMatcher:
    """All organisation names of a corpus in one automaton; longest non-overlapping matches win, so
    舒城开发区 is 舒城's and not the 开发区 alias of another plan. With the gazetteer it also tells which
    divisions a question names and whether the corpus holds them (`named_places`)."""

    def __init__(self, documents: Mapping[str, DocumentMeta]):
        import ahocorasick

        owners: dict[str, set[str]] = {}
        self._chain_of: dict[str, tuple[str, ...]] = {}
        self._docs_of_chain: dict[tuple[str, ...], set[str]] = {}
        for doc_id, meta in documents.items():
            for name in organisation_names(meta):
                owners.setdefault(name, set()).add(doc_id)
            chain = division_chain(meta) if meta.level else ()
            if chain:
                self._chain_of[doc_id] = chain
                self._docs_of_chain.setdefault(chain, set()).add(doc_id)
        self._owners = {name: tuple(sorted(ids)) for name, ids in owners.items()}
        self._automaton = ahocorasick.Automaton()
        for name in self._owners:
            self._automaton.add_word(name, name)
        if self._owners:
            self._automaton.make_automaton()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._owners)

    def mentions(self, text: str) -> list[OrgMention]:
        """Known names in the text, longest first where they overlap, in text order."""
        if not self._owners:
            return []
        found = [(end - len(name) + 1, end + 1, name) for end, name in self._automaton.iter(text)]
        found.sort(key=lambda m: (-(m[1] - m[0]), m[0]))
        taken: list[tuple[int, int, str]] = []
        for start, end, name in found:
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, name))
        return [OrgMention(name, start, end, self._owners[name]) for start, end, name in sorted(taken)]

    def named_places(self, text: str) -> list[NamedPlace]:
        """Every organisation or division the text names, in text order, each with the corpus documents that
        are its own: the corpus's names and aliases first (吴淞, 舒城开发区), then the gazetteer's divisions (温州,
        冀, 宝山区吴淞街道), then names shaped like an organisation (近邻街道, 教育局). A division that contains
        another one named (浙江 in 浙江温州) is its context and is left out."""
        from retrieval.text.gazetteer import gazetteer

        found: list[NamedPlace] = []
        for mention in self.mentions(text):
            chains = tuple(dict.fromkeys(self._chain_of[d] for d in mention.doc_ids if d in self._chain_of))
            found.append(NamedPlace(mention.name, mention.start, mention.end, chains, mention.doc_ids, mention.name))
        starts, ends = _word_edges(text)
        for mention in gazetteer().places_in(text, is_ordinary_word=_is_ordinary_word, boundaries=starts | ends,
                                             place_ends={p.end for p in found}):
            if any(p.start < mention.end and mention.start < p.end for p in found):
                continue
            chains = tuple(place.chain for place in mention.places)
            doc_ids = tuple(sorted({d for chain in chains for d in self._docs_of_chain.get(chain, ())}))
            label = _label(mention)
            found.append(NamedPlace(mention.name, mention.start, mention.end, chains, doc_ids, label))
        for name in unknown_organisations(text, [(p.start, p.end) for p in found]):
            start = text.find(name)
            found.append(NamedPlace(name, start, start + len(name), (), (), name))
        kept = [p for p in found if not any(p.is_above(other) for other in found if other is not p)]
        return sorted(kept, key=lambda p: p.start)

    def strip(self, text: str) -> str:
        """The text with every known organisation name blanked out."""
        for mention in sorted(self.mentions(text), key=lambda m: -m.start):
            text = text[:mention.start] + " " + text[mention.end:]
        return text


# Verbs that open the policy phrases of plans (深化开发区管理制度改革, 推进园区建设); jieba tags some of them as
# abbreviations (深化 j), so the part of speech alone does not keep them out of a name.
_POLICY_VERBS = {"深化", "推进", "推动", "加快", "加力", "建设", "打造", "完善", "优化", "培育", "发展", "支持", "鼓励", "创建",
                 "提升", "做强", "壮大", "发挥", "实施", "落实", "统筹", "促进", "争创", "规范"}
# Words that follow a name standing as an organisation in a question: 近邻街道今年…, 石门二路街道的…, 教育局2024年….
_AFTER_ORGANISATION = re.compile(r"^(?:今年|去年|明年|前年|上半年|下半年|全年|(?:19|20)\d{2}|的|在|有|要|将|计划|工作|共|一共"
                                 r"|和|与|、|[，,？?])")
# Words that come before a name in a question and are not part of it.
_BEFORE_NAME = re.compile(r"^(?:请问|请|问下|问问|想问|了解|关于|在|和|与|及|的|今年|去年|明年|那么|那)+")
_DEPARTMENT = re.compile(rf"({_NAME_CHARS}{{2,6}}?)(局|委)")
# Government bodies written right after a town's name (桃源镇政府): the type word still ends the name.
_BODY_AFTER = re.compile(r"^(?:人民政府|政府|党委|党工委|办事处|管委会)")


def _is_place_word(text: str, starts: set[int], position: int) -> bool:
    """The jieba word around `position` is a place name (桃源镇, 乌镇 as one word)."""
    import jieba.posseg as posseg

    word_start = max((s for s in starts if s <= position), default=0)
    word_end = min((s for s in starts if s > position), default=len(text))
    return posseg.dt.word_tag_tab.get(text[word_start:word_end], "").startswith("ns")


def _word_edges(text: str) -> tuple[set[int], set[int]]:
    """Where jieba's words of the text start and end."""
    from retrieval.text.tokenizer import default_cut

    starts, ends, position = set(), set(), 0
    for word in default_cut(text):
        starts.add(position)
        position += len(word)
        ends.add(position)
    return starts, ends


def unknown_organisations(text: str, known: Iterable[OrgMention] | Iterable[tuple[int, int]]) -> list[str]:
    """Organisation-like phrases (X街道, X镇, X开发区, X局 …) that no known name covers: 火星街道 in a corpus
    without it.

    The type word must end a word (乡村, 城镇化率 are words, not a 乡 or a 镇). A name followed by what follows an
    organisation in a question (近邻街道今年…) is one whatever part of speech jieba gives its words; elsewhere the
    name is the run of noun-like words right before the type word (请问|桃源|镇 → 桃源镇), without generic words
    (国家高新区, 代表镇政府 name no organisation). A department (教育局, 发改委) is a word of three characters or
    more ending in 局/委 (格局, 党委 are words of their own) followed by what follows an organisation.
    """
    import jieba
    from retrieval.text.tokenizer import part_of_speech_cut

    jieba.setLogLevel(60)
    covered = [(m.start, m.end) if isinstance(m, OrgMention) else m for m in known]
    starts, ends = _word_edges(text)
    names = []
    for match in _UNKNOWN_ORG.finditer(text):
        start, end = match.span()
        if any(s < end and start < e for s, e in covered):
            continue
        suffix = match.group(2)
        if end not in ends and not _BODY_AFTER.match(text[end:]):
            continue                                     # 乡村, 城镇化率: the type word runs into the next word
        type_start = end - len(suffix)
        if type_start not in starts and not _is_place_word(text, starts, type_start):
            continue                                     # 江南水乡: the type word ends another word (水乡)
        standing = bool(_AFTER_ORGANISATION.match(text[end:]))
        words = list(part_of_speech_cut(match.group(1)))
        kept: list[str] = []
        if standing:
            name = _BEFORE_NAME.sub("", match.group(1))
            if name and start + len(match.group(1)) - len(name) in starts:
                kept = [name]
        for word in ([] if kept else reversed(words)):
            if word.flag[:1] not in _NAME_FLAGS or word.word in _GENERIC_WORDS or word.word in _POLICY_VERBS:
                break
            kept.insert(0, word.word)
        name = "".join(kept)
        if len(name) < 2 or name[0] in _NOT_NAME_START or name[-1] in _NOT_NAME_END.get(suffix, ()) \
                or name in _GENERIC_WORDS or any(name.startswith(g) for g in _GENERIC_WORDS):
            continue
        names.append(name + suffix)
    for match in _DEPARTMENT.finditer(text):
        start, end = match.span()
        if any(s < end and start < e for s, e in covered) or not _AFTER_ORGANISATION.match(text[end:]):
            continue
        word_start = max((s for s in starts if s < end), default=None)
        if word_start is None or end not in ends or end - word_start < 3:
            continue                                     # 格局, 党委, 居委: two-character words
        name = text[word_start:end]
        if name[0] not in _NOT_NAME_START:
            names.append(name)
    return names
