"""Versions of one document (retrieval.ingest.versions): near-duplicates of one organisation's plan, and answers that
cite the newer version and say an older one exists."""
from __future__ import annotations

import os
import time

from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from retrieval.types import Document, DocumentMeta
from retrieval.ingest.versions import VersionIndex, near_duplicates, paragraphs
from tests.seeds import SEED_000, SEED_001, read_seed
from tests.store_fakes import copy_seeds

# An invented plan of ten paragraphs, and edits of it.
PLAN = "\n".join([
    "一、目标",
    "坚持以人民为中心，围绕年度目标扎实推进各项工作。",
    "新建社区食堂4家，为老助餐服务覆盖全部居民区。",
    "完成老旧小区综合改造12万平方米，加装电梯30台。",
    "新增公共停车泊位800个，缓解居民停车难问题。",
    "改造背街小巷15条，提升街面环境品质。",
    "开展消防安全隐患排查整治，全年排查场所2000家。",
    "推进垃圾分类达标小区创建，达标率保持在95%以上。",
    "举办社区文化活动120场，丰富居民精神生活。",
    "组织就业招聘会6场，帮助500名居民实现就业。",
    "深化网格化管理，处置各类问题工单1.2万件。",
])
ONE_FIGURE_CHANGED = PLAN.replace("30台", "45台")
ANOTHER_PLAN = PLAN.replace("新建社区食堂4家", "建成养老服务中心2家").replace("800个", "600个").replace(
    "15条", "9条").replace("2000家", "1500家").replace("120场", "80场").replace("6场", "4场").replace("1.2万件", "9000件")


def document(doc_id: str, text: str, org: str = "星河", published: str = "") -> Document:
    meta = DocumentMeta(doc_id, doc_id, org, (), (2024,), "计划", "0" * 64, published=published)
    return Document(meta, text)


def test_a_copy_with_a_figure_changed_is_a_version_and_another_plan_is_not():
    documents = {"plan.txt": document("plan.txt", PLAN), "other.txt": document("other.txt", ANOTHER_PLAN)}
    assert len(paragraphs(PLAN)) == 10, "the heading is too short to count"
    (found,) = near_duplicates(ONE_FIGURE_CHANGED, documents)
    assert found[0] == "plan.txt" and 0.9 <= found[1] < 1.0
    assert near_duplicates("新建社区食堂4家，为老助餐服务覆盖全部居民区。", documents) == [], "an excerpt is no version"
    assert near_duplicates(ONE_FIGURE_CHANGED, documents, exclude=["plan.txt"]) == []


def test_versions_are_ordered_by_publication_date_then_by_when_they_were_stored():
    documents = {"a.txt": document("a.txt", PLAN, published="2024-03-01"),
                 "b.txt": document("b.txt", ONE_FIGURE_CHANGED, published=""),
                 "c.txt": document("c.txt", ONE_FIGURE_CHANGED.replace("12万", "13万"), published="2024-03-01"),
                 "d.txt": document("d.txt", PLAN, org="月湖"),                      # another organisation's copy
                 "e.txt": document("e.txt", ANOTHER_PLAN)}
    stored = {"a.txt": 300.0, "b.txt": 900.0, "c.txt": 100.0, "d.txt": 1.0, "e.txt": 1.0}
    versions = VersionIndex(documents, stored.__getitem__)
    assert versions.versions("a.txt") == ("b.txt", "c.txt", "a.txt")   # undated first; same date: stored later wins
    assert versions.newer("c.txt") == ("a.txt",) and versions.older("c.txt") == ("b.txt",)
    assert versions.versions("d.txt") == ("d.txt",) and versions.versions("e.txt") == ("e.txt",)


def test_when_two_versions_are_kept_answers_cite_the_newer_and_name_the_older(tmp_path):
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    copy = corpus / "吴淞街道工作要点（修订）.txt"
    copy.write_text(read_seed(SEED_001).replace("完成3万平方米年度拆违任务", "完成4万平方米年度拆违任务"), encoding="utf-8")
    now = time.time()
    os.utime(corpus / SEED_001, (now - 3600, now - 3600))                  # the copy was stored later
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    result = engine.ask("吴淞今年拆违任务多少平方米", k=10)
    assert result.answer is not None and result.answer.fact == "4万平方米"
    assert engine.chunks[result.answer.chunk_id].doc_id == copy.name
    assert result.older_versions == (SEED_001,)
    engine.close()

    os.utime(copy, (now - 7200, now - 7200))                                # now the original is the newer one
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    result = engine.ask("吴淞今年拆违任务多少平方米", k=10)
    assert result.answer.fact == "3万平方米" and engine.chunks[result.answer.chunk_id].doc_id == SEED_001
    assert result.older_versions == (copy.name,)
    other = engine.ask("永兴街道今年有什么计划", k=5)
    assert other.older_versions == (), "a document without versions names none"
    engine.close()
