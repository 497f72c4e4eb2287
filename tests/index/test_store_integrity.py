"""The index directory stays trustworthy: edited or corrupted files are caught by their checksums and rebuilt
without reusing a damaged vector, two writers take turns, a crash mid-swap is recovered without re-encoding,
and an unreadable manifest is a clear error or a rebuild, never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from retrieval.index import store
from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine, encoded_text
from retrieval.errors import IndexDamaged, IndexLocked, IndexMismatch
from tests.seeds import CORPUS, SEED_000, SEED_001, SEED_002
from tests.store_fakes import CountingEncoder, copy_seeds

ROOT = Path(__file__).resolve().parents[2]
FACT = "完成3万平方米"
FORGED = "完成8万平方米"


@pytest.fixture
def indexed(tmp_path):
    """(corpus, index dir) with two seeds, built with the hashing encoder."""
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001, SEED_000))
    SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    return corpus, tmp_path / "index"


def unique_inputs(engine: SearchEngine) -> int:
    """How many distinct texts a build from nothing encodes (passages and answer units)."""
    return len({key for segment in engine._state.index.segments for key in segment.keys})


def segment_file(index: Path, name: str) -> Path:
    """The one segment's file of that name (the fixture's index is one segment)."""
    (path,) = index.glob(f"segments/*/{name}")
    return path


def assert_vectors_are_fresh(engine: SearchEngine) -> None:
    """Every stored passage vector is the encoder's vector of that passage, none a damaged copy."""
    for segment in engine._state.index.segments:
        fresh = HashingEncoder(256).encode_documents([encoded_text(c) for c in segment.chunks])
        np.testing.assert_array_equal(np.asarray(segment.passage_vectors), fresh.astype(np.float16))


def flip_bytes(path: Path, offset_from_end: int = 64) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) - offset_from_end, len(data) - offset_from_end + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


# --- checksums ------------------------------------------------------------------------------------------

def test_an_edited_passage_is_caught_and_rebuilt_from_the_corpus(indexed):
    corpus, index = indexed
    texts = segment_file(index, "document_texts.txt")        # a passage's text is its document's at its span
    text = texts.read_text(encoding="utf-8")
    assert FACT in text
    texts.write_text(text.replace(FACT, FORGED), encoding="utf-8")
    with pytest.raises(IndexDamaged, match="document_texts.txt changed"):
        SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")

    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    texts = [c.text for c in engine.chunks.values()]
    assert any(FACT in t for t in texts) and not any(FORGED in t for t in texts)
    assert any("checksum" in note for note in engine.notes)
    assert len(set(encoder.documents)) == unique_inputs(engine), "no vector of the damaged index is reused"
    assert FORGED not in segment_file(index, "document_texts.txt").read_text(encoding="utf-8")
    SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")     # verifies again


@pytest.mark.parametrize("damaged", ["vectors.npy", "keys.json", "postings_tf.npy", "passages.npy"])
def test_flipped_vector_bytes_are_caught_and_no_vector_is_reused(indexed, damaged):
    corpus, index = indexed
    flip_bytes(segment_file(index, damaged))
    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    assert len(set(encoder.documents)) == unique_inputs(engine)
    assert_vectors_are_fresh(engine)


def test_build_force_reuses_no_vector_from_a_damaged_index(indexed):
    """`build --force` (rebuild="always") used to read the old vectors without checking them."""
    corpus, index = indexed
    flip_bytes(segment_file(index, "vectors.npy"))
    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder, rebuild="always")
    assert len(set(encoder.documents)) == unique_inputs(engine)
    assert_vectors_are_fresh(engine)


def test_an_intact_index_is_reused_by_build_force(indexed):
    """The other side of the check: vectors of an index that passes it are not encoded again."""
    corpus, index = indexed
    encoder = CountingEncoder()
    SearchEngine.open(corpus, index, encoder=encoder, rebuild="always")
    assert encoder.documents == []


