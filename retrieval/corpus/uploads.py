"""Uploads into the corpus: a safe file name, a size limit, a type judged from the content, an atomic write.

Nothing is written when a check fails, and an existing corpus file is never overwritten: a clash
gets a numbered name ("x.txt" -> "x-2.txt").
"""
from __future__ import annotations

import errno
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from retrieval.errors import IngestError, RetrievalError, ScannedPdf
from retrieval.ingest.ocr import ocr_available
from retrieval.ingest.readers import read_bytes, sniff_format

MB = 1024 * 1024
MAX_UPLOAD_BYTES = 20 * MB
# The refusal of a file over the limit; the app's page checks the size before sending and says the same.
TOO_LARGE_MESSAGE = "文件太大（{size} MB），上限是 {limit} MB。请删去附件或图片、拆成几份后再上传。"
MAX_NAME_BYTES = 200                 # the stem in UTF-8; file systems allow 255 bytes for the whole name
DEFAULT_STEM = "upload"
SUFFIX_OF_FORMAT = {"docx": ".docx", "pdf": ".pdf", "html": ".html"}
TEMP_PREFIX = ".upload-"             # hidden and ending in .tmp, so no corpus scan ever picks one up

# Characters Windows, shells or URLs treat specially, plus path separators of every platform.
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_SPACES = re.compile(r"\s+")


class UploadRejected(RetrievalError, ValueError):
    """An upload that cannot go into the corpus; `message_zh` says why and what to do, for the app user."""

    def __init__(self, reason: str, message_zh: str):
        self.reason = reason
        self.message_zh = message_zh
        super().__init__(reason)


@dataclass(frozen=True)
class StoredUpload:
    """Where an accepted upload was written and what it is."""

    path: Path
    doc_id: str                      # the file name inside the corpus
    kind: str                        # 'docx' / 'pdf' / 'text'


def _cut_to_bytes(text: str, limit: int) -> str:
    """The longest prefix of text whose UTF-8 form fits in limit bytes (emoji take 4, CJK 3)."""
    encoded = text.encode("utf-8")[:limit]
    return encoded.decode("utf-8", errors="ignore")


def safe_corpus_name(name: str, suffix: str | None = None) -> str:
    """A plain file name for the corpus made from whatever name the client sent.

    Directory parts of every platform are dropped ("../../x" -> "x", "C:\\a\\b.txt" -> "b.txt"),
    control and special characters removed, leading dots stripped (no hidden files, no "..").
    `suffix`, when given, replaces the name's own suffix, so the content decides the type.

    Returns:
        A non-empty name with no path separator that never starts with a dot.
    """
    name = unicodedata.normalize("NFKC", str(name))
    name = re.split(r"[\\/]", name)[-1]
    name = _SPACES.sub(" ", name)
    name = _UNSAFE.sub("_", name).strip(" .")
    stem, dot, own_suffix = name.rpartition(".")
    if not dot:
        stem, own_suffix = name, ""
    stem = stem.strip(" .")
    if not stem.strip("_"):
        stem = DEFAULT_STEM
    stem = _cut_to_bytes(stem, MAX_NAME_BYTES).rstrip(" .")
    if suffix is None:
        suffix = f".{own_suffix.lower()}" if own_suffix else ""
    return stem + suffix


def _suffix_for(kind: str, name: str) -> str:
    """The corpus suffix for content of this kind; text keeps .md when the name says markdown."""
    if kind in SUFFIX_OF_FORMAT:
        return SUFFIX_OF_FORMAT[kind]
    return ".md" if name.lower().endswith(".md") else ".txt"


class CheckedUpload(NamedTuple):
    name: str         # file name for the corpus
    kind: str         # format: 'docx' / 'pdf' / 'text'
    text: str         # the text it was read to, "" for a scanned PDF (OCR reads it when it is indexed)


