"""The BM25 tokenizer cuts with jieba-rs and gives jieba's own tokens; full-width folding is NFKC's."""
from __future__ import annotations

import unicodedata

import pytest

from retrieval.ingest.chunking import ChunkingConfig, chunk_document
from retrieval.corpus.files import load_corpus
from retrieval.ingest.passages import indexed_text
from retrieval.text.normalize import _KEEP_FULL_WIDTH, arabic_numerals, fold_width, to_simplified
from retrieval.text.tokenizer import _TOKEN_OK, JiebaTokenizer, default_cut, learn_terms, recurring_phrases
from tests.seeds import CORPUS

# Where jieba-rs alone differs from jieba: ASCII runs with - _ . (joined), ASCII sub-words in search mode
# (PM2 before PM2.5), and dictionary words made of ASCII and symbols, which both keep whole.
TRICKY = [
    "行动计划（2021-2023）》，1-4月完成社会消费品零售总额",
    "预计PM2.5年度平均浓度达到35微克，v1.2版本，1.2.3版，编号2024-00007号，1_2号楼",
    "3.5-4.5万元，5%-10%，COVID-19，C++与C#，AT&T，5G-A基站，12345热线",
    "完成3万平方米年度拆违任务，二〇二一年新增绿地十五公顷，百分之八十",
]


def python_jieba_tokens(tokenizer: JiebaTokenizer, text: str) -> list[str]:
    """The tokens jieba itself gives: its search mode over its dictionary plus the same terms."""
    import jieba

    frequencies, total = JiebaTokenizer._base()
    reference = jieba.Tokenizer()
    reference.FREQ, reference.total, reference.initialized = dict(frequencies), total, True
    for term in tokenizer.terms:
        reference.add_word(term, freq=max(2000, 500 * len(term)))
    text = arabic_numerals(fold_width(to_simplified(text)))
    tokens = []
    for token in reference.cut_for_search(text):
        token = token.strip().lower()
        if token and token not in tokenizer.stopwords and _TOKEN_OK.search(token):
            tokens.append(token)
    return tokens


@pytest.fixture(scope="module")
def seed_documents():
    return list(load_corpus(CORPUS).documents.values())


def test_every_seed_passage_gets_jiebas_own_tokens(seed_documents):
    terms = learn_terms(d.text for d in seed_documents)
    tokenizer = JiebaTokenizer(terms)
    texts = [indexed_text(d, c) for d in seed_documents for c in chunk_document(d.doc_id, d.text, ChunkingConfig())]
    assert len(texts) > 100 and len(tokenizer.terms) > 50
    assert [tokenizer(t) for t in texts] == [python_jieba_tokens(tokenizer, t) for t in texts]


@pytest.mark.parametrize("text", TRICKY)
def test_ascii_runs_and_sub_words_are_cut_as_jieba_cuts_them(text):
    tokenizer = JiebaTokenizer(["5G-A", "12345热线"])
    tokens = tokenizer(text)
    assert tokens == python_jieba_tokens(tokenizer, text)


def test_a_year_range_gives_both_years_and_a_term_with_a_hyphen_stays_whole():
    tokens = JiebaTokenizer(["5G-A"])("2021-2023年行动计划，5G-A基站")
    assert "2021" in tokens and "2023" in tokens and "2021-2023" not in tokens
    assert "5g-a" in tokens


def test_the_base_cut_without_hmm_is_jiebas(seed_documents):
    import jieba

    frequencies, total = JiebaTokenizer._base()
    reference = jieba.Tokenizer()
    reference.FREQ, reference.total, reference.initialized = frequencies, total, True
    texts = [d.text for d in seed_documents] + TRICKY
    assert [default_cut(t, hmm=False) for t in texts] == [reference.lcut(t, HMM=False) for t in texts]
    phrases = recurring_phrases(texts)
    assert phrases and phrases == recurring_phrases(texts, base_cut=lambda t: reference.lcut(t, HMM=False))


def test_fold_width_is_nfkc_on_every_character_but_the_kept_punctuation():
    every = "".join(chr(c) for c in range(0x20, 0x30000) if not 0xD800 <= c < 0xE000)
    expected = "".join(ch if ch in _KEEP_FULL_WIDTH or ch.isascii() else unicodedata.normalize("NFKC", ch)
                       for ch in every)
    assert fold_width(every) == expected
    assert fold_width("ＡＢ１２３，吳淞（一）") == "AB123，吳淞（一）"


