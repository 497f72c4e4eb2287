"""Section-aware chunking: parse the 公文 heading tree, then cut sections into passages at sentence ends."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from retrieval.ingest.headings import CLOSERS, ITEM, SECTION, SENTENCE_END, Heading, find_headings
from retrieval.types import Chunk


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


def parse_sections(text: str, headings: list[Heading] | None = None) -> list[Section]:
    """Split a cleaned document into sections; text before the first heading has the empty path.

    List items that are body text do not open sections, so a run of them stays in one section (and
    one chunk when it is short); they only end an item section of their level that was open before them.
    """
    headings = find_headings(text) if headings is None else headings
    boundaries = [h for h in headings if h.role in (SECTION, ITEM)]
    sections: list[Section] = []
    stack: list[tuple[float, str]] = []
    position = 0
    for boundary in boundaries:
        if boundary.start > position:
            sections.append(Section(tuple(title for _, title in stack), position, boundary.start))
        position = boundary.start
        while stack and stack[-1][0] >= boundary.level:
            stack.pop()
        if boundary.role == SECTION:
            stack.append((boundary.level, text[boundary.start:boundary.title_end]))
    if position < len(text) or not sections:
        sections.append(Section(tuple(title for _, title in stack), position, len(text)))
    # An item that is body text ends nothing when no item section is open: join the pieces it leaves.
    joined: list[Section] = []
    for section in sections:
        if joined and joined[-1].path == section.path:
            joined[-1] = Section(section.path, joined[-1].start, section.end)
        else:
            joined.append(section)
    return joined


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


def _spans_inside(spans: list[tuple[int, int]], start: int, end: int) -> tuple[tuple[int, int], ...]:
    """The parts of `spans` that fall in [start, end), as offsets from `start`."""
    inside = []
    for span_start, span_end in spans:
        low, high = max(span_start, start), min(span_end, end)
        if low < high:
            inside.append((low - start, high - start))
    return tuple(inside)


def chunk_document(doc_id: str, text: str, config: ChunkingConfig = ChunkingConfig()) -> list[Chunk]:
    """Cut a cleaned document into chunks that cover all of its text, each inside one section.

    Each chunk lists in `heading_spans` the titles it holds (headings that name a topic only); numbered
    list items and all other text are body text that may answer a question.
    """
    headings = find_headings(text)
    title_spans = [h.title_span for h in headings if h.title_only and h.title_end > h.start]
    sections = parse_sections(text, headings)
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
                                (span_start, span_end), passage,
                                _spans_inside(title_spans, span_start, span_end)))
    return chunks
