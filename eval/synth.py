"""Synthetic plan documents of a chosen size for scale benchmarks, recombined from the seed corpus.

Usage: python -m eval.synth --passages N --out DIR [--seed S] [--seeds corpus] [--verify]

Invented organisations (X街道 / X镇 / X乡 / X开发区, names from a fixed syllable list, some with a district
prefix), years 2016–2025 and kinds (工作计划 / 工作要点 / 工作总结 / 政府工作报告) give each file its title; the
body is 公文 headings (一、 （一） 1. 一是) over sentences taken from the seed documents, with the seed's
organisation names swapped for the invented one and every number varied. Sections are sized from the
chunker's settings (a leaf of about `target` characters, never over `single_max`), the first thousand
planned passages are counted with the real ingestion and chunker to correct the plan, and `--verify`
counts every file the same way to report actual against asked.

The same arguments over the same seed documents give byte-identical files. The output is scratch data:
write it outside the repository (or delete it), never commit it.
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

from retrieval.ingest.chunking import ChunkingConfig, chunk_document
from retrieval.corpus.files import corpus_files, load_document
from retrieval.ingest.headings import CLOSERS, SENTENCE_END, match_marker
from retrieval.ingest.metadata import load_overrides

ROOT = Path(__file__).resolve().parents[1]
SEED_CORPUS = ROOT / "corpus"

# Name syllables avoid the characters the title parser reads as structure (区县市镇乡, 街道, 开发, 高新,
# 某, 年度), so every invented name comes back as the organisation of its file.
NAME_SYLLABLES = "青禾丰安泰和兴华康宁瑞祥福嘉明德春晓长乐平永盛金桥云溪松林梅湖滨江枫桃李芳凤鸣龙翔鹤鹿荷塘柳岸石泉"
DISTRICT_SYLLABLES = "东西南北中浦江山河湾城港"
SUFFIXES = (("街道", 5), ("镇", 3), ("乡", 1), ("开发区", 1))
KINDS_BY_SUFFIX = {
    "街道": ("工作计划", "工作要点", "工作总结"),
    "镇": ("工作计划", "工作要点", "工作总结", "政府工作报告"),
    "乡": ("工作计划", "工作总结", "政府工作报告"),
    "开发区": ("工作计划", "工作要点", "工作总结"),
}
YEARS = tuple(range(2016, 2026))
DOC_PASSAGES = (20, 80)           # passages per document, as the seed plans have
CALIBRATION_PASSAGES = 1000       # planned passages also counted with the real chunker (about 2 s of work)
SENTENCE_CHARS = (10, 120)        # sentences kept from the seeds
HEADING_CHARS = (4, 28)

# Placeholders for the seed organisation's names inside pooled sentences (private-use characters).
ORG_FULL, ORG_SHORT, DISTRICT_FULL, DISTRICT_SHORT = "\ue000", "\ue001", "\ue002", "\ue003"
# A year (moved with the plan's year) or any other number (varied).
_YEAR_OR_NUMBER = re.compile(r"(?<![\d.])(?:(?P<year>(?:19|20)\d{2})(?=\s*年)|\d+(?:\.\d+)?)(?![\d.])")
_SENTENCE = re.compile(rf"[^{SENTENCE_END}]+[{SENTENCE_END}]?[{CLOSERS}]*")
_LEADING_MARKER = re.compile(r"^(?:[一二三四五六七八九十]{1,3}、|[（(][一二三四五六七八九十\d]{1,3}[）)]|\d{1,2}[.、．]|"
                             r"[一二三四五六七八九十]{1,2}是(?=[\u4e00-\u9fff“]))")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class PooledSentence:
    """A seed sentence with its organisation names as placeholders, and the year of its plan."""

    text: str
    seed_year: int


@dataclass(frozen=True)
class Organisation:
    name: str          # 禾丰
    suffix: str        # 街道
    district: str      # 东浦区 (every organisation has one; titles name it only sometimes)
    district_in_title: bool

    @property
    def full_name(self) -> str:
        return self.name + self.suffix


@dataclass(frozen=True)
class Summary:
    """What a run wrote: `passages_estimated` (counted, then planned × the counted ratio) and, after
    --verify, `passages_actual` (the real chunker over every file)."""

    out: str
    seed: int
    documents: int
    passages_asked: int
    passages_estimated: int
    characters: int
    passages_actual: int | None = None


# ------------------------------------------------------------------------------------------------ seed pools
def _names_of(meta) -> list[tuple[str, str]]:
    """(seed name, placeholder) pairs, longest first, so 万里街道 becomes the invented full name before 万里
    becomes the short one, and 吴淞街道党工委 keeps its 党工委.

    The organisation is the metadata's; an alias with text before the organisation's name gives the
    district (普陀区万里街道 → 普陀区, 普陀), and an alias without the name is taken as the district's short
    name (宝山 for 吴淞). An anonymised plan (某街道, unknown) has no names to swap.
    """
    org = meta.org
    if not org or org.startswith(("某", "（")) or len(org) < 2:
        return []
    pairs = {org: ORG_SHORT}
    for alias in meta.aliases:
        position = alias.find(org)
        if position < 0:
            pairs.setdefault(alias, DISTRICT_SHORT)
            continue
        after = alias[position + len(org):]
        if after in ("街道", "镇", "乡", "开发区"):
            pairs[org + after] = ORG_FULL
        prefix = alias[:position]
        if prefix.endswith(("区", "县", "市")) and len(prefix) >= 3:
            pairs[prefix], pairs[prefix[:-1]] = DISTRICT_FULL, DISTRICT_SHORT
        elif len(prefix) >= 2:
            pairs.setdefault(prefix, DISTRICT_SHORT)
    return sorted(((name, placeholder) for name, placeholder in pairs.items() if len(name) >= 2),
                  key=lambda pair: (-len(pair[0]), pair[0]))


def _usable_sentence(text: str) -> bool:
    low, high = SENTENCE_CHARS
    return low <= len(text) <= high and len(_CJK.findall(text)) >= 0.6 * len(text) and "http" not in text


def seed_pools(seeds_dir: Path = SEED_CORPUS) -> tuple[list[PooledSentence], list[str]]:
    """Sentences and heading phrases of the seed documents, read and cleaned as the index reads them.

    Raises ValueError when the directory gives too few of either to build documents from.
    """
    sentences: list[PooledSentence] = []
    headings: list[str] = []
    overrides = load_overrides(Path(seeds_dir))
    for path in corpus_files(Path(seeds_dir)):
        document = load_document(path, overrides.get(path.name))    # with the seeds' own name corrections
        names = _names_of(document.meta)
        seed_year = max(document.meta.years, default=2021)
        for line in document.text.split("\n")[1:]:          # line 0 is the title
            line = line.strip()
            marker = match_marker(line, 0)
            if marker:
                rest = line[marker.end:]
                cut = next((i for i, ch in enumerate(rest) if ch in SENTENCE_END), len(rest))
                heading = rest[:cut].strip()
                if HEADING_CHARS[0] <= len(heading) <= HEADING_CHARS[1] and not re.search(r"\d", heading):
                    headings.append(_with_placeholders(heading, names))
                line = rest[cut + 1:] if cut < len(rest) else ""
            for match in _SENTENCE.finditer(line):
                sentence = _LEADING_MARKER.sub("", match.group().strip()).strip()
                if sentence and sentence.rstrip(CLOSERS)[-1:] not in SENTENCE_END:
                    sentence += "。"
                if _usable_sentence(sentence):
                    sentences.append(PooledSentence(_with_placeholders(sentence, names), seed_year))
    if len(sentences) < 50 or len(headings) < 10:
        raise ValueError(f"{seeds_dir} gave {len(sentences)} sentences and {len(headings)} headings; at least 50 "
                         f"and 10 are needed: point --seeds at a directory of plan documents")
    return sentences, headings


def _with_placeholders(text: str, names: list[tuple[str, str]]) -> str:
    for name, placeholder in names:
        text = text.replace(name, placeholder)
    return text


# ------------------------------------------------------------------------------------------------ organisations
def organisations(rng: random.Random) -> Iterator[Organisation]:
    """Every two-syllable name once, in a seeded order, each with a suffix and a district; then, for corpora
    larger than those can hold (about 900k passages), three-syllable names, drawn only when reached, so a
    smaller corpus is the same as before they existed."""
    districts = [a + b + "区" for a in DISTRICT_SYLLABLES for b in DISTRICT_SYLLABLES if a != b]
    rng.shuffle(districts)
    districts = districts[:24]
    names = [a + b for a in NAME_SYLLABLES for b in NAME_SYLLABLES if a != b]
    rng.shuffle(names)
    suffixes = [suffix for suffix, weight in SUFFIXES for _ in range(weight)]
    first = [Organisation(name, rng.choice(suffixes), rng.choice(districts), rng.random() < 0.5) for name in names]

    def longer() -> Iterator[Organisation]:
        names = [a + b + c for a in NAME_SYLLABLES for b in NAME_SYLLABLES for c in NAME_SYLLABLES
                 if len({a, b, c}) == 3]
        rng.shuffle(names)
        for name in names:
            yield Organisation(name, rng.choice(suffixes), rng.choice(districts), rng.random() < 0.5)

    return itertools.chain(first, longer())


def chinese_numeral(number: int) -> str:
    """1 → 一, 10 → 十, 14 → 十四, 23 → 二十三 (1–99)."""
    digits = "零一二三四五六七八九"
    if not 1 <= number <= 99:
        raise ValueError(f"heading ordinals run from 1 to 99, got {number}")
    tens, ones = divmod(number, 10)
    if tens == 0:
        return digits[ones]
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


# ------------------------------------------------------------------------------------------------ one document
class DocumentWriter:
    """Builds the text of one document, counting the passages the chunker will cut it into."""

    def __init__(self, rng: random.Random, pools: tuple[list[PooledSentence], list[str]], org: Organisation,
                 year: int, kind: str, config: ChunkingConfig):
        self.rng, (self.sentences, self.headings) = rng, pools
        self.org, self.year, self.kind, self.config = org, year, kind, config
        self.lines: list[str] = []
        self.passages = 0

    @property
    def title(self) -> str:
        district = self.org.district if self.org.district_in_title else ""
        return f"{district}{self.org.full_name}{self.year}年{self.kind}"

    def fill(self, text: str, seed_year: int) -> str:
        """Invented names in place of the placeholders, years moved to this plan's year, numbers varied."""
        text = (text.replace(DISTRICT_FULL, self.org.district).replace(DISTRICT_SHORT, self.org.district[:-1])
                .replace(ORG_FULL, self.org.full_name).replace(ORG_SHORT, self.org.name))
        return _YEAR_OR_NUMBER.sub(lambda match: self._vary(match, seed_year), text)

    def _vary(self, match: re.Match, seed_year: int) -> str:
        original = match.group()
        if match.group("year"):
            return str(self.year + int(original) - seed_year)
        value = float(original) * self.rng.uniform(0.6, 1.6)
        if match.string.startswith("%", match.end()) and float(original) <= 100:
            value = min(value, 99.0)
        if "." in original:
            decimals = len(original.split(".")[1])
            return f"{value:.{decimals}f}"
        return str(max(1, round(value)))

    def heading(self) -> str:
        return self.fill(self.rng.choice(self.headings), self.year)

    def body(self, max_chars: int) -> str:
        """Sentences of about the chunker's target length on average, never over max_chars."""
        low = min(max_chars, self.config.min_chars + 40)
        wanted = min(max_chars, self.rng.randint(low, 2 * self.config.target - low))
        parts: list[str] = []
        length = misses = 0
        while length < wanted and misses < 8:
            pooled = self.rng.choice(self.sentences)
            sentence = self.fill(pooled.text, pooled.seed_year)
            if length + len(sentence) > max_chars:
                misses += 1
                continue
            parts.append(sentence)
            length += len(sentence)
        if not parts:                              # nothing fitted: the shortest sentence there is
            shortest = min(self.sentences, key=lambda pooled: len(pooled.text))
            parts.append(self.fill(shortest.text, shortest.seed_year))
        return "".join(parts)

    def passage_room(self, heading_line: str = "") -> int:
        """Characters a body may have so heading line + body stays one passage."""
        return self.config.single_max - len(heading_line) - 2

    def write(self, passages: int) -> str:
        """The whole document, planned to make `passages` passages (the intro counts as one)."""
        self.lines = [self.title, ""]
        self.lines.append(self.body(self.passage_room(self.title)))
        self.passages = 1
        top = 0
        while self.passages < passages:
            top += 1
            top_heading = f"{chinese_numeral(top)}、{self.heading()}"
            self.lines.append(top_heading)
            # A heading line with no body of its own joins the first passage below it.
            carried = len(top_heading) + 1
            style = self.rng.random()
            left = passages - self.passages
            if style < 0.55:
                self._subsections(min(left, self.rng.randint(2, 5)), carried)
            elif style < 0.8:
                self._run_in_items(min(left, self.rng.randint(2, 4)), carried)
            else:
                self._numbered_items(min(left, self.rng.randint(2, 5)), carried)
        return "\n".join(self.lines) + "\n"

    def _subsections(self, count: int, carried: int) -> None:
        for number in range(1, count + 1):
            heading = f"（{chinese_numeral(number)}）{self.heading()}"
            room = self.passage_room(heading) - (carried if number == 1 else 0)
            if self.rng.random() < 0.5:            # heading on its own line, body below
                self.lines += [heading, self.body(room)]
            else:                                   # heading sentence then body on one line, as 004 has it
                self.lines.append(heading + "。" + self.body(room - 1))
            self.passages += 1

    def _run_in_items(self, count: int, carried: int) -> None:
        """（一）heading, then 一是…二是… items; each item is its own passage."""
        heading = f"（一）{self.heading()}"
        self.lines.append(heading)
        items = []
        for number in range(1, count + 1):
            room = self.passage_room(heading) - carried - 1 if number == 1 else self.passage_room()
            items.append(f"{chinese_numeral(number)}是{self.body(room - 3)}")
        self.lines.append("".join(items))
        self.passages += count

    def _numbered_items(self, count: int, carried: int) -> None:
        for number in range(1, count + 1):
            heading = f"{number}.{self.heading()}。"
            room = self.passage_room(heading) - (carried if number == 1 else 0)
            self.lines.append(heading + self.body(room))
            self.passages += 1


