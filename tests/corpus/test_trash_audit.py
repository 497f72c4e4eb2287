"""Nothing a user does loses a document: replace asks first, duplicates are refused, the trash restores, the audit log records."""
import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest

from retrieval.corpus.audit import AuditLog
from retrieval.corpus.overrides import load_overrides, remove_override, save_override
from retrieval.corpus.trash import Trash, TrashError
from tests.app_server import ROOT
from tests.fake_indexing import ImmediateQueue
from tests.fakes import FakeEngine
from ui.operations import EngineService
from ui.requests import UserFacingError

WUSONG = "吴淞街道2021年工作要点.txt"
WANLI = "万里街道2021年工作计划.txt"
PLAN = "星河街道2022年工作计划\n一、环境\n全年新建口袋公园17座，新增公共绿地2.6公顷。\n二、民生\n完成老旧小区综合改造5个。\n"


@pytest.fixture
def corpus(tmp_path):
    target = tmp_path / "corpus"
    target.mkdir()
    for name in (WUSONG, WANLI):
        shutil.copy(ROOT / "corpus" / name, target / name)
    return target


@pytest.fixture
def service(corpus):
    engine = FakeEngine(corpus)
    engine.indexing = ImmediateQueue(engine)
    return EngineService(engine, corpus)


def write(tmp_path, name, text):
    path = tmp_path / "incoming" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_page_opened_earlier_sees_the_version_move_when_another_user_uploads(service, tmp_path):
    seen_by_old_page = service.corpus_version()
    service.upload(write(tmp_path, "星河街道2022年工作计划.txt", PLAN), "星河街道2022年工作计划.txt")
    assert service.corpus_version() != seen_by_old_page
    assert "星河街道2022年工作计划.txt" in [doc_id for _, doc_id in service.document_choices()]
    assert "星河街道2022年工作计划.txt" in [doc_id for _, doc_id in service.org_choices()]


def test_a_file_named_like_a_document_asks_first_then_replaces_it_and_keeps_the_old_one(service, corpus, tmp_path):
    service.upload(write(tmp_path, "星河街道2022年工作计划.txt", PLAN), "星河街道2022年工作计划.txt")
    corrected = write(tmp_path, "星河街道2022年工作计划.txt", PLAN.replace("17座", "19座"))
    asked = service.upload(corrected, "星河街道2022年工作计划.txt")
    assert asked.needs_confirmation and asked.doc_id == "星河街道2022年工作计划.txt" and asked.job is None
    assert "17座" in (corpus / "星河街道2022年工作计划.txt").read_text(encoding="utf-8")      # nothing changed yet

    done = service.upload(corrected, "星河街道2022年工作计划.txt", confirm_replace=True)
    assert done.replaced == "星河街道2022年工作计划.txt" and done.job.kind == "replace"
    assert not (corpus / "星河街道2022年工作计划-2.txt").exists()
    turn = service.ask("星河今年新建多少座口袋公园", None, None, None)
    assert turn.answer.fact == "19座"
    [old] = service.trash_entries()
    assert old.reason == "replace" and "17座" in service.trash.file_of(old).read_text(encoding="utf-8")
    replace_line = service.audit_entries()[0]
    assert replace_line.action == "replace" and replace_line.detail["replaced_sha256"] == old.sha256


def test_the_same_content_under_another_name_is_refused_naming_the_existing_document(service, corpus, tmp_path):
    copy = write(tmp_path, "副本.txt", (corpus / WANLI).read_text(encoding="utf-8"))
    before = sorted(p.name for p in corpus.iterdir())
    with pytest.raises(UserFacingError, match=f"{WANLI}.*内容完全相同"):
        service.upload(copy, "副本.txt")
    assert sorted(p.name for p in corpus.iterdir()) == before
    assert service.audit_entries() == []


def revised(corpus, name: str = WANLI) -> str:
    """The document with one paragraph of many changed: a new version of it."""
    lines = (corpus / name).read_text(encoding="utf-8").splitlines()
    return "\n".join(lines[:-1] + [lines[-1] + "（修订）"]) + "\n"


