"""The app's operations (ui.operations and its parts, ui.evaluation) against a small fake engine: fast and exact."""
import json
import shutil
import time

import pytest

from tests.fake_indexing import ImmediateQueue
from tests.fakes import FakeEngine
from tests.app_server import ROOT
from ui import evaluation
from ui.operations import EngineService
from ui.requests import UserFacingError, parse_aliases, parse_years

WUSONG = "吴淞街道2021年工作要点.txt"
WANLI = "万里街道2021年工作计划.txt"


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


def test_a_followup_is_asked_with_the_previous_topic_and_cites_the_new_organisation(service):
    first = service.ask("吴淞今年拆违任务多少平方米", None, None, None)
    assert first.answer is not None and first.answer.fact == "3万平方米"
    assert first.citations[0].meta.doc_id == WUSONG and first.citations[0].answer is first.answer
    second = service.ask("那万里呢？", first.asked, None, None)
    assert second.asked == "万里今年拆违任务多少平方米"
    assert second.citations and all(c.meta.doc_id == WANLI for c in second.citations)
    assert "按上一问理解为：万里今年拆违任务多少平方米" in second.html(1, explain=False)


def test_filters_reach_the_engine_and_are_shown_with_the_turn(service):
    turn = service.ask("拆违任务多少平方米", None, WUSONG, 2021)
    assert service.engine.asked[-1] == ("拆违任务多少平方米", 5, WUSONG, 2021)
    assert turn.filters == "吴淞 · 2021年"


def test_an_empty_question_gets_a_chinese_hint(service):
    with pytest.raises(UserFacingError, match="请先输入问题"):
        service.ask("  ", None, None, None)


def test_an_upload_is_indexed_and_answerable(service, corpus):
    source = corpus.parent / "星河街道2022年工作计划.txt"
    source.write_text("星河街道2022年工作计划\n一、环境\n全年新建口袋公园17座。\n", encoding="utf-8")
    outcome = service.upload(source, "../../星河街道2022年工作计划.txt")
    assert (corpus / outcome.doc_id).is_file() and outcome.doc_id == "星河街道2022年工作计划.txt"
    assert outcome.job.kind == "add" and outcome.job.state == "done"
    turn = service.ask("星河今年新建多少座口袋公园", None, None, None)
    assert turn.answer.fact == "17座" and turn.citations[0].meta.doc_id == outcome.doc_id


def test_a_rejected_upload_leaves_corpus_and_index_untouched(service, corpus):
    before_files, before_docs = sorted(p.name for p in corpus.iterdir()), dict(service.engine.documents)
    source = corpus.parent / "image.txt"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(UserFacingError, match="不支持这种文件"):
        service.upload(source, "image.txt")
    assert sorted(p.name for p in corpus.iterdir()) == before_files
    assert service.engine.documents == before_docs


def test_a_file_with_no_text_after_cleaning_is_refused_before_it_is_stored(service, corpus):
    before = sorted(p.name for p in corpus.iterdir())
    source = corpus.parent / "空白.txt"
    source.write_text(" \n\u3000\n\t\n", encoding="utf-8")
    with pytest.raises(UserFacingError):
        service.upload(source, "空白.txt")
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_metadata_edits_and_deletion_reach_the_engine(service, corpus):
    meta = service.update_metadata(WANLI, "普陀万里，万里社区、 万里社区", "2021, 2022年")
    # Given aliases are added after the derived ones (万里街道 comes from the title), repeats dropped.
    assert meta.aliases[-2:] == ("普陀万里", "万里社区") and meta.aliases.count("万里社区") == 1
    assert meta.years == (2021, 2022)
    assert service.resolve_organisation("万里社区") == WANLI
    service.delete(WANLI)
    assert WANLI not in service.engine.documents and not (corpus / WANLI).exists()
    with pytest.raises(UserFacingError, match="最后一份文档"):
        service.delete(WUSONG)
    assert [e.action for e in service.audit_entries()] == ["delete", "metadata"]


