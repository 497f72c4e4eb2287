"""The statistical vocabulary (resources/statistical_synonyms.yaml): names of one indicator found in a text, both ways."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import yaml

SYNONYMS_FILE = Path(__file__).resolve().parents[1] / "resources" / "statistical_synonyms.yaml"
BROAD_WEIGHT = 0.5          # a broad name (就业, 投资) says less about which indicator is meant


@dataclass(frozen=True)
class Concept:
    """One statistical indicator: its standard (统计公报) name and the other names people and reports use."""

    canonical: str
    variants: tuple[str, ...] = ()
    broad: tuple[str, ...] = ()              # names that also mean other things: matched, never expanded
    indicator: bool = True                   # False for the words of a rate (增长, 增速), which measure any indicator

    @property
    def names(self) -> tuple[str, ...]:
        return (self.canonical, *self.variants, *self.broad)

    @property
    def specific_names(self) -> tuple[str, ...]:
        return (self.canonical, *self.variants)


@dataclass(frozen=True)
class Mention:
    """A name of a concept at [start, end) of a text."""

    start: int
    end: int
    name: str
    concept: Concept

    @property
    def broad(self) -> bool:
        return self.name in self.concept.broad


class SynonymTable:
    """Concepts by every name; `mentions` finds them in a text, longest name first, case-insensitively."""

    def __init__(self, concepts: tuple[Concept, ...]):
        self.concepts = concepts

    @cached_property
    def _by_name(self) -> dict[str, Concept]:
        found: dict[str, Concept] = {}
        for concept in self.concepts:
            for name in concept.names:
                found.setdefault(name.casefold(), concept)
        return found

    @cached_property
    def _names_by_first_character(self) -> dict[str, tuple[str, ...]]:
        """Names by their first character, longest first: a text is scanned once, one short list a position."""
        grouped: dict[str, list[str]] = {}
        for name in sorted(self._by_name, key=len, reverse=True):
            grouped.setdefault(name[0], []).append(name)
        return {first: tuple(names) for first, names in grouped.items()}

    def concept_of(self, name: str) -> Concept | None:
        return self._by_name.get(name.casefold())

    def mentions(self, text: str) -> list[Mention]:
        """Every name of the table in `text`, left to right, the longest at each place, none overlapping."""
        return list(self._mentions(text))

    @lru_cache(maxsize=65536)
    def _mentions(self, text: str) -> tuple[Mention, ...]:
        folded = text.casefold()
        found: list[Mention] = []
        position = 0
        groups = self._names_by_first_character
        while position < len(folded):
            name = next((n for n in groups.get(folded[position], ()) if folded.startswith(n, position)), None)
            if name is None:
                position += 1
                continue
            end = position + len(name)
            found.append(Mention(position, end, text[position:end], self._by_name[name]))
            position = end
        return tuple(found)

    def expansions(self, text: str) -> list[str]:
        """The standard names of the indicators `text` names by another specific name (GDP → 地区生产总值,
        物价 → 居民消费价格), those `text` does not already hold: the words reports print, for the retrievers.
        A broad name (投资) expands to nothing: it is too common a word to stand for one indicator."""
        folded = text.casefold()
        extra: list[str] = []
        for mention in self.mentions(text):
            canonical = mention.concept.canonical
            if not mention.broad and canonical.casefold() not in folded and canonical not in extra:
                extra.append(canonical)
        return extra

    def indicators_in(self, text: str) -> list[Mention]:
        """The statistical indicators a text names by a specific name (GDP, 物价), not rate words or broad names."""
        return [m for m in self.mentions(text) if m.concept.indicator and not m.broad]

    def same_concept(self, first: str, second: str) -> bool:
        """Whether two names name one indicator (GDP and 地区生产总值: True)."""
        a, b = self.concept_of(first), self.concept_of(second)
        return a is not None and a is b


@lru_cache(maxsize=4)
def load_synonyms(path: Path = SYNONYMS_FILE) -> SynonymTable:
    """The table of a synonyms file; a malformed entry raises ValueError naming it."""
    entries = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path} must be a list of entries with canonical and variants")
    concepts = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("canonical"), str) or not entry["canonical"]:
            raise ValueError(f"{path}: entry {number} ({entry!r}) needs a canonical name")
        lists = {key: entry.get(key) or [] for key in ("variants", "broad")}
        if any(not isinstance(v, list) or not all(isinstance(n, str) and n for n in v) for v in lists.values()):
            raise ValueError(f"{path}: entry {entry['canonical']!r} needs lists of names for variants and broad")
        indicator = entry.get("indicator", True)
        if not isinstance(indicator, bool):
            raise ValueError(f"{path}: entry {entry['canonical']!r} has indicator {indicator!r}, not true or false")
        concepts.append(Concept(entry["canonical"], tuple(lists["variants"]), tuple(lists["broad"]), indicator))
    return SynonymTable(tuple(concepts))


def expand_query(text: str, table: SynonymTable | None = None) -> str:
    """`text` followed by the other names of the indicators it names, for the retrievers (GDP → 地区生产总值)."""
    extra = (table or load_synonyms()).expansions(text)
    return f"{text} {' '.join(extra)}" if extra else text
