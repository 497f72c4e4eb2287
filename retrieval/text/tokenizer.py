"""Chinese tokenizer for BM25: jieba search mode with a domain dictionary learned from the corpus, plus stopwords.

The cutting is jieba-rs (PyPI's rjieba), the Rust port of jieba with jieba's own dictionary and HMM: 6–17× the
speed of jieba's pure Python on the same passages, which made tokenising most of a large build. Its search
mode gives jieba's words on Chinese text; where it differs, in runs of ASCII letters, digits and . _ -, its
tokens are cut again as jieba cuts them (2021-2023 → 2021 - 2023). Part-of-speech tagging (retrieval.search.query,
retrieval.search.orgs, retrieval.answer.facts) stays with jieba.posseg, which jieba-rs does not match."""
from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Callable, Iterable

from retrieval.text.normalize import arabic_numerals, fold_width, to_simplified

RESOURCES = Path(__file__).parents[1] / "resources"
USER_DICTIONARY_FILE = "userdict.dic"           # optional, in corpus/: extra terms a team adds by hand, one a line
_QUOTED_TERM = re.compile(r"[“\"「《]([^“”\"「」《》\n]{2,10})[”\"」》]")
_TOKEN_OK = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
# In the manifest: an index cut by another tokenizer, or by an earlier version of this one, is rebuilt.
TOKENIZER_NAME = "jieba-rs.cut_for_search with jieba's ASCII cuts, v1"
# jieba's own rule for runs of letters and digits (jieba.finalseg's re_skip): 12.5, 3.2%, v1.2 stay whole,
# anything else between them is a token of its own. jieba-rs's HMM keeps 2021-2023, 1_2 and 1.2.3 whole.
_JIEBA_ALNUM = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")
_JOINED_ALNUM = re.compile(r"[A-Za-z0-9][A-Za-z0-9.%_\-]*[._\-][A-Za-z0-9.%_\-]*\Z")

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


# Recurring phrases learned from the corpus: CJK runs of these lengths that recur in several places, with
# varied neighbours on both sides: two different characters at least (a phrase, not a fragment of one
# longer phrase).
NGRAM_LENGTHS = range(3, 7)
NGRAM_MIN_COUNT = 3
NGRAM_MAX_TERMS = 5000
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{3,}")
# Words a phrase never starts or ends with: 的目标, 等工作, 疫情防控和 are not terms.
_FUNCTION_WORDS = frozenset("的了和与及等以向上下可为在对把被之其并而或也都又就将是有从由于各")


def recurring_phrases(texts: Iterable[str], base_cut: Callable[[str], Iterable[str]] | None = None) -> list[str]:
    """Phrases a corpus repeats (项目化运作, 老旧小区改造): CJK n-grams of 3–6 characters that occur at least
    NGRAM_MIN_COUNT times with at least two different characters on each side, that start
    and end on word boundaries of jieba's own dictionary wherever they occur (so 作报告 out of 工作报告 is no
    term), that jieba splits into several words, and that are not only ever part of one longer phrase.
    Most frequent first.

    A corpus of more than LEARN_SAMPLE_CHARS characters is learned from a sample of its texts spread evenly
    over it (learned_sample): a phrase the corpus repeats, its sample repeats, and time and memory stay
    bounded (every distinct n-gram is counted).
    """
    if base_cut is None:
        base_cut = _base_cut
    texts = learned_sample(list(texts))
    # gram → [count, first left neighbour, first right neighbour, varied left?, varied right?]
    stats: dict[str, list] = {}
    for text in texts:
        for run in _CJK_RUN.finditer(text):
            chunk = run.group()
            words = list(base_cut(chunk))
            starts = [0]
            for word in words:
                starts.append(starts[-1] + len(word))
            # Only word-aligned n-grams: they start and end where jieba's own words do.
            for first in range(len(words)):
                if words[first] in _FUNCTION_WORDS:
                    continue
                for last in range(first + 2, min(len(words), first + 6) + 1):
                    begin, end = starts[first], starts[last]
                    if end - begin > NGRAM_LENGTHS.stop - 1:
                        break
                    if end - begin < NGRAM_LENGTHS.start or words[last - 1] in _FUNCTION_WORDS:
                        continue
                    gram = chunk[begin:end]
                    before = chunk[begin - 1] if begin > 0 else "^"
                    after = chunk[end] if end < len(chunk) else "$"
                    seen = stats.get(gram)
                    if seen is None:
                        stats[gram] = [1, before, after, False, False]
                    else:
                        seen[0] += 1
                        seen[3] = seen[3] or before != seen[1]
                        seen[4] = seen[4] or after != seen[2]
    candidates = {g: v[0] for g, v in stats.items() if v[0] >= NGRAM_MIN_COUNT and v[3] and v[4]}
    del stats
    # Aligned everywhere it occurs: 作报告 inside 工作报告 would not be.
    occurrences = _occurrences(candidates, texts)
    frequent = {g: c for g, c in candidates.items() if occurrences[g] == c}
    # A phrase that always occurs inside one longer frequent phrase is that phrase's part, not a term.
    inside_longer: set[str] = set()
    for gram, count in frequent.items():
        for part in (gram[:-1], gram[1:]):
            if frequent.get(part) == count:
                inside_longer.add(part)
    kept = sorted((g for g in frequent if g not in inside_longer), key=lambda g: (-frequent[g], g))
    return kept[:NGRAM_MAX_TERMS]