def test_an_index_cut_by_the_earlier_tokenizer_is_rebuilt_with_its_vectors_reused(tmp_path):
    import json
    import shutil

    from retrieval.encode.encoders import HashingEncoder
    from retrieval.engine import SearchEngine
    from retrieval.errors import IndexMismatch
    from retrieval.text.tokenizer import TOKENIZER_NAME
    from tests.seeds import SEED_001
    from tests.store_fakes import CountingEncoder

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copyfile(CORPUS / SEED_001, corpus / SEED_001)
    SearchEngine.open(corpus, index, encoder=HashingEncoder(256))
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    manifest["tokenizer"]["name"] = "jieba.cut_for_search"           # what the index format 7 first wrote
    (index / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(IndexMismatch, match="tokenizer jieba.cut_for_search !="):
        SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")

    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    assert encoder.documents == [], "the vectors do not depend on the tokenizer: none is encoded again"
    assert engine.manifest["tokenizer"]["name"] == TOKENIZER_NAME
    assert "3万平方米" in engine.ask("吴淞今年拆违任务多少平方米").answer.fact


def reference_phrases(texts: list[str]) -> list[str]:
    """recurring_phrases's definition spelled out directly: neighbour sets, one str.count scan per gram."""
    from collections import Counter, defaultdict

    from retrieval.text import tokenizer as module

    counts, left, right = Counter(), defaultdict(set), defaultdict(set)
    for text in texts:
        for run in module._CJK_RUN.finditer(text):
            chunk = run.group()
            words = default_cut(chunk, hmm=False)
            starts = [0]
            for word in words:
                starts.append(starts[-1] + len(word))
            for first in range(len(words)):
                for last in range(first + 2, min(len(words), first + 6) + 1):
                    begin, end = starts[first], starts[last]
                    if end - begin > 6:
                        break
                    if end - begin < 3 or words[first] in module._FUNCTION_WORDS \
                            or words[last - 1] in module._FUNCTION_WORDS:
                        continue
                    gram = chunk[begin:end]
                    counts[gram] += 1
                    left[gram].add(chunk[begin - 1] if begin else "^")
                    right[gram].add(chunk[end] if end < len(chunk) else "$")
    frequent = {g: c for g, c in counts.items() if c >= 3 and len(left[g]) >= 2 and len(right[g]) >= 2
                and sum(t.count(g) for t in texts) == c}
    inside = {part for g, c in frequent.items() for part in (g[:-1], g[1:]) if frequent.get(part) == c}
    return sorted((g for g in frequent if g not in inside), key=lambda g: (-frequent[g], g))[:5000]


def test_recurring_phrases_of_the_seeds_follow_their_definition(seed_documents):
    texts = [d.text for d in seed_documents]
    phrases = recurring_phrases(texts)
    assert len(phrases) > 20
    assert phrases == reference_phrases(texts)


def test_occurrences_are_counted_as_str_count_counts_them():
    from retrieval.text.tokenizer import _occurrences

    texts = ["哈哈哈哈哈，老旧小区改造，老旧小区改造", "改造老旧小区", "哈哈"]
    grams = ["哈哈", "哈哈哈", "老旧小区", "小区改造", "没有的"]
    assert _occurrences(grams, texts) == {g: sum(t.count(g) for t in texts) for g in grams}


def test_a_large_corpus_is_learned_from_an_even_sample_that_still_finds_its_phrases(monkeypatch):
    from retrieval.text import tokenizer as module

    texts = [f"第{i}篇：{'开展' if i % 5 else '推进'}老旧小区改造{'工作' if i % 3 else '项目'}，完成{i}项任务。"
             for i in range(400)]
    monkeypatch.setattr(module, "LEARN_SAMPLE_CHARS", sum(map(len, texts)) // 4)
    sample = module.learned_sample(texts)
    assert sum(map(len, sample)) <= module.LEARN_SAMPLE_CHARS and sample == texts[::4]
    assert module.learned_sample(list(texts)) == sample, "the same corpus gives the same sample"
    assert "老旧小区改造" in recurring_phrases(texts)
