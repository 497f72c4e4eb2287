"""Deleting a document whole (retrieval.corpus.deletion): file and metadata entry to the trash, removal queued, audited."""
import pytest

from retrieval.corpus.audit import AuditLog
from retrieval.corpus.deletion import DeletionRefused, delete_document
from retrieval.corpus.overrides import save_override
from retrieval.corpus.trash import Trash


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(f"{name} 全年完成道路改造3条。", encoding="utf-8")
    return folder


def test_a_deletion_trashes_the_file_with_its_metadata_queues_the_removal_and_is_audited(corpus):
    save_override(corpus, "a.txt", aliases=["甲街道"])
    queued = []
    deletion = delete_document(corpus, "a.txt", "ed", indexed={"a.txt", "b.txt"},
                               queue_removal=lambda doc_id, user: queued.append((doc_id, user)) or "job1")
    assert not (corpus / "a.txt").exists() and (corpus / "b.txt").exists()
    assert queued == [("a.txt", "ed")] and deletion.job == "job1"
    assert [e.entry_id for e in Trash(corpus).entries()] == [deletion.entry.entry_id]
    assert deletion.entry.override["aliases"] == ["甲街道"]
    [line] = AuditLog.of_corpus(corpus).entries()
    assert (line.action, line.file, line.user, line.detail["trash"]) == ("delete", "a.txt", "ed", deletion.entry.entry_id)


@pytest.mark.parametrize("doc_id, indexed, says", [
    ("c.txt", {"a.txt", "b.txt"}, "已不在语料库里"),        # not indexed (someone deleted it meanwhile)
    ("a.txt", {"a.txt"}, "最后一份文档"),                   # the index needs at least one document
])
def test_a_refused_deletion_changes_nothing_and_says_why_in_chinese(corpus, doc_id, indexed, says):
    queued = []
    with pytest.raises(DeletionRefused) as refused:
        delete_document(corpus, doc_id, "", indexed=indexed, queue_removal=lambda d, user: queued.append(d))
    assert says in refused.value.message_zh
    assert queued == [] and (corpus / "a.txt").exists() and Trash(corpus).entries() == []
    assert AuditLog.of_corpus(corpus).entries() == []


def test_a_file_already_gone_is_refused_without_queueing(corpus):
    (corpus / "a.txt").unlink()
    with pytest.raises(DeletionRefused) as refused:
        delete_document(corpus, "a.txt", "", indexed={"a.txt", "b.txt"}, queue_removal=lambda d, user: pytest.fail())
    assert "文件已不在语料库里" in refused.value.message_zh