# ------------------------------------------------------------------------------------------------ the corpus
def plan_documents(rng: random.Random, orgs: Iterable[Organisation]):
    """(organisation, year, kind) triples, a few years and kinds per organisation, never one twice."""
    for org in orgs:
        pairs = [(year, kind) for year in YEARS for kind in KINDS_BY_SUFFIX[org.suffix]]
        for year, kind in sorted(rng.sample(pairs, rng.randint(3, min(12, len(pairs))))):
            yield org, year, kind


def _passages_in(path: Path, config: ChunkingConfig) -> int:
    return len(chunk_document(path.name, load_document(path).text, config))


def generate(passages: int, out_dir: str | Path, seed: int = 0, seeds_dir: str | Path = SEED_CORPUS,
             config: ChunkingConfig = ChunkingConfig()) -> Summary:
    """Write about `passages` passages of plan documents into the empty or new directory out_dir.

    Each document is planned in passages (sections sized to the chunker's settings). The first
    CALIBRATION_PASSAGES planned are also counted with the real ingestion and chunker, and the ratio of
    counted to planned scales the plan for the rest, so the total follows the chunker the index uses.

    Raises ValueError for a non-positive size or a non-empty out_dir (earlier output is never mixed in).
    """
    if not isinstance(passages, int) or isinstance(passages, bool) or passages < 1:
        raise ValueError(f"passages must be a positive whole number, got {passages!r}")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty directory: choose a new --out or delete it first")
    pools = seed_pools(Path(seeds_dir))
    rng = random.Random(seed)
    orgs = organisations(rng)
    out.mkdir(parents=True, exist_ok=True)
    estimate = 0.0
    planned = counted = characters = documents = 0
    low, high = DOC_PASSAGES
    for org, year, kind in plan_documents(rng, orgs):
        if estimate >= passages - 0.5:
            break
        ratio = counted / planned if counted else 1.0     # real passages per planned one
        size = rng.randint(low, high)
        left = (passages - estimate) / ratio
        if left - size < low:                            # no tiny last document: this one takes the rest
            size = max(1, round(left))
        writer = DocumentWriter(random.Random(rng.getrandbits(64)), pools, org, year, kind, config)
        text = writer.write(size)
        path = out / f"{writer.title}.txt"
        path.write_text(text, encoding="utf-8", newline="\n")
        if planned < CALIBRATION_PASSAGES:
            planned += writer.passages
            counted += _passages_in(path, config)
            estimate = float(counted)
        else:
            estimate += writer.passages * ratio
        characters += len(text)
        documents += 1
    if estimate < passages - 0.5:
        raise ValueError(f"{passages} passages is more than the invented organisations can hold; ask for fewer")
    return Summary(str(out), seed, documents, passages, round(estimate), characters)


def count_passages(corpus_dir: str | Path, config: ChunkingConfig = ChunkingConfig()) -> int:
    """Passages the real ingestion and chunker cut the corpus into."""
    return sum(_passages_in(path, config) for path in corpus_files(Path(corpus_dir)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, required=True, help="passages wanted in total")
    parser.add_argument("--out", required=True, help="new or empty directory for the .txt files")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--seeds", default=str(SEED_CORPUS), help="documents to take sentences from (default corpus/)")
    parser.add_argument("--verify", action="store_true", help="chunk the output and report the actual passages")
    args = parser.parse_args(argv)
    try:
        summary = generate(args.passages, args.out, args.seed, args.seeds)
    except ValueError as error:
        parser.error(str(error))
    if args.verify:
        summary = Summary(**{**asdict(summary), "passages_actual": count_passages(args.out)})
    print(json.dumps(asdict(summary), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