@pytest.mark.parametrize("text", ["", "21", "二〇二一", "2021, abc", "3000"])
def test_bad_years_get_a_chinese_message_with_an_example(text):
    with pytest.raises(UserFacingError, match="2021"):
        parse_years(text)


def test_aliases_split_on_chinese_and_latin_separators():
    assert parse_aliases("宝山、吴淞街道，吴淞镇; 吴淞 宝山") == ["宝山", "吴淞街道", "吴淞镇", "吴淞"]


def test_search_record_resolves_organisation_names_and_rejects_bad_input(service):
    assert service.resolve_organisation("吴淞街道") == WUSONG
    with pytest.raises(UserFacingError, match="k 必须是 1 到 100 之间的整数"):
        service.search_record("吴淞拆违", k=0)
    with pytest.raises(UserFacingError, match="找不到单位「火星」"):
        service.search_record("吴淞拆违", organisation="火星")


def test_a_deleted_document_cannot_be_opened_from_an_old_citation(service):
    turn = service.ask("万里今年有哪些重点工作", None, None, None)
    service.delete(WANLI)
    html = service.citation_html(turn.citations[0].chunk.chunk_id, None)
    assert "已被删除" in html


# ---- evaluation -------------------------------------------------------------------------

def _run(run_id, hybrid_texts, answer=None):
    results = [{"rank": i + 1, "text": t, "title": "T", "section": "S", "doc": "d"} for i, t in enumerate(hybrid_texts)]
    return {"id": run_id, "answer": {"text": answer} if answer else None,
            "results": {"bm25": results[::-1], "dense": results, "hybrid": results}}


GOLD = [
    {"id": "q1", "question": "吴淞今年拆违任务多少平方米", "type": "number", "evidence": ["3万平方米"], "answer": "3万平方米"},
    {"id": "q2", "question": "万里暑托班", "type": "semantic", "evidence": ["爱心暑托班"], "answer": "爱心暑托班"},
    {"id": "q3", "question": "火星计划", "type": "unanswerable", "evidence": [], "answer": None},
]
RUNS = [
    _run("q1", ["无关", "完成3万平方米拆违"], answer="完成3万平方米拆违"),       # found at rank 2, answered
    _run("q2", ["无关"] * 3),                                                  # never found, says 未找到
    _run("q3", ["无关"], answer="火星上建基地"),                               # answered an unanswerable one
]


def test_recall_curve_is_computed_per_leg_for_each_k():
    curve = {(row["leg"], row["k"]): row["recall"] for row in evaluation.recall_curve(RUNS, GOLD)}
    # hybrid: q1 relevant at rank 2, q2 never; q3 has no evidence and is left out.
    assert curve[(evaluation.LEG_LABELS["hybrid"], "1")] == 0.0
    assert curve[(evaluation.LEG_LABELS["hybrid"], "2")] == 0.5
    assert curve[(evaluation.LEG_LABELS["hybrid"], "10")] == 0.5
    # bm25 lists the same passages reversed: q1's evidence comes first.
    assert curve[(evaluation.LEG_LABELS["bm25"], "1")] == 0.5
    assert len(curve) == 3 * 10


def test_missed_questions_say_why():
    reasons = {gold["id"]: why for gold, _, why in evaluation.missed(RUNS, GOLD)}
    assert set(reasons) == {"q2", "q3"}
    assert "前 10 段都不含证据" in reasons["q2"] and "误报「未找到」" in reasons["q2"]
    assert reasons["q3"] == ["本应回答「未找到」，却给出了答案"]


def test_evaluation_runs_on_the_engine_and_reports_progress(service, tmp_path):
    gold_path = tmp_path / "gold.jsonl"
    gold_path.write_text("\n".join(json.dumps(g, ensure_ascii=False) for g in GOLD[:1]) + "\n", encoding="utf-8")
    progress = []
    report = evaluation.run(service.engine, evaluation.load_gold(gold_path), lambda f, d: progress.append(f))
    assert progress[-1] == 1.0 and len(progress) == 2            # warm-up question + one gold question
    assert report.metrics["questions"] == 1 and report.metrics["answer@1"] == 1.0
    assert report.leg_table[0][:2] == ["检索方式", "题数"] and len(report.leg_table[1]) == 3