def too_large_message(size: int) -> str:
    """The Chinese message for a file of `size` bytes, over MAX_UPLOAD_BYTES."""
    return TOO_LARGE_MESSAGE.format(size=f"{size / MB:.1f}", limit=MAX_UPLOAD_BYTES // MB)


def check_upload(data: bytes, original_name: str) -> CheckedUpload:
    """Check size, type (from the content) and readability of an upload.

    Returns:
        its corpus name, format and text (read once here, so that the caller need not read it again).

    Raises:
        UploadRejected: too large, empty, not a supported type, or unreadable (corrupt, encrypted, binary).
    """
    size = len(data)
    if size > MAX_UPLOAD_BYTES:
        raise UploadRejected(f"file is {size / MB:.1f} MB, over the {MAX_UPLOAD_BYTES // MB} MB limit",
                             too_large_message(size))
    if size == 0:
        raise UploadRejected("file is empty", "文件是空的。请确认选对了文件后再上传。")
    kind = sniff_format(data)
    if kind is None:
        raise UploadRejected(
            "content is not text, .docx or .pdf",
            "不支持这种文件：按文件内容判断，它不是纯文本、Word（.docx）或 PDF。"
            "旧版 .doc/.wps 请在 Word 或 WPS 里另存为 .docx 后再上传。",
        )
    corpus_name = safe_corpus_name(original_name, _suffix_for(kind, original_name))
    try:
        text = read_bytes(corpus_name, data, ocr=False)     # a scan's pages are read by OCR when it is indexed
    except ScannedPdf as error:
        if not ocr_available():
            raise UploadRejected(error.reason, "这份 PDF 是扫描件（页面是图片，没有文字），本机没有安装文字识别组件，"
                                               "无法读取。请上传有文字的版本，或请管理员运行 make setup。") from error
        text = ""
    except IngestError as error:
        raise UploadRejected(
            error.reason,
            f"{error.message_zh}。请确认文件没有损坏、没有加密，然后重新上传。",
        ) from error
    return CheckedUpload(corpus_name, kind, text)


def _numbered(name: str, number: int) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    return f"{stem}-{number}{dot}{suffix}"


def store_upload(data: bytes, original_name: str, corpus_dir: str | os.PathLike) -> StoredUpload:
    """Check an upload and write it into corpus_dir atomically under a safe, unused name.

    The bytes go to a hidden temporary file in corpus_dir first (fsynced), which is then hard-linked
    to the final name: the link fails instead of overwriting when the name is taken, so a clash
    (even one that appears while we write) gets the next number. Readers never see half a file.

    Raises:
        UploadRejected: see `check_upload`; nothing is written then.
        OSError: the corpus directory cannot be written; the temporary file is removed.
    """
    corpus = Path(corpus_dir).resolve()
    name, kind, _ = check_upload(data, original_name)
    handle = tempfile.NamedTemporaryFile(dir=corpus, prefix=TEMP_PREFIX, suffix=".tmp", delete=False)
    temp = Path(handle.name)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        final = _claim_name(temp, corpus, name)
    finally:
        temp.unlink(missing_ok=True)
    if final.parent != corpus:          # cannot happen with a sanitised name; checked because it must never happen
        final.unlink(missing_ok=True)
        raise UploadRejected("file name escapes the corpus", "文件名无效。请改一个普通的文件名后再上传。")
    return StoredUpload(final, final.name, kind)


def _claim_name(temp: Path, corpus: Path, name: str) -> Path:
    """Give the temporary file its final name: `name`, or `name-2`, `name-3`, … when taken."""
    for number in range(1, 1000):
        candidate = corpus / (name if number == 1 else _numbered(name, number))
        try:
            os.link(temp, candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
                raise
            # No hard links on this file system: fall back to check-then-replace (racy, but atomic).
            if candidate.exists():
                continue
            os.replace(temp, candidate)
            return candidate
    raise UploadRejected("too many files with this name", "同名文件太多。请改个文件名后再上传。")
