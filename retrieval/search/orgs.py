"""Which organisation a question names: every document's organisation names in one Aho-Corasick automaton
(one pass over the question, whatever the number of documents), plus organisations the corpus does not hold."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

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


def organisation_names(meta: DocumentMeta) -> list[str]:
    """Names a user may type for a document's organisation: the short name and the aliases."""
    out = []
    for name in (meta.org, *meta.aliases):
        name = re.sub(r"（.*?）|\(.*?\)", "", name).strip()
        if len(name) >= 2 and "某" not in name and "未识别" not in name:
            out.append(name)
    return out


@dataclass(frozen=True)
class OrgMention:
    """A name found in the text: [start, end) and the documents whose organisation it names."""

    name: str
    start: int
    end: int
    doc_ids: tuple[str, ...]


class OrganisationMatcher:
    """All organisation names of a corpus in one automaton; longest non-overlapping matches win, so
    舒城开发区 is 舒城's and not the 开发区 alias of another plan."""

    def __init__(self, documents: Mapping[str, DocumentMeta]):
        import ahocorasick

        owners: dict[str, set[str]] = {}
        for doc_id, meta in documents.items():
            for name in organisation_names(meta):
                owners.setdefault(name, set()).add(doc_id)
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

    def strip(self, text: str) -> str:
        """The text with every known organisation name blanked out."""
        for mention in sorted(self.mentions(text), key=lambda m: -m.start):
            text = text[:mention.start] + " " + text[mention.end:]
        return text


def unknown_organisations(text: str, known: Iterable[OrgMention]) -> list[str]:
    """Organisation-like phrases (X街道, X镇, X开发区 …) that no known name covers: 火星街道 in a corpus without it.

    The name is the run of noun-like words right before the suffix (请问|桃源|镇 → 桃源镇), without
    generic words (国家高新区, 代表镇政府 name no organisation).
    """
    import jieba
    from retrieval.text.tokenizer import part_of_speech_cut

    jieba.setLogLevel(60)
    covered = [(m.start, m.end) for m in known]
    names = []
    for match in _UNKNOWN_ORG.finditer(text):
        start, end = match.span()
        if any(s < end and start < e for s, e in covered):
            continue
        suffix = match.group(2)
        words = list(part_of_speech_cut(match.group(1)))
        kept: list[str] = []
        for word in reversed(words):
            if word.flag[:1] not in _NAME_FLAGS or word.word in _GENERIC_WORDS:
                break
            kept.insert(0, word.word)
        name = "".join(kept)
        if len(name) < 2 or name[0] in _NOT_NAME_START or name[-1] in _NOT_NAME_END.get(suffix, ()):
            continue
        names.append(name + suffix)
    return names