def test_a_near_duplicate_of_an_organisations_document_asks_whether_it_is_a_new_version(service, corpus, tmp_path):
    before = sorted(p.name for p in corpus.iterdir())
    asked = service.upload(write(tmp_path, "万里修订稿.txt", revised(corpus)), "万里修订稿.txt")
    assert asked.needs_confirmation and asked.job is None
    assert asked.doc_id == WANLI and 0.9 <= asked.version_share < 1.0
    assert sorted(p.name for p in corpus.iterdir()) == before and service.audit_entries() == []
    unrelated = service.upload(write(tmp_path, "星河街道2022年工作计划.txt", PLAN), "星河街道2022年工作计划.txt")
    assert not unrelated.needs_confirmation and unrelated.warnings == ()


def test_a_new_version_replaces_the_old_one_which_goes_to_the_trash(service, corpus, tmp_path):
    outcome = service.upload(write(tmp_path, "万里修订稿.txt", revised(corpus)), "万里修订稿.txt", confirm_replace=True)
    assert outcome.job is not None and outcome.replaced == WANLI and outcome.doc_id == "万里修订稿.txt"
    assert not (corpus / WANLI).exists() and (corpus / "万里修订稿.txt").is_file()
    assert WANLI not in service.engine.documents and "万里修订稿.txt" in service.engine.documents
    assert [entry.doc_id for entry in service.trash_entries()] == [WANLI]
    assert [e.action for e in service.audit_entries()] == ["replace"]


def test_a_new_version_can_be_kept_beside_the_old_one(service, corpus, tmp_path):
    outcome = service.upload(write(tmp_path, "万里修订稿.txt", revised(corpus)), "万里修订稿.txt", keep_both=True)
    assert outcome.job is not None and outcome.replaced == ""
    assert (corpus / WANLI).is_file() and (corpus / "万里修订稿.txt").is_file()
    assert len(outcome.warnings) == 1 and WANLI in outcome.warnings[0] and "较新的版本" in outcome.warnings[0]


def test_a_near_duplicate_of_another_organisations_document_is_accepted_with_a_warning(service, corpus, tmp_path):
    lines = (corpus / WANLI).read_text(encoding="utf-8").splitlines()
    text = "\n".join(["星河街道2021年工作计划"] + lines[1:]) + "\n"      # another body's title over the same text
    outcome = service.upload(write(tmp_path, "星河街道2021年工作计划.txt", text), "星河街道2021年工作计划.txt")
    assert outcome.job is not None and not outcome.needs_confirmation
    assert len(outcome.warnings) == 1 and WANLI in outcome.warnings[0] and "%" in outcome.warnings[0]


def test_a_deleted_document_waits_in_the_trash_and_comes_back_with_its_aliases(service, corpus):
    save_override(corpus, WANLI, aliases=["普陀万里"])        # as the engine's update_metadata writes it
    meta, entry, job = service.delete(WANLI)
    assert job.kind == "delete" and WANLI not in service.engine.documents
    remove_override(corpus, WANLI)                            # as the engine's delete job does
    assert not (corpus / WANLI).exists() and service.trash.file_of(entry).is_file()
    assert entry.override["aliases"] == ["普陀万里"]

    restored, job = service.restore(entry.entry_id)
    assert restored.doc_id == WANLI and (corpus / WANLI).is_file() and job.kind == "add"
    assert WANLI in service.engine.documents and service.trash_entries() == []
    assert load_overrides(corpus)[WANLI]["aliases"] == ["普陀万里"]
    assert [e.action for e in service.audit_entries()] == ["restore", "delete"]


def test_restoring_an_old_version_puts_the_current_one_in_the_trash(service, corpus, tmp_path):
    service.upload(write(tmp_path, "星河街道2022年工作计划.txt", PLAN), "星河街道2022年工作计划.txt")
    corrected = write(tmp_path, "星河街道2022年工作计划.txt", PLAN.replace("17座", "19座"))
    service.upload(corrected, "星河街道2022年工作计划.txt", confirm_replace=True)
    [old] = service.trash_entries()
    service.restore(old.entry_id)
    assert "17座" in (corpus / "星河街道2022年工作计划.txt").read_text(encoding="utf-8")
    [newer] = service.trash_entries()
    assert "19座" in service.trash.file_of(newer).read_text(encoding="utf-8")


