"""The engine on milvus-lite with the hashing encoder: the same answers and rankings as the local backend,
documents added and removed by doc id without a rebuild, reopening, and the failures a user sees."""
from __future__ import annotations

import shutil

import pytest

from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from retrieval.errors import BackendUnavailable
from tests.test_engine import QUESTIONS, WUSONG, WUSONG_QUESTION, YONGXING, RecordingEncoder, copy_corpus


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(corpus, local engine, milvus-lite engine, its URI) over one copy of the corpus."""
    root = tmp_path_factory.mktemp("milvus-engine")
    corpus = copy_corpus(root / "corpus")
    local = SearchEngine.open(corpus, root / "index", encoder=HashingEncoder(256))
    uri = str(root / "milvus.db")
    milvus = SearchEngine.open(corpus, root / "index-milvus", encoder=HashingEncoder(256), backend="milvus",
                               milvus_uri=uri)
    yield corpus, local, milvus, uri
    milvus.close()
    local.close()


def test_the_demolition_question_is_answered_from_wusong_on_milvus(pair):
    _, _, milvus, _ = pair
    assert milvus.backend_name == "milvus"
    result = milvus.ask(WUSONG_QUESTION)
    assert result.answer is not None and result.answer.fact == "3万平方米"
    assert milvus.chunks[result.answer.chunk_id].doc_id == WUSONG
    start, end = result.answer.char_span
    assert milvus.documents[WUSONG].text[start:end] == result.answer.text


def test_both_backends_hold_the_same_passages_and_rank_alike(pair):
    _, local, milvus, _ = pair
    assert set(milvus.chunks) == set(local.chunks)
    assert {d: doc.meta for d, doc in milvus.documents.items()} == {d: doc.meta for d, doc in local.documents.items()}
    for question in QUESTIONS:
        for leg in ("bm25", "dense", "hybrid"):
            ours, theirs = milvus.search(question, k=5, leg=leg), local.search(question, k=5, leg=leg)
            # BM25: Milvus's candidates re-scored with rank_bm25; dense: HNSW instead of an exact scan.
            assert ours[0].chunk_id == theirs[0].chunk_id, (question, leg)
            assert len({h.chunk_id for h in ours} & {h.chunk_id for h in theirs}) >= 4, (question, leg)
        a, b = milvus.ask(question).answer, local.ask(question).answer
        assert (a and (a.chunk_id, a.fact)) == (b and (b.chunk_id, b.fact)), question


def test_a_hard_organisation_filter_keeps_its_documents_only(pair):
    _, _, milvus, _ = pair
    hits = milvus.search("老旧小区电梯", k=5, org=YONGXING)
    assert hits and all(milvus.chunks[h.chunk_id].doc_id == YONGXING for h in hits)


def test_a_document_is_removed_and_added_again_by_its_rows_only(tmp_path):
    corpus = copy_corpus(tmp_path / "corpus")
    encoder = RecordingEncoder()
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=encoder, backend="milvus",
                               milvus_uri=str(tmp_path / "milvus.db"))
    try:
        wusong_passages = sum(1 for c in engine.chunks.values() if c.doc_id == WUSONG)
        before = len(engine.chunks)
        kept = shutil.copy(corpus / WUSONG, tmp_path / WUSONG)
        engine.remove_document(WUSONG)
        assert len(engine.chunks) == before - wusong_passages
        result = engine.ask(WUSONG_QUESTION)
        assert result.answer is None or engine.chunks[result.answer.chunk_id].doc_id != WUSONG
        shutil.copy(kept, corpus / WUSONG)
        encoder.documents.clear()
        engine.add_document(corpus / WUSONG)
        assert encoder.documents and all(text in engine.documents[WUSONG].text for text in encoder.documents), \
            "only the added document is encoded"
        assert len(engine.chunks) == before
        assert engine.ask(WUSONG_QUESTION).answer.fact == "3万平方米"
    finally:
        engine.close()


def test_reopening_loads_the_collections_without_building(tmp_path):
    # Its own database: closing the module's shared engine would leave the other tests without a connection
    # whenever this test runs before them (a shuffled order).
    corpus = copy_corpus(tmp_path / "corpus")
    uri = str(tmp_path / "milvus.db")
    milvus = SearchEngine.open(corpus, tmp_path / "index-milvus", encoder=HashingEncoder(256), backend="milvus",
                               milvus_uri=uri)
    expected = milvus.ask(WUSONG_QUESTION)
    milvus.close()                       # one process holds a milvus-lite database at a time
    messages = []
    again = SearchEngine.open(corpus, tmp_path / "unused-index", encoder=HashingEncoder(256), backend="milvus",
                              milvus_uri=uri, progress=lambda fraction, message: messages.append(message))
    try:
        assert not messages, "nothing to build or sync"
        result = again.ask(WUSONG_QUESTION)
        assert (result.answer.chunk_id, result.answer.fact) == (expected.answer.chunk_id, expected.answer.fact)
        assert [h.chunk_id for h in result.hits] == [h.chunk_id for h in expected.hits]
    finally:
        again.close()


def test_an_unreachable_server_is_a_clear_error_at_start(tmp_path):
    corpus = copy_corpus(tmp_path / "corpus", (WUSONG,))
    with pytest.raises(BackendUnavailable, match="无法连接检索服务 http://127.0.0.1:9"):
        SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256), backend="milvus",
                          milvus_uri="http://127.0.0.1:9")


def test_a_lost_connection_during_a_question_is_a_chinese_message_and_the_service_stays_up(tmp_path):
    from ui.operations import EngineService
    from ui.requests import UserFacingError

    corpus = copy_corpus(tmp_path / "corpus", (WUSONG,))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256), backend="milvus",
                               milvus_uri=str(tmp_path / "milvus.db"))
    service = EngineService(engine, corpus)
    try:
        assert service.ask(WUSONG_QUESTION, None, None, None).answer.fact == "3万平方米"
        engine._state.remote.close()                        # the server goes away
        with pytest.raises(UserFacingError, match="检索服务暂时连接不上"):
            service.ask(WUSONG_QUESTION, None, None, None)
        with pytest.raises(BackendUnavailable, match="检索服务"):
            engine.ask(WUSONG_QUESTION)
    finally:
        engine.indexing.close()
