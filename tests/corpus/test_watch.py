"""The corpus watcher: a file copied into, edited in or removed from corpus/ outside the app is indexed within
seconds, through the same job queue, and the app's own uploads are not indexed twice."""
from __future__ import annotations

import os
import time

import pytest

from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
from retrieval.corpus.watch import SETTLE_SECONDS, WATCHER_USER, CorpusWatcher
from tests.seeds import CORPUS, SEED_000, SEED_001, SEED_002
from tests.store_fakes import copy_seeds

ADDED_SENTENCE = "\n三、新增事项\n年内新建社区智慧跑道7条，覆盖全部居民区。\n"


def wait_for(condition, timeout: float = 20.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError("the watcher did not pick the change up")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def watched(tmp_path):
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    engine.start_watching(interval=0.2)
    yield engine, corpus
    engine.close()


def test_copied_edited_and_removed_files_are_picked_up(watched):
    engine, corpus = watched
    (corpus / SEED_002).write_bytes((CORPUS / SEED_002).read_bytes())
    assert wait_for(lambda: SEED_002 in engine.documents and not engine.indexing.busy()) < 10

    with (corpus / SEED_002).open("a", encoding="utf-8") as handle:
        handle.write(ADDED_SENTENCE)
    wait_for(lambda: "智慧跑道7条" in engine.documents[SEED_002].text and not engine.indexing.busy())
    hit = engine.search("社区智慧跑道", k=1, leg="bm25")[0]
    assert engine.chunks[hit.chunk_id].doc_id == SEED_002

    (corpus / SEED_000).unlink()
    wait_for(lambda: SEED_000 not in engine.documents and not engine.indexing.busy())
    jobs = [(j.kind, j.doc, j.user, j.state) for j in engine.indexing.status()]
    assert jobs == [("add", SEED_002, WATCHER_USER, "done"), ("replace", SEED_002, WATCHER_USER, "done"),
                    ("delete", SEED_000, WATCHER_USER, "done")]
    reopened = SearchEngine.open(corpus, engine.index_dir, encoder=HashingEncoder(256), rebuild="never")
    assert sorted(reopened.documents) == sorted([SEED_001, SEED_002])


def test_an_upload_the_app_queued_itself_is_not_queued_again(watched):
    engine, corpus = watched
    (corpus / SEED_002).write_bytes((CORPUS / SEED_002).read_bytes())
    job = engine.indexing.add(corpus / SEED_002, user="张三")
    engine.indexing.wait(job.job_id, timeout=30)
    time.sleep(1.0)                                  # several looks of the watcher
    assert [(j.kind, j.user) for j in engine.indexing.status()] == [("add", "张三")]


def test_a_cancelled_change_is_not_queued_again_until_the_file_changes(tmp_path):
    """The watcher acts on a change once; a user who cancelled the job is not overruled every second."""
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001,))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    watcher = CorpusWatcher(engine)
    (corpus / SEED_002).write_bytes((CORPUS / SEED_002).read_bytes())
    assert watcher.check() == []                     # too fresh: it may still be being copied
    assert watcher.check() == []
    settled(corpus / SEED_002)
    assert watcher.check() == []                     # seen once with its final signature
    [job_id] = watcher.check()
    engine.indexing.cancel(job_id)
    engine.indexing.wait_idle(30)
    assert watcher.check() == [] and watcher.check() == []
    with (corpus / SEED_002).open("a", encoding="utf-8") as handle:
        handle.write(ADDED_SENTENCE)
    settled(corpus / SEED_002)
    watcher.check()
    assert len(watcher.check()) == 1
    engine.close()


def settled(path) -> None:
    """Date a file's last change a little further back than the watcher's settle time."""
    past = time.time() - SETTLE_SECONDS - 1
    os.utime(path, (past, past))
