"""The synthetic corpus generator: deterministic, about the asked size under the real chunker, real-looking plans."""
import random
import re

import pytest

from eval.synth import (
    DocumentWriter, Organisation, chinese_numeral, count_passages, generate, seed_pools,
)
from retrieval.ingest.chunking import ChunkingConfig
from retrieval.corpus.files import corpus_files, load_document
from tests.seeds import ALL_SEEDS, CORPUS

# The generator sizes every leaf section to one passage; the chunker may still cut a few sentences apart.
PASSAGE_TOLERANCE = 0.03
TITLE = re.compile(r"^(?:(?P<district>..区))?(?P<name>..)(?P<suffix>街道|镇|乡|开发区)(?P<year>\d{4})年"
                   r"(?P<kind>工作计划|工作要点|工作总结|政府工作报告)$")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "corpus"
    summary = generate(1500, out, seed=3)
    return out, summary


def _files(directory):
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_same_arguments_give_identical_files_and_another_seed_differs(tmp_path):
    generate(300, tmp_path / "a", seed=5)
    generate(300, tmp_path / "b", seed=5)
    generate(300, tmp_path / "c", seed=6)
    first, again, other = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert first == again
    assert first.keys() != other.keys()
    assert set(first.values()).isdisjoint(other.values())


def test_passages_under_the_real_chunker_are_about_the_asked_number(corpus):
    out, summary = corpus
    assert summary.passages_estimated == 1500
    actual = count_passages(out)
    assert abs(actual - 1500) <= PASSAGE_TOLERANCE * 1500, actual
    # about the chunker's target length a passage, headings included
    assert 0.7 * ChunkingConfig().target <= summary.characters / actual <= 1.5 * ChunkingConfig().target


def test_every_document_loads_with_its_invented_organisation_year_and_kind(corpus):
    out, summary = corpus
    files = corpus_files(out)
    assert len(files) == summary.documents > 10
    suffixes, kinds = set(), set()
    for path in files:
        title = TITLE.match(path.stem)
        assert title, path.name
        meta = load_document(path).meta
        assert meta.title == path.stem
        assert title["name"] in meta.org and meta.org in title["name"] + title["suffix"]   # 春兴 or 春兴开发区
        # a plan covers its year; a 政府工作报告 also the year it reviews
        assert meta.years[-1] == int(title["year"]) and 2016 <= meta.years[-1] <= 2025
        assert meta.kind != "文件"
        suffixes.add(title["suffix"])
        kinds.add(title["kind"])
    assert len(suffixes) >= 3 and len(kinds) >= 3


def test_documents_have_heading_levels_and_none_of_the_seed_organisation_names(corpus):
    out, _ = corpus
    seed_orgs = {load_document(CORPUS / name).meta.org for name in ALL_SEEDS} - {"（未识别）"}
    assert seed_orgs                                   # the seeds do name organisations
    texts = [path.read_text(encoding="utf-8") for path in corpus_files(out)]
    joined = "\n".join(texts)
    for org in seed_orgs:
        assert org not in joined, org
    assert not re.search("[\ue000-\ue003]", joined)        # no placeholder left unfilled
    assert re.search(r"^一、", joined, re.M) and re.search(r"^（二）", joined, re.M)
    assert re.search(r"^2\.", joined, re.M) and re.search(r"。二是", joined)


def test_fill_moves_years_with_the_plan_and_varies_numbers_but_keeps_the_words():
    org = Organisation("青禾", "街道", "东浦区", True)
    sentence = "\ue001新建12个睦邻点，改造3.5万平方米，较2020年增长8%。"
    pools = seed_pools(CORPUS)
    filled = {DocumentWriter(random.Random(seed), pools, org, 2024, "工作计划", ChunkingConfig())
              .fill(sentence, seed_year=2021) for seed in range(6)}
    for text in filled:
        assert re.sub(r"\d+(?:\.\d+)?", "N", text) == "青禾新建N个睦邻点，改造N万平方米，较N年增长N%。"
        assert "2023年" in text                       # a year before the seed plan's stays a year before this one
        assert re.search(r"改造\d+\.\d万", text)        # a decimal keeps its decimals
    assert len({re.search(r"新建(\d+)个", text)[1] for text in filled}) > 1


def test_refuses_a_directory_with_files_in_it(tmp_path):
    (tmp_path / "note.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match=str(tmp_path)):
        generate(100, tmp_path)


def test_refuses_a_size_that_is_not_a_positive_whole_number(tmp_path):
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match="positive whole number"):
            generate(bad, tmp_path / "out")


@pytest.mark.parametrize("number, numeral", [(1, "一"), (9, "九"), (10, "十"), (14, "十四"), (20, "二十"), (23, "二十三")])
def test_chinese_numerals_for_heading_ordinals(number, numeral):
    assert chinese_numeral(number) == numeral


def test_a_corpus_larger_than_the_two_syllable_names_hold_goes_on_with_three_syllable_ones(tmp_path, monkeypatch):
    import eval.synth as synth

    monkeypatch.setattr(synth, "NAME_SYLLABLES", "青禾丰安")          # 12 two-syllable names
    summary = generate(8000, tmp_path / "corpus", seed=0)
    titles = [re.match(r"(?:..区)?([青禾丰安]+)(?:街道|镇|乡|开发区)\d{4}年", path.stem)
              for path in corpus_files(tmp_path / "corpus")]
    assert all(titles)
    short = {t.group(1) for t in titles if len(t.group(1)) == 2}
    longer = {t.group(1) for t in titles if len(t.group(1)) == 3}
    assert len(short) == 12 and longer, "every two-syllable name first, then three-syllable ones"
    assert abs(summary.passages_estimated - 8000) <= 8000 * PASSAGE_TOLERANCE
