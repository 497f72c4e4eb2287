"""Chinese tokenizer for BM25: jieba search mode with a domain dictionary learned from the corpus, plus stopwords."""
from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Callable, Iterable

from retrieval.normalize import arabic_numerals, fold_width, to_simplified

RESOURCES = Path(__file__).parent / "resources"
USER_DICTIONARY_FILE = "userdict.dic"           # optional, in corpus/: extra terms a team adds by hand, one a line
_QUOTED_TERM = re.compile(r"[“\"「《]([^“”\"「」《》\n]{2,10})[”\"」》]")
_TOKEN_OK = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")

Tokenizer = Callable[[str], list[str]]


def _read_terms(path: Path) -> list[str]:
    if not path.exists():
        return []
    terms = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            terms.append(line.split()[0])
    return terms


def load_stopwords() -> frozenset[str]:
    return frozenset(_read_terms(RESOURCES / "stopwords.txt"))


def learn_terms(texts: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """Domain terms for the dictionary: the curated list, quoted names in the corpus (“一网统管”,
    《吴淞营商服务手册》 → its name), and `extra` (organisation names and aliases, corpus/userdict.dic)."""
    terms: dict[str, None] = {}
    for term in _read_terms(RESOURCES / "domain_terms.txt"):
        terms[term] = None
    for text in texts:
        for match in _QUOTED_TERM.finditer(text):
            term = match.group(1).strip()
            if _TOKEN_OK.search(term) and not re.search(r"[，。、；：,;:\s]", term):
                terms[term] = None
    for term in extra:
        if term and len(term) >= 2:
            terms[term] = None
    return sorted(terms)


def dictionary_hash(terms: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(terms)).encode("utf-8")).hexdigest()[:16]


class JiebaTokenizer:
    """jieba search-mode tokens without stopwords and punctuation, lower-cased, of the normalised text
    (simplified characters, ASCII digits, Arabic numerals: see retrieval.normalize).

    It uses its own `jieba.Tokenizer` instance, so its dictionary never leaks into other users of jieba.
    """

    _lock = threading.Lock()
    _base_dictionary: tuple[dict, int] | None = None     # jieba's own dictionary, loaded once per process

    def __init__(self, terms: Iterable[str] = (), stopwords: frozenset[str] | None = None):
        import jieba

        self.terms = sorted(set(terms))
        self.stopwords = load_stopwords() if stopwords is None else stopwords
        frequencies, total = self._base()
        # A copy of the base dictionary (17 ms) instead of loading it again (about 1 s) at every re-index.
        self._jieba = jieba.Tokenizer()
        self._jieba.FREQ, self._jieba.total, self._jieba.initialized = dict(frequencies), total, True
        for term in self.terms:
            # A high frequency makes jieba keep the term whole; search mode still adds its sub-words.
            self._jieba.add_word(term, freq=max(2000, 500 * len(term)))

    @classmethod
    def _base(cls) -> tuple[dict, int]:
        with cls._lock:
            if cls._base_dictionary is None:
                import jieba

                jieba.setLogLevel(60)
                base = jieba.Tokenizer()
                base.initialize()
                cls._base_dictionary = (base.FREQ, base.total)
            return cls._base_dictionary

    @property
    def dictionary_hash(self) -> str:
        return dictionary_hash(self.terms)

    def __call__(self, text: str) -> list[str]:
        tokens = []
        # Questions and passages meet in one form: 吳淞 = 吴淞, ３ = 3, 三万平方米 = 3万平方米.
        text = arabic_numerals(fold_width(to_simplified(text)))
        for token in self._jieba.cut_for_search(text):
            token = token.strip().lower()
            if token and token not in self.stopwords and _TOKEN_OK.search(token):
                tokens.append(token)
        return tokens