LEARN_SAMPLE_CHARS = 12_000_000       # about 60,000 passages; a larger corpus is learned from a sample


def learned_sample(texts: list[str]) -> list[str]:
    """The texts phrases are learned from: all of them up to LEARN_SAMPLE_CHARS characters, otherwise every
    n-th text, n = ⌈characters / LEARN_SAMPLE_CHARS⌉ (about LEARN_SAMPLE_CHARS characters, from every part
    of the corpus), the same for the same corpus."""
    total = sum(len(text) for text in texts)
    if total <= LEARN_SAMPLE_CHARS:
        return texts
    step = -(-total // LEARN_SAMPLE_CHARS)
    return texts[::step]


def _occurrences(grams: Iterable[str], texts: Iterable[str]) -> dict[str, int]:
    """How often each gram occurs in the texts, counted as str.count counts (without overlaps), in one
    Aho-Corasick pass over the texts instead of one scan per gram."""
    import ahocorasick

    counts = {gram: 0 for gram in grams}
    if not counts:
        return counts
    automaton = ahocorasick.Automaton()
    for gram in counts:
        automaton.add_word(gram, gram)
    automaton.make_automaton()
    for text in texts:
        free_from: dict[str, int] = {}            # where the gram's next counted occurrence may start
        for end, gram in automaton.iter(text):
            start = end - len(gram) + 1
            if start >= free_from.get(gram, 0):
                counts[gram] += 1
                free_from[gram] = end + 1
    return counts


def _base_cut(text: str) -> list[str]:
    """jieba's own segmentation (its base dictionary, no domain terms)."""
    return default_cut(text, hmm=False)


def default_cut(text: str, hmm: bool = True) -> list[str]:
    """jieba's cut with jieba's own dictionary only (a jieba-rs instance of this module's own, which no
    other user of jieba adds words to); without the HMM it is jieba's cut exactly."""
    global _BASE_JIEBA
    if _BASE_JIEBA is None:
        with JiebaTokenizer._lock:
            if _BASE_JIEBA is None:
                import rjieba

                _BASE_JIEBA = rjieba.Jieba()
    words = _BASE_JIEBA.cut(text, hmm)
    return _as_jieba_cuts(words) if hmm else words


def _ascii_sub_word(word: str, following: str) -> bool:
    return following != word and word in following and following.isascii()


def _as_jieba_cuts(words: list[str], terms: frozenset[str] = frozenset(),
                   is_word: Callable[[str], bool] | None = None) -> list[str]:
    """jieba-rs's words as jieba gives them: its joined ASCII runs (2021-2023, 1.2.3) cut as jieba cuts
    them, a dictionary term (`terms`) kept whole; with `is_word` (search mode), without the sub-word it adds
    before an ASCII word that is no dictionary word (PM2 before PM2.5: jieba adds dictionary words only)."""
    cut = []
    for i, word in enumerate(words):
        if not (word[:1].isascii() and word[:1].isalnum()):           # Chinese words, punctuation, spaces
            cut.append(word)
        elif _JOINED_ALNUM.match(word) and not _JIEBA_ALNUM.fullmatch(word) and word not in terms:
            cut += [part for part in _JIEBA_ALNUM.split(word) if part]
        elif is_word is not None and i + 1 < len(words) and _ascii_sub_word(word, words[i + 1]) \
                and not is_word(word):
            continue
        else:
            cut.append(word)
    return cut


_BASE_JIEBA = None


def learn_terms(texts: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """Domain terms for the dictionary: the curated list of the domain's standard terms, quoted names in the
    corpus (“一网统管”, 《营商服务手册》 → its name), phrases the corpus repeats (recurring_phrases), and
    `extra` (organisation names and aliases, corpus/userdict.dic)."""
    texts = list(texts)
    terms: dict[str, None] = {}
    for term in _read_terms(RESOURCES / "domain_terms.txt"):
        terms[term] = None
    for text in texts:
        for match in _QUOTED_TERM.finditer(text):
            term = match.group(1).strip()
            if _TOKEN_OK.search(term) and not re.search(r"[，。、；：,;:\s]", term):
                terms[term] = None
    for term in recurring_phrases(texts):
        terms.setdefault(term, None)
    for term in extra:
        if term and len(term) >= 2:
            terms[term] = None
    return sorted(terms)


def dictionary_hash(terms: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(terms)).encode("utf-8")).hexdigest()[:16]


class JiebaTokenizer:
    """jieba search-mode tokens without stopwords and punctuation, lower-cased, of the normalised text
    (simplified characters, ASCII digits, Arabic numerals: see retrieval.text.normalize).

    It uses its own jieba-rs instance, so its dictionary never leaks into other users of jieba. That instance
    is made on the first text to cut (about 0.13 s), not when an index opens, which only checks the
    dictionary's hash.
    """

    _lock = threading.Lock()
    _base_dictionary: tuple[dict, int] | None = None     # jieba's own dictionary, loaded once per process

    def __init__(self, terms: Iterable[str] = (), stopwords: frozenset[str] | None = None):
        self.terms = sorted(set(terms))
        self._term_set = frozenset(self.terms)
        self.stopwords = load_stopwords() if stopwords is None else stopwords
        self._instance = None
        self._instance_lock = threading.Lock()

    def load(self) -> "JiebaTokenizer":
        """Make the jieba instance now (before forking workers, which then start with it)."""
        self._jieba
        return self

    @property
    def _jieba(self):
        if self._instance is None:
            with self._instance_lock:
                if self._instance is None:
                    self._instance = self._with_terms()
        return self._instance

    def _with_terms(self):
        import rjieba

        instance = rjieba.Jieba()
        for term in self.terms:
            # A high frequency makes jieba keep the term whole; search mode still adds its sub-words.
            instance.add_word(term, max(2000, 500 * len(term)), None)
        return instance

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
        for token in _as_jieba_cuts(self._jieba.cut_for_search(text, True), self._term_set, self._jieba.has_word):
            token = token.strip().lower()
            if token and token not in self.stopwords and _TOKEN_OK.search(token):
                tokens.append(token)
        return tokens


_PART_OF_SPEECH = None


def part_of_speech_cut(text: str):
    """jieba.posseg's (word, flag) pairs with jieba's own dictionary only, whatever else in this process adds
    words to the global jieba (milvus-lite's in-process jieba analyser adds an index's whole dictionary there)."""
    global _PART_OF_SPEECH
    if _PART_OF_SPEECH is None:
        import jieba
        import jieba.posseg as posseg

        frequencies, total = JiebaTokenizer._base()
        with JiebaTokenizer._lock:
            if _PART_OF_SPEECH is None:
                base = jieba.Tokenizer()
                base.FREQ, base.total, base.initialized = frequencies, total, True
                _PART_OF_SPEECH = posseg.POSTokenizer(base)
    return _PART_OF_SPEECH.cut(text)