def test_a_broken_gold_file_gets_a_chinese_message_naming_the_line(tmp_path):
    gold_path = tmp_path / "gold.jsonl"
    gold_path.write_text('{"id": "x", "question": "q"}\n', encoding="utf-8")
    with pytest.raises(UserFacingError, match="标注文件格式不对.*gold.jsonl:1"):
        evaluation.load_gold(gold_path)


@pytest.mark.parametrize("question, k, year, message", [
    ("吴淞" * 251, 5, None, "问题太长（502 字），最多 500 字"),
    ("吴淞\ud800拆违", 5, None, "无法识别的字符"),
    ("吴淞\x07拆违", 5, None, "无法识别的字符"),
    (123, 5, None, "question 必须是文字"),
    ("吴淞拆违", 5, -1, "现在是 -1"),
    ("吴淞拆违", 0, None, "k 必须是 1 到 100 之间的整数，现在是 0"),
    ("吴淞拆违", "5", None, "k 必须是 1 到 100 之间的整数"),
])
def test_bad_requests_get_the_same_chinese_message_in_the_app_and_the_api(service, question, k, year, message):
    with pytest.raises(UserFacingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        service.search_record(question, k=k, year=year)
    if k == 5:                                   # the chat has no k; the same question check applies there
        with pytest.raises(UserFacingError, match=message.replace("(", r"\(").replace(")", r"\)")):
            service.ask(question, None, None, year)
    assert service.engine.asked == []


# ---- background indexing through the service, on the real engine (hashing vectors, held at a gate) ------------

@pytest.fixture
def gated_service(tmp_path):
    from retrieval.engine import SearchEngine
    from tests.seeds import SEED_000, SEED_001
    from tests.store_fakes import GatedEncoder, copy_seeds

    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    encoder = GatedEncoder()
    encoder.gate.set()
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=encoder)
    encoder.gate.clear()
    encoder.waiting.clear()
    yield EngineService(engine, corpus), encoder, corpus
    encoder.gate.set()
    engine.close()


def test_an_upload_returns_before_indexing_questions_go_on_and_a_cancel_undoes_it(gated_service, tmp_path):
    from tests.seeds import CORPUS, SEED_002

    service, encoder, corpus = gated_service
    source = tmp_path / SEED_002
    source.write_bytes((CORPUS / SEED_002).read_bytes())
    outcome = service.upload(source, SEED_002)                       # returns while the encoder is held
    assert encoder.waiting.wait(30) and (corpus / SEED_002).is_file()
    deadline = time.monotonic() + 30
    while service.engine.indexing.job(outcome.job.job_id).state != "encoding" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert service.engine.dense_pending == (SEED_002,)

    turn = service.ask("吴淞今年拆违任务多少平方米", None, None, None)   # never waits for the indexing job
    assert turn.citations and turn.citations[0].meta.doc_id == "吴淞街道2021年工作要点.txt"
    assert len(turn.pending) == 1 and "万里" in turn.pending[0]          # the reply says it searched by keywords only
    assert any(job["job_id"] == outcome.job.job_id for job in service.indexing_record()["jobs"])

    assert service.cancel(outcome.job.job_id) is True
    encoder.gate.set()
    assert service.engine.indexing.wait(outcome.job.job_id, timeout=60).state == "cancelled"
    service.engine.indexing.wait_idle(timeout=60)
    assert SEED_002 not in service.engine.documents and not (corpus / SEED_002).exists()
    assert [entry.doc_id for entry in service.trash_entries()] == [SEED_002]          # the upload is kept, not lost
    assert [e.action for e in service.audit_entries()] == ["delete", "upload"]


