"""Versions of one document: near-duplicates (most paragraphs shared) of one organisation's plan, newest first."""
from __future__ import annotations

import re
from collections import Counter
from itertools import combinations
from typing import Callable, Iterable, Mapping

from retrieval.types import Document

# Two texts are versions of one document when this share of the paragraphs of each is in the other: a figure
# changed here and there, a paragraph added or dropped, keeps them above it; another plan of the same
# organisation (other year, other kind) shares its headings and boilerplate lines but few whole paragraphs.
NEAR_DUPLICATE_SHARE = 0.9
MIN_PARAGRAPH_CHARS = 6              # shorter lines (headings such as "一、总体要求") say nothing about sameness
MAX_OWNERS_COUNTED = 50              # a paragraph in more documents than this is boilerplate, not a version's text
_SPACE = re.compile(r"\s+")


def paragraphs(text: str) -> frozenset[str]:
    """The text's paragraphs, whitespace removed, short lines (headings) left out: what versions share."""
    lines = (_SPACE.sub("", line) for line in text.splitlines())
    return frozenset(line for line in lines if len(line) >= MIN_PARAGRAPH_CHARS)


def shared_share(one: frozenset[str], other: frozenset[str]) -> float:
    """The share of the paragraphs of the longer text that the other has too (0 when either has none)."""
    if not one or not other:
        return 0.0
    return len(one & other) / max(len(one), len(other))


def near_duplicates(text: str, documents: Mapping[str, Document], exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
    """(doc id, share) of the documents `text` is another version of, the closest first."""
    mine, skip = paragraphs(text), set(exclude)
    found = [(doc_id, shared_share(mine, paragraphs(document.text)))
             for doc_id, document in documents.items() if doc_id not in skip]
    return sorted(((doc_id, share) for doc_id, share in found if share >= NEAR_DUPLICATE_SHARE),
                  key=lambda item: (-item[1], item[0]))


def version_order(documents: Mapping[str, Document], added_at: Callable[[str], float]) -> Callable[[str], tuple]:
    """Sort key of a document among its versions: by publication date, then by when its file was stored
    (`added_at`, seconds), then by name; a document with no known date counts as older than a dated one."""
    def key(doc_id: str) -> tuple:
        return (documents[doc_id].meta.published or "", added_at(doc_id), doc_id)
    return key


class VersionIndex:
    """Which documents of one snapshot are versions of one another (same organisation, NEAR_DUPLICATE_SHARE of
    paragraphs shared), worked out per organisation when a question first reaches one of its documents."""

    def __init__(self, documents: Mapping[str, Document], added_at: Callable[[str], float]):
        self._documents = documents
        self._order = version_order(documents, added_at)
        self._by_org: dict[str, list[str]] = {}
        for doc_id, document in documents.items():
            self._by_org.setdefault(document.meta.org, []).append(doc_id)
        self._versions: dict[str, tuple[str, ...]] = {}

    def versions(self, doc_id: str) -> tuple[str, ...]:
        """Every version of the document, itself included, oldest first (just itself when it has no other)."""
        if doc_id not in self._versions:
            self._group(self._documents[doc_id].meta.org)
        return self._versions.get(doc_id, (doc_id,))

    def newer(self, doc_id: str) -> tuple[str, ...]:
        found = self.versions(doc_id)
        return found[found.index(doc_id) + 1:]

    def older(self, doc_id: str) -> tuple[str, ...]:
        found = self.versions(doc_id)
        return found[:found.index(doc_id)]

    def _group(self, org: str) -> None:
        members = sorted(self._by_org.get(org, ()))
        texts = {doc_id: paragraphs(self._documents[doc_id].text) for doc_id in members}
        # Paragraph -> the documents that have it; pairs are counted only where paragraphs are shared, and a
        # paragraph most of a big organisation's documents share (boilerplate) is left out of the count.
        owners: dict[str, list[str]] = {}
        for doc_id in members:
            for paragraph in texts[doc_id]:
                owners.setdefault(paragraph, []).append(doc_id)
        shared: Counter[tuple[str, str]] = Counter()
        for docs in owners.values():
            if 1 < len(docs) <= MAX_OWNERS_COUNTED:
                shared.update(combinations(docs, 2))
        linked: dict[str, set[str]] = {doc_id: {doc_id} for doc_id in members}
        for (one, other), count in shared.items():
            if count / max(len(texts[one]), len(texts[other])) >= NEAR_DUPLICATE_SHARE:
                group = linked[one] | linked[other]
                for member in group:
                    linked[member] = group
        for doc_id in members:
            self._versions[doc_id] = tuple(sorted(linked[doc_id], key=self._order))