def test_every_index_file_has_a_recorded_checksum(indexed):
    _, index = indexed
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    files = {p.relative_to(index).as_posix() for p in index.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == files
    texts = segment_file(index, "document_texts.txt")
    recorded = manifest["files"][texts.relative_to(index).as_posix()]
    assert recorded.startswith("xxh3_128:") and recorded == store.file_checksum(texts)


def test_a_checksum_tells_apart_files_that_differ_in_one_byte(tmp_path):
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    data = bytes(range(256)) * 5000
    first.write_bytes(data)
    second.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert store.file_checksum(first) != store.file_checksum(second)
    assert store.file_checksum(first) == store.file_checksum(tmp_path / "a.bin")
    assert store.file_checksum(first, "sha256") == store.file_sha256(first)
    with pytest.raises(ValueError, match="unknown checksum algorithm"):
        store.file_checksum(first, "md4")


def test_an_index_whose_manifest_records_sha256_still_opens_and_its_damage_is_still_caught(indexed):
    """Indexes written before the switch to xxh3 record bare sha256 values: they stay verifiable."""
    corpus, index = indexed
    path = index / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["files"] = {name: store.file_sha256(index / name) for name in manifest["files"]}
    path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    assert store.verify_index(index)["files"] == manifest["files"]
    assert SearchEngine.open(corpus, index, encoder=HashingEncoder(), rebuild="never").ask("吴淞今年拆违任务多少平方米").answer
    texts = segment_file(index, "document_texts.txt")
    texts.write_text(texts.read_text(encoding="utf-8").replace("3万平方米", "8万平方米"), encoding="utf-8")
    with pytest.raises(IndexDamaged, match="document_texts.txt changed"):
        store.verify_index(index)


# --- unreadable manifest ----------------------------------------------------------------------------------

def test_an_unreadable_manifest_is_a_clear_error_or_a_rebuild(indexed):
    corpus, index = indexed
    (index / "manifest.json").write_text('{"format_version": 5, "encoder": ', encoding="utf-8")
    with pytest.raises(IndexMismatch, match="manifest.json is unreadable"):
        SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")
    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    assert sorted(engine.documents) == sorted([SEED_001, SEED_000])
    assert len(set(encoder.documents)) == unique_inputs(engine), "an unverifiable index gives no vectors"


def test_a_manifest_that_is_not_utf8_is_rebuilt_with_a_clear_line(indexed):
    """Bytes that are not UTF-8 (a GBK-saved edit, a flipped byte) are an unreadable manifest like any other:
    a clear error when rebuilding is not allowed, else a rebuild that says why."""
    corpus, index = indexed
    (index / "manifest.json").write_bytes('{"format_version": 5, "note": "索引"}'.encode("gbk"))
    with pytest.raises(IndexMismatch, match="manifest.json is unreadable"):
        SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")
    lines = []
    engine = SearchEngine.open(corpus, index, encoder=HashingEncoder(256), progress=lambda _, line: lines.append(line))
    assert sorted(engine.documents) == sorted([SEED_001, SEED_000])
    assert any("manifest.json is unreadable" in line and "rebuilding" in line for line in lines)
    assert store.read_manifest(index)["counts"]["documents"] == 2


@pytest.mark.parametrize("command", [["build"], ["build", "--force"], ["ask", "吴淞今年拆违任务多少平方米"]])
def test_the_command_line_rebuilds_over_a_manifest_that_is_not_utf8(indexed, capsys, command):
    from retrieval.__main__ import main

    corpus, index = indexed
    (index / "manifest.json").write_bytes(b"\xff\xfe{\x00")
    assert main(["--corpus", str(corpus), "--index", str(index), "--encoder", "hashing:256", *command]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "UnicodeDecodeError" not in out.err
    assert store.read_manifest(index)["counts"]["documents"] == 2


# --- two writers ------------------------------------------------------------------------------------------

def test_two_engines_writing_one_index_take_turns(tmp_path):
    corpus = copy_seeds(tmp_path / "corpus", (SEED_001,))
    index = tmp_path / "index"
    first = SearchEngine.open(corpus, index, encoder=HashingEncoder(256))
    second = SearchEngine.open(corpus, index, encoder=HashingEncoder(256))
    for name in (SEED_000, SEED_002):
        (corpus / name).write_bytes((CORPUS / name).read_bytes())
    errors = []

    def add(engine, name):
        try:
            engine.add_document(corpus / name)
        except Exception as error:  # noqa: BLE001 - the test reports any failure of either writer
            errors.append(error)

    threads = [threading.Thread(target=add, args=(first, SEED_000)), threading.Thread(target=add, args=(second, SEED_002))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert SEED_000 in first.documents and SEED_002 in second.documents
    reopened = SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")
    assert sorted(reopened.documents) == sorted([SEED_000, SEED_001, SEED_002])
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


HOLD_LOCK = """
import sys, time
from pathlib import Path
from retrieval.index.store import IndexWriterLock
lock = IndexWriterLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_writer_names_the_process_holding_the_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "index"), "30"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        waited = []
        with pytest.raises(IndexLocked, match=f"pid {holder.pid} on "):
            store.IndexWriterLock(tmp_path / "index", timeout=0.5).acquire(waiting=waited.append)
        assert waited and waited[0]["pid"] == holder.pid and waited[0]["since"]
    finally:
        holder.kill()
        holder.wait()
    with store.IndexWriterLock(tmp_path / "index", timeout=5):
        pass                                       # free once its holder is gone


def test_a_save_sweeps_only_its_own_or_dead_writers_copies(indexed, tmp_path):
    corpus, index = indexed
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        live_copy = tmp_path / f".index.tmp-{sleeper.pid}-1"
        dead_copy = tmp_path / f".index.tmp-{gone.pid}-1"
        own_copy = tmp_path / f".index.old-{os.getpid()}-1"
        for copy in (live_copy, dead_copy, own_copy):
            copy.mkdir()
        SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="always")
        assert live_copy.exists(), "another live writer's temporary directory is left to it"
        assert not dead_copy.exists() and not own_copy.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


# --- a crash between the two renames ------------------------------------------------------------------------

CRASH_MID_SWAP = """
import os, sys
from pathlib import Path
from retrieval.encode.encoders import HashingEncoder
from retrieval.engine import SearchEngine
renames = []
real_replace = os.replace
def replace(source, target):
    renames.append((source, target))
    if len(renames) == 2:
        os._exit(9)                  # killed between moving the old index away and moving the new one in
    real_replace(source, target)
os.replace = replace
SearchEngine.open(Path(sys.argv[1]), Path(sys.argv[2]), encoder=HashingEncoder(256), rebuild="always")
"""


def test_a_crash_between_the_renames_is_recovered_without_encoding(indexed, tmp_path):
    corpus, index = indexed
    (corpus / SEED_002).write_bytes((CORPUS / SEED_002).read_bytes())
    crashed = subprocess.run([sys.executable, "-c", CRASH_MID_SWAP, str(corpus), str(index)], cwd=ROOT)
    assert crashed.returncode == 9
    assert not index.exists()
    # The killed build also leaves the directory it wrote its segments into.
    assert [p.name.split("-")[0] for p in sorted(tmp_path.glob(".index.*-*"))] == \
        [".index.build", ".index.old", ".index.tmp"]

    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    assert encoder.documents == [], "the complete new copy is put back, nothing is encoded again"
    assert SEED_002 in engine.documents, "the newer of the two copies wins"
    assert any("restored" in note for note in engine.notes)
    assert not [p for p in tmp_path.iterdir() if any(f".{kind}-" in p.name for kind in ("tmp", "old", "build"))], \
        "the dead process's copy and build directory are swept"
    SearchEngine.open(corpus, index, encoder=HashingEncoder(256), rebuild="never")


def test_an_incomplete_copy_is_never_restored(indexed, tmp_path):
    """Only a copy whose manifest and checksums are intact is trusted; otherwise the index is rebuilt."""
    corpus, index = indexed
    broken = tmp_path / f".index.tmp-{os.getpid()}-9"
    os.replace(index, broken)
    flip_bytes(segment_file(broken, "vectors.npy"))
    encoder = CountingEncoder()
    engine = SearchEngine.open(corpus, index, encoder=encoder)
    assert len(set(encoder.documents)) == unique_inputs(engine)


def test_readers_opening_while_a_writer_swaps_never_see_damage(indexed):
    """An app starting while another process saves must load the old or the new index, not rebuild."""
    corpus, index = indexed
    writer = SearchEngine.open(corpus, index, encoder=HashingEncoder(256))
    stop, failures, opened = threading.Event(), [], []

    def write():
        while not stop.is_set():
            writer.rebuild()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            encoder = CountingEncoder()
            try:
                reader = SearchEngine.open(corpus, index, encoder=encoder, rebuild="never")
                opened.append((reader.notes, len(encoder.documents)))
            except Exception as error:  # noqa: BLE001 - any failure of a reader is the finding
                failures.append(error)
    finally:
        stop.set()
        thread.join(60)
    assert failures == [] and opened
    assert all(notes == () and encoded == 0 for notes, encoded in opened)
