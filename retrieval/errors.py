"""The few named errors the library raises, each saying what went wrong and what to do."""


class RetrievalError(Exception):
    """Base class of every error this library raises on purpose."""


class IngestError(RetrievalError):
    """A corpus file cannot be read: unsupported type, corrupt, empty or undecodable."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read {self.path}: {reason}")


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
