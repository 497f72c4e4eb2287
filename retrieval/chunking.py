"""Section-aware chunking: parse the 公文 heading tree, then cut sections into passages at sentence ends."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from retrieval.headings import (
    CLOSERS, RUN_IN_LEVEL, RUN_IN_PATTERN, SENTENCE_END, OrdinalSequence, match_marker, ordinal_of,
    starts_sentence,
)
from retrieval.types import Chunk

HEADING_MAX_CHARS = 50       # a heading line longer than this carries its body after the first sentence end
RUN_IN_HEADING_MAX = 40


@dataclass(frozen=True)
class ChunkingConfig:
    """Sizes in characters. A section up to `single_max` stays whole; longer ones are cut near `target`."""

    target: int = 200
    single_max: int = 300
    max_chars: int = 500
    min_chars: int = 60

    def __post_init__(self) -> None:
        if not 0 < self.min_chars <= self.target <= self.single_max <= self.max_chars:
            raise ValueError(
                "ChunkingConfig needs 0 < min_chars <= target <= single_max <= max_chars, "
                f"got {self.min_chars}, {self.target}, {self.single_max}, {self.max_chars}")


@dataclass(frozen=True)
class Section:
    """A heading's span of text (heading line included) and its path from the outermost heading."""

    path: tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True)
class _Boundary:
    start: int
    level: int
    heading: str


def heading_text(text: str, start: int, line_end: int) -> str:
    """The heading that begins at `start`: the whole line when short, else up to its first sentence end."""
    line = text[start:line_end]
    if len(line) <= HEADING_MAX_CHARS:
        return line
    for i, ch in enumerate(line[:HEADING_MAX_CHARS]):
        if ch in SENTENCE_END:
            return line[:i + 1]
    cut = next((i for i, ch in enumerate(line[:HEADING_MAX_CHARS]) if ch in "，," and i > 4), 30)
    return line[:cut]


def _numbered_boundaries(text: str) -> list[_Boundary]:
    boundaries = []
    line_start = 0
    for line in text.split("\n"):
        marker = match_marker(text, line_start)
        if marker:
            boundaries.append(_Boundary(line_start, marker.level,
                                        heading_text(text, line_start, line_start + len(line))))
        line_start += len(line) + 1
    return boundaries


def _run_in_boundaries(text: str, start: int, end: int) -> list[_Boundary]:
    """一是…。二是…。 items inside one numbered section, numbered 1, 2, 3… at sentence starts."""
    found = []
    sequence = OrdinalSequence()
    for match in RUN_IN_PATTERN.finditer(text, start, end):
        ordinal = ordinal_of(match.group(1))
        if not ordinal or not starts_sentence(text, match.start()):
            continue
        previous = sequence.last.get(RUN_IN_LEVEL, 0)
        if ordinal != previous + 1:
            continue
        sequence.last[RUN_IN_LEVEL] = ordinal
        sentence_end = next((i for i in range(match.start(), min(end, match.start() + RUN_IN_HEADING_MAX))
                             if text[i] in SENTENCE_END), None)
        if sentence_end is None:
            comma = text.find("，", match.start(), min(end, match.start() + RUN_IN_HEADING_MAX))
            sentence_end = comma - 1 if comma > 0 else min(end, match.start() + RUN_IN_HEADING_MAX) - 1
        found.append(_Boundary(match.start(), RUN_IN_LEVEL, text[match.start():sentence_end + 1]))
    return found


def parse_sections(text: str) -> list[Section]:
    """Split a cleaned document into sections; text before the first heading has the empty path."""
    numbered = _numbered_boundaries(text)
    spans = [0] + [b.start for b in numbered] + [len(text)]
    boundaries: list[_Boundary] = []
    for index, boundary in enumerate(numbered):
        boundaries.append(boundary)
        boundaries.extend(_run_in_boundaries(text, boundary.start, spans[index + 2]))
    if numbered:
        boundaries.extend(_run_in_boundaries(text, 0, numbered[0].start))
    boundaries.sort(key=lambda b: b.start)

    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    first = boundaries[0].start if boundaries else len(text)
    if first > 0:
        sections.append(Section((), 0, first))
    for index, boundary in enumerate(boundaries):
        while stack and stack[-1][0] >= boundary.level:
            stack.pop()
        stack.append((boundary.level, boundary.heading))
        end = boundaries[index + 1].start if index + 1 < len(boundaries) else len(text)
        sections.append(Section(tuple(heading for _, heading in stack), boundary.start, end))
    return sections


