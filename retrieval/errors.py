"""The few named errors the library raises, each saying what went wrong and what to do."""
from pathlib import PurePath


class RetrievalError(Exception):
    """Base class of every error this library raises on purpose."""


# What an app user is told when a reader gives no reason of its own in Chinese.
UNREADABLE_ZH = "文件可能已损坏、加密，或不是支持的格式（.txt .md .docx .pdf .html）"


class IngestError(RetrievalError):
    """A corpus file cannot be read: unsupported type, corrupt, empty or undecodable.

    `reason` is for logs and the command line; `reason_zh` says the same to app users, in Chinese.
    """

    def __init__(self, path, reason: str, reason_zh: str = ""):
        self.path = str(path)
        self.reason = reason
        self.reason_zh = reason_zh
        super().__init__(f"cannot read {self.path}: {reason}")

    @property
    def message_zh(self) -> str:
        """For app users: the file by its name (never a server path) and why it cannot be read."""
        return f"无法读取文件 {PurePath(self.path).name}：{self.reason_zh or UNREADABLE_ZH}"


class ScannedPdf(IngestError):
    """A PDF whose pages are images (a scan): its text comes only from OCR, which a quick check skips."""


class IndexNotFound(RetrievalError):
    """There is no index directory (or no manifest in it)."""


class IndexMismatch(RetrievalError):
    """The index on disk was built with another encoder, dimension or format version."""


class IndexDamaged(IndexMismatch):
    """A file of the index does not match the checksum its manifest recorded: it was edited or corrupted."""


class IndexLocked(RetrievalError):
    """Another writer (another process or engine) holds the index directory's write lock for too long."""


class BackendUnavailable(RetrievalError):
    """The index backend's server (Milvus) cannot be reached or failed; the message says so in Chinese."""


class InvalidQuery(RetrievalError, ValueError):
    """The question or a search parameter is unusable (empty, too long, k out of range)."""