def test_repeated_questions_are_answered_from_the_cache_until_the_index_snapshot_changes(corpus):
    engine = FakeEngine(corpus)
    service = EngineService(engine, corpus, answer_cache=8)
    first = service.search_record("吴淞今年拆违任务多少平方米")
    assert service.search_record("吴淞今年拆违任务多少平方米") == first and len(engine.asked) == 1
    service.search_record("吴淞今年拆违任务多少平方米", k=3)                   # other parameters, another entry
    assert len(engine.asked) == 2
    engine.documents = dict(engine.documents)                                  # the engine swapped in a new snapshot
    service.search_record("吴淞今年拆违任务多少平方米")
    assert len(engine.asked) == 3


def test_the_documents_table_shows_publication_date_issuer_and_document_number(service):
    from dataclasses import replace as replaced

    from retrieval.types import Document

    document = service.engine.documents[WANLI]
    meta = replaced(document.meta, published="2021-02-26", issuer="万里街道办事处", doc_number="万府发〔2021〕3号")
    service.engine.documents[WANLI] = Document(meta, document.text)
    row = next(row for row in service.document_rows() if row[-1] == WANLI)
    assert row[6] == "2021-02-26 · 万里街道办事处 · 万府发〔2021〕3号" and row[8] == "已索引"
    meta = replaced(meta, level="街道", parents=("上海市", "普陀区"))
    service.engine.documents[WANLI] = Document(meta, document.text)
    row = next(row for row in service.document_rows() if row[-1] == WANLI)
    assert row[2] == "街道（上海市 › 普陀区）"                 # the level and its parent chain


def test_two_kept_versions_answer_from_the_newer_and_the_reply_names_the_older(tmp_path):
    """The upload flow end to end on the real engine: a copy of 吴淞's plan with one figure changed, kept beside
    the original, is cited for everyone, and the reply says an older version exists."""
    from retrieval.encode.encoders import HashingEncoder
    from retrieval.engine import SearchEngine
    from tests.seeds import SEED_000, SEED_001, read_seed
    from tests.store_fakes import copy_seeds

    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    service = EngineService(engine, corpus)
    source = tmp_path / "修订稿.txt"
    source.write_text(read_seed(SEED_001).replace("完成3万平方米年度拆违任务", "完成4万平方米年度拆违任务"), encoding="utf-8")
    asked = service.upload(source, "吴淞街道工作要点修订稿.txt")
    assert asked.needs_confirmation and asked.doc_id == SEED_001 and asked.version_share >= 0.9
    kept = service.upload(source, "吴淞街道工作要点修订稿.txt", keep_both=True)
    assert engine.indexing.wait(kept.job.job_id, timeout=60).state == "done"
    turn = service.ask("吴淞今年拆违任务多少平方米", None, None, None)
    assert turn.answer.fact == "4万平方米" and turn.citations[0].meta.doc_id == kept.doc_id
    assert turn.older_versions == (f"《{engine.documents[SEED_001].meta.title}》（文件 {SEED_001}）",)
    assert "另有旧版本" in turn.html(1, False) and SEED_001 in turn.html(1, False)
    engine.close()


def test_the_service_layer_does_not_need_gradio():
    """Gradio stays in ui/blocks.py and app.py: the operations, rendering, evaluation and users import without it."""
    import subprocess
    import sys

    probe = ("import sys; import ui.operations, ui.chat, ui.listings, ui.corpus_admin, ui.roles, ui.requests, ui.service, "
             "ui.render, ui.evaluation, ui.auth; "
             "print('gradio' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "False"


def test_the_page_script_and_styles_are_read_from_ui_assets():
    from ui import blocks

    assert "data-open-chunk" in blocks.CHAT_JS and "passage-anchor" in blocks.DOC_JS and ".doc-body" in blocks.CSS
    assert blocks.launch_options()["css"] == (ROOT / "ui" / "assets" / "app.css").read_text(encoding="utf-8")