_SENTENCE = re.compile(rf"[^{SENTENCE_END}\n]*(?:[{SENTENCE_END}]+[{CLOSERS}]*|\n|$)")
_CLAUSE = re.compile(r"[^，,、：:]*(?:[，,、：:]|$)")


def _pieces(text: str, start: int, end: int, pattern: re.Pattern) -> list[tuple[int, int]]:
    out = []
    for match in pattern.finditer(text, start, end):
        if match.end() > match.start():
            out.append((match.start(), match.end()))
    return out


def _sentence_spans(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Sentences of text[start:end]; one longer than max_chars is cut at clause ends, never in a number."""
    spans = []
    for s_start, s_end in _pieces(text, start, end, _SENTENCE):
        if s_end - s_start <= max_chars:
            spans.append((s_start, s_end))
            continue
        clauses = _pieces(text, s_start, s_end, _CLAUSE)
        for c_start, c_end in _pack(clauses, max_chars, max_chars, 1):
            while c_end - c_start > max_chars:     # a clause without any comma: cut between non-digits
                cut = c_start + max_chars
                while cut > c_start + 1 and (text[cut - 1].isdigit() or text[cut].isdigit()):
                    cut -= 1
                spans.append((c_start, cut))
                c_start = cut
            spans.append((c_start, c_end))
    return spans


def _pack(spans: list[tuple[int, int]], target: int, max_chars: int, min_chars: int) -> list[tuple[int, int]]:
    """Greedily join consecutive spans up to `target`; a small last piece joins its neighbour."""
    packed: list[list[int]] = []
    for s_start, s_end in spans:
        if packed and (s_end - packed[-1][0] <= target or packed[-1][1] - packed[-1][0] < min_chars) \
                and s_end - packed[-1][0] <= max_chars:
            packed[-1][1] = s_end
        else:
            packed.append([s_start, s_end])
    if len(packed) >= 2 and packed[-1][1] - packed[-1][0] < min_chars \
            and packed[-1][1] - packed[-2][0] <= max_chars:
        last = packed.pop()
        packed[-1][1] = last[1]
    return [(a, b) for a, b in packed]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def chunk_id_for(doc_id: str, text: str, occurrence: int = 0) -> str:
    """Stable id from the document and the passage text (and which repeat of that text it is)."""
    key = f"{doc_id}\x1f{text}\x1f{occurrence}" if occurrence else f"{doc_id}\x1f{text}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def chunk_document(doc_id: str, text: str, config: ChunkingConfig = ChunkingConfig()) -> list[Chunk]:
    """Cut a cleaned document into chunks that cover all of its text, each inside one section."""
    sections = parse_sections(text)
    # A heading with no body of its own (a 一、 line right before its first （一）) joins the next section.
    merged: list[Section] = []
    carry_start: int | None = None
    for index, section in enumerate(sections):
        start = section.start if carry_start is None else carry_start
        body = text[section.start:section.end].strip()
        following = sections[index + 1] if index + 1 < len(sections) else None
        if following and len(body) < config.min_chars \
                and following.path[:len(section.path)] == section.path and following.path != section.path:
            carry_start = start
            continue
        carry_start = None
        merged.append(Section(section.path, start, section.end))

    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for section in merged:
        start, end = _trim(text, section.start, section.end)
        if start >= end:
            continue
        if end - start <= config.single_max:
            spans = [(start, end)]
        else:
            spans = _pack(_sentence_spans(text, start, end, config.max_chars),
                          config.target, config.max_chars, config.min_chars)
        for span_start, span_end in spans:
            span_start, span_end = _trim(text, span_start, span_end)
            if span_start >= span_end:
                continue
            passage = text[span_start:span_end]
            occurrence = seen.get(passage, 0)
            seen[passage] = occurrence + 1
            chunks.append(Chunk(chunk_id_for(doc_id, passage, occurrence), doc_id, section.path,
                                (span_start, span_end), passage))
    return chunks