def test_cancelling_a_queued_upload_undoes_it_into_the_trash(service, corpus, tmp_path):
    service.engine.indexing.hold = True
    outcome = service.upload(write(tmp_path, "星河街道2022年工作计划.txt", PLAN), "星河街道2022年工作计划.txt")
    assert outcome.job.state == "queued" and (corpus / outcome.doc_id).exists()
    assert service.cancel(outcome.job.job_id) is True
    assert not (corpus / outcome.doc_id).exists()
    assert [e.doc_id for e in service.trash_entries()] == [outcome.doc_id]
    assert service.engine.indexing.job(outcome.job.job_id).state == "cancelled"
    assert service.cancel(outcome.job.job_id) is False                  # finished jobs cannot be cancelled


def test_every_change_is_one_json_line_with_time_user_file_and_hash(service, corpus, tmp_path):
    service.users = {"alice": "editor"}
    service.upload(write(tmp_path, "星河街道2022年工作计划.txt", PLAN), "星河街道2022年工作计划.txt", user="alice")
    lines = (corpus / ".audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["action"] == "upload" and entry["user"] == "alice" and entry["file"] == "星河街道2022年工作计划.txt"
    assert entry["sha256"] == service.engine.documents["星河街道2022年工作计划.txt"].meta.sha256
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None
    assert service.audit_rows()[0][1] == "上传"


def test_a_damaged_audit_line_is_skipped_not_fatal(tmp_path):
    log = AuditLog(tmp_path / ".audit.jsonl")
    log.record("upload", "a.txt", "ab")
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    log.record("delete", "a.txt", "ab")
    assert [e.action for e in log.entries()] == ["delete", "upload"]


def test_trash_entries_expire_after_the_retention_period(tmp_path):
    (tmp_path / "a.txt").write_text("甲", encoding="utf-8")
    trash = Trash(tmp_path, retention_days=30)
    entry = trash.put("a.txt", "delete")
    assert trash.purge_expired(datetime.now(timezone.utc) + timedelta(days=29)) == []
    assert trash.purge_expired(datetime.now(timezone.utc) + timedelta(days=31)) == [entry]
    assert trash.entries() == []
    with pytest.raises(TrashError):
        trash.take_back(entry.entry_id)


def test_the_trash_never_overwrites_a_corpus_file_and_rejects_odd_ids(tmp_path):
    (tmp_path / "a.txt").write_text("旧", encoding="utf-8")
    trash = Trash(tmp_path)
    entry = trash.put("a.txt", "delete")
    (tmp_path / "a.txt").write_text("新", encoding="utf-8")
    with pytest.raises(TrashError):
        trash.take_back(entry.entry_id)
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "新"
    for odd in ("../a.txt", "", ".", entry.entry_id + "/.."):
        with pytest.raises(TrashError):
            trash.get(odd)


def test_cancelling_a_queued_delete_or_replace_puts_the_files_back_as_the_index_has_them(service, corpus, tmp_path):
    service.engine.indexing.hold = True
    _, _, delete_job = service.delete(WANLI)
    assert not (corpus / WANLI).exists()
    assert service.cancel(delete_job.job_id) and (corpus / WANLI).is_file() and service.trash_entries() == []

    original = (corpus / WANLI).read_text(encoding="utf-8")
    corrected = write(tmp_path, WANLI, original + "补充：新增口袋公园3座。\n")
    replace_job = service.upload(corrected, WANLI, confirm_replace=True).job
    assert service.cancel(replace_job.job_id)
    assert (corpus / WANLI).read_text(encoding="utf-8") == original            # the indexed version is back
    [kept] = service.trash_entries()
    assert "新增口袋公园3座" in service.trash.file_of(kept).read_text(encoding="utf-8")   # the upload is not lost
