"""The Milvus backend: passages and answer units in Milvus collections (milvus-lite for a `.db` path, a server for http://…).

    <prefix>_passages   one row a passage: chunk id (primary key), doc id, organisation, years (array), kind,
                        section path, the chunk itself and its figure records (JSON), the BM25 text (title + section path + passage in
                        the tokenizer's normal form, analysed by Milvus's jieba with the project's dictionary
                        and stopwords; a BM25 function makes its sparse vector), the passage's distinct local
                        tokens (for term_idf), and its vector (HNSW, inner product)
    <prefix>_units      one row an answer unit (sentence): unit id, chunk id, doc id, start, end, vector (HNSW)
    <prefix>_catalog    documents (metadata and cleaned text) and the engine's manifest, as JSON in parts;
                        Milvus needs a vector field in every collection, so each row has a 2-d placeholder

Adding a document inserts its rows and deletes its earlier ones by doc id; nothing else is rewritten. The
documents' metadata, the chunks and the terms' document frequencies are also held in this process (read
once at open, kept up to date by add and delete) so the pipeline reads them as on the local backend.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from retrieval.errors import BackendUnavailable, RetrievalError
from retrieval.types import FigureRecord
from retrieval.index.bm25 import EPSILON
from retrieval.ingest.passages import PreparedPassage, indexed_text
from retrieval.text.normalize import arabic_numerals, fold_width, to_simplified
from retrieval.types import Chunk, Document, DocumentMeta

DEFAULT_COLLECTION = "plans"
# Milvus's BM25 parameters, set to the local index's (retrieval.index.bm25: k1 1.5, b 0.75).
BM25_K1, BM25_B = 1.5, 0.75
# HNSW as Milvus documents it: M links per node, efConstruction at build; ef at search is at least the limit.
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_MIN = 16, 200, 64
# "Session": this client's searches see its own inserts and deletes at once (the app is the one writer), without
# the cost of "Strong" for other readers; Milvus's default, "Bounded", may miss a document added seconds ago.
CONSISTENCY = "Session"
MAX_LIMIT = 16_384                  # Milvus's largest topK of one search
RESCORE_POOL_FACTOR, RESCORE_POOL_MIN = 4, 200   # Milvus BM25 candidates re-scored for k passages: max(4·k, 200)
PART_CHARS = 20_000                 # a catalog part: 20,000 characters stay under VARCHAR's 65,535 bytes
TEXT_BYTES = 65_535
CONNECT_TIMEOUT_S = 10.0
_PUNCTUATION = re.compile(r"[^\w]+")
_RECONNECT_HINT = "请确认 Milvus 服务在运行、地址正确，或改用本地索引（--backend local）"


def bm25_text(text: str) -> str:
    """What Milvus analyses: the tokenizer's normal form (simplified, ASCII digits, Arabic numerals) without
    punctuation, so Milvus's jieba meets the same characters as the local tokenizer."""
    return _PUNCTUATION.sub(" ", arabic_numerals(fold_width(to_simplified(text)))).strip()


ANALYZERS = ("jieba", "tokens")


def analyzer_params(analyzer: str, terms: Sequence[str], stopwords: Sequence[str], lite: bool) -> dict:
    """How Milvus analyses the BM25 text.

    "jieba": Milvus's jieba tokenizer in search mode with jieba's own dictionary plus the project's terms, and
    the project's stopwords (the analyzer type "chinese" is refused: it cannot take custom words).
    "tokens": the text is the local tokenizer's tokens joined by spaces, split again on whitespace (a server's
    "whitespace" tokenizer; milvus-lite has none, its "standard" one splits on non-word characters), so
    Milvus indexes exactly the local tokens.
    """
    if analyzer == "tokens":
        return {"tokenizer": "standard" if lite else "whitespace"}
    if analyzer != "jieba":
        raise ValueError(f"Milvus analyzer must be one of {ANALYZERS}, got {analyzer!r}")
    return {"tokenizer": {"type": "jieba", "dict": ["_default_", *terms], "mode": "search", "hmm": True},
            "filter": ["lowercase", {"type": "stop", "stop_words": list(stopwords)}]}


def is_lite(uri: str) -> bool:
    return not re.match(r"^[a-z]+://", uri)


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _in(field: str, values: Sequence[str]) -> str:
    return f"{field} in [{', '.join(_quoted(v) for v in values)}]"


def _chunk_record(chunk: Chunk, figures: Sequence[FigureRecord] = ()) -> str:
    return json.dumps({"section_path": chunk.section_path, "char_span": chunk.char_span, "text": chunk.text,
                       "heading_spans": chunk.heading_spans, "figures": [r.as_row() for r in figures]},
                      ensure_ascii=False)


def _figures_from(chunk_id: str, doc_id: str, record: str) -> tuple[FigureRecord, ...]:
    """The figure records kept in a passage's record (none in a collection written before they were)."""
    rows = json.loads(record).get("figures") or ()
    return tuple(FigureRecord.from_row(chunk_id, doc_id, row) for row in rows)


def _chunk_from(chunk_id: str, doc_id: str, record: str) -> Chunk:
    data = json.loads(record)
    return Chunk(chunk_id, doc_id, tuple(data["section_path"]), tuple(data["char_span"]), data["text"],
                 tuple(tuple(span) for span in data["heading_spans"]))


def _document_json(document: Document) -> str:
    return json.dumps({"meta": asdict(document.meta), "text": document.text}, ensure_ascii=False)


def _document_from(body: str) -> Document:
    data = json.loads(body)
    meta = data["meta"]
    meta.update(aliases=tuple(meta["aliases"]), years=tuple(meta["years"]), parents=tuple(meta.get("parents", ())))
    return Document(DocumentMeta(**meta), data["text"])


def _tokens(joined: str) -> list[str]:
    return [token for token in joined.split(" ") if token]


def _parts(text: str) -> list[str]:
    return [text[i:i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]


# pymilvus pings every connection every 10 s, even between calls; milvus-lite's gRPC server keeps gRPC's default
# policy (at most one ping in 5 minutes without data) and after a few answers a connection with GOAWAY
# "too_many_pings", failing the next call (seen during a long build in the test suite). To milvus-lite, a local
# socket, a ping every 10 minutes and none between calls.
LITE_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 600_000, "grpc.keepalive_permit_without_calls": 0}


class MilvusBackend:
    """IndexBackend over Milvus collections named `<prefix>_passages`, `<prefix>_units`, `<prefix>_catalog`."""

    def __init__(self, client, uri: str, prefix: str, dim: int, analyzer: str = "jieba", rescore: bool | None = None):
        self.client, self.uri, self.prefix, self.dim, self.analyzer = client, uri, prefix, dim, analyzer
        # Milvus's BM25 finds the candidates; re-scored with rank_bm25's formula over the local tokens (returned
        # with each hit) they rank as on the local backend. MILVUS_BM25_RESCORE=0 keeps Milvus's own scores.
        self.rescore = (os.environ.get("MILVUS_BM25_RESCORE", "1") != "0") if rescore is None else rescore
        self.passages, self.units, self.catalog = f"{prefix}_passages", f"{prefix}_units", f"{prefix}_catalog"
        self._documents: dict[str, Document] = {}
        self._chunks: dict[str, Chunk] = {}
        self._figures: dict[str, tuple[FigureRecord, ...]] = {}     # of each live passage, read with it
        self._lengths: dict[str, int] = {}                    # chunk id → its number of local tokens
        self._df: Counter = Counter()                         # local token → live passages holding it
        self._total_length = 0
        self._idf_floor: float | None = None
        self._encoded: set[str] = set()

    # ---------------------------------------------------------------- connecting
    @staticmethod
    def connect(uri: str):
        """A MilvusClient for `uri`; BackendUnavailable when the server cannot be reached."""
        from pymilvus import MilvusClient

        try:
            if is_lite(uri):
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
                return MilvusClient(uri, grpc_options=LITE_GRPC_OPTIONS)
            return MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT_S)
        except Exception as error:  # noqa: BLE001 - pymilvus raises several kinds for one cause
            raise BackendUnavailable(f"无法连接检索服务 {uri}：{error}。{_RECONNECT_HINT}") from error

    @classmethod
    def create(cls, uri: str, prefix: str, dim: int, terms: Sequence[str] = (),
               stopwords: Sequence[str] | None = None, analyzer: str = "jieba") -> "MilvusBackend":
        """New, empty collections (earlier ones of this prefix are dropped); `analyzer`: see analyzer_params."""
        from retrieval.text.tokenizer import load_stopwords

        backend = cls(cls.connect(uri), uri, prefix, dim, analyzer)
        backend._guard(lambda: backend._create(terms, sorted(load_stopwords() if stopwords is None else stopwords)))
        return backend

    @classmethod
    def open(cls, uri: str, prefix: str = DEFAULT_COLLECTION) -> "MilvusBackend | None":
        """The collections of this prefix with their catalog read; None when they do not exist."""
        client = cls.connect(uri)
        names = [f"{prefix}_passages", f"{prefix}_units", f"{prefix}_catalog"]
        try:
            present = all(client.has_collection(name) for name in names)
            if not present:
                return None
            fields = {f["name"]: f for f in client.describe_collection(names[0])["fields"]}
            dim = fields["vector"]["params"]["dim"]
            analyzer = "jieba" if "jieba" in json.dumps(fields["text"]["params"], ensure_ascii=False) else "tokens"
            for name in names:                   # a reopened database starts with its collections released
                client.load_collection(name)
        except Exception as error:  # noqa: BLE001
            raise BackendUnavailable(f"无法连接检索服务 {uri}：{error}。{_RECONNECT_HINT}") from error
        backend = cls(client, uri, prefix, int(dim), analyzer)
        backend._guard(backend._load)
        return backend

    def close(self) -> None:
        """Close the connection; a milvus-lite database's in-process server is stopped too."""
        self.client.close()
        if is_lite(self.uri):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(str(Path(self.uri).resolve()))
            server_manager_instance.release_server(self.uri)

    def _guard(self, call):
        """Run a Milvus call; a lost connection or a server error becomes BackendUnavailable."""
        from pymilvus.exceptions import MilvusException

        try:
            return call()
        except (MilvusException, ConnectionError, OSError) as error:
            raise BackendUnavailable(f"检索服务 {self.uri} 出错或连接中断：{error}。{_RECONNECT_HINT}") from error
        except Exception as error:
            if type(error).__module__.startswith("grpc"):
                raise BackendUnavailable(f"检索服务 {self.uri} 连接中断：{error}。{_RECONNECT_HINT}") from error
            raise

    def _create(self, terms: Sequence[str], stopwords: Sequence[str]) -> None:
        from pymilvus import DataType, Function, FunctionType

        client = self.client
        for name in (self.passages, self.units, self.catalog):
            if client.has_collection(name):
                client.drop_collection(name)
        schema = client.create_schema(auto_id=False)
        schema.add_field("chunk_id", DataType.VARCHAR, max_length=128, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
        schema.add_field("org", DataType.VARCHAR, max_length=1024)
        schema.add_field("years", DataType.ARRAY, element_type=DataType.INT64, max_capacity=64)
        schema.add_field("kind", DataType.VARCHAR, max_length=64)
        schema.add_field("section_path", DataType.VARCHAR, max_length=8192)
        schema.add_field("record", DataType.VARCHAR, max_length=TEXT_BYTES)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES, enable_analyzer=True,
                         analyzer_params=analyzer_params(self.analyzer, terms, stopwords, is_lite(self.uri)))
        schema.add_field("tokens", DataType.VARCHAR, max_length=TEXT_BYTES)
        schema.add_field("encoded", DataType.BOOL)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["sparse"]))
        index = client.prepare_index_params()
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
        index.add_index("vector", index_type="HNSW", metric_type="IP",
                        params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION})
        client.create_collection(self.passages, schema=schema, index_params=index, consistency_level=CONSISTENCY)

        units = client.create_schema(auto_id=False)
        units.add_field("unit_id", DataType.VARCHAR, max_length=160, is_primary=True)
        units.add_field("chunk_id", DataType.VARCHAR, max_length=128)
        units.add_field("doc_id", DataType.VARCHAR, max_length=1024)
        units.add_field("start", DataType.INT64)
        units.add_field("end", DataType.INT64)
        units.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="HNSW", metric_type="IP",
                        params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION})
        client.create_collection(self.units, schema=units, index_params=index, consistency_level=CONSISTENCY)

        catalog = client.create_schema(auto_id=False)
        catalog.add_field("key", DataType.VARCHAR, max_length=1200, is_primary=True)
        catalog.add_field("kind", DataType.VARCHAR, max_length=32)
        catalog.add_field("doc_id", DataType.VARCHAR, max_length=1024)
        catalog.add_field("part", DataType.INT64)
        catalog.add_field("body", DataType.VARCHAR, max_length=TEXT_BYTES)
        catalog.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
        index = client.prepare_index_params()
        index.add_index("placeholder", index_type="FLAT", metric_type="L2")
        client.create_collection(self.catalog, schema=catalog, index_params=index, consistency_level=CONSISTENCY)

    def _query_all(self, collection: str, output_fields: list[str], filter: str = "") -> list[dict]:
        """Every row matching the filter, read in pages."""
        rows, offset, page = [], 0, 10_000
        while True:
            batch = self.client.query(collection, filter=filter or f"{self._key(collection)} != \"\"",
                                      output_fields=output_fields, limit=page, offset=offset)
            rows += batch
            if len(batch) < page:
                return rows
            offset += page

    def _key(self, collection: str) -> str:
        return {self.passages: "chunk_id", self.units: "unit_id", self.catalog: "key"}[collection]

    def _load(self) -> None:
        parts: dict[str, list[tuple[int, str]]] = {}
        for row in self._query_all(self.catalog, ["doc_id", "part", "body"], 'kind == "document"'):
            parts.setdefault(row["doc_id"], []).append((row["part"], row["body"]))
        self._documents = {doc_id: _document_from("".join(body for _, body in sorted(found)))
                           for doc_id, found in parts.items()}
        for row in self._query_all(self.passages, ["chunk_id", "doc_id", "record", "tokens", "encoded"]):
            self._remember(_chunk_from(row["chunk_id"], row["doc_id"], row["record"]), _tokens(row["tokens"]),
                           bool(row["encoded"]), _figures_from(row["chunk_id"], row["doc_id"], row["record"]))

    # ---------------------------------------------------------------- the engine's manifest
    def read_manifest(self) -> dict | None:
        rows = self._guard(lambda: self._query_all(self.catalog, ["part", "body"], 'kind == "manifest"'))
        return json.loads("".join(row["body"] for row in sorted(rows, key=lambda r: r["part"]))) if rows else None

    def write_manifest(self, manifest: dict) -> None:
        self._write_parts("manifest", "", json.dumps(manifest, ensure_ascii=False))

    def _write_parts(self, kind: str, doc_id: str, body: str, replace: bool = True) -> None:
        """A JSON body as catalog rows; `replace`: delete the earlier rows of this kind and doc id first."""
        key = f"{kind}:{doc_id}"

        def write():
            if replace:
                self.client.delete(self.catalog, filter=f"kind == {_quoted(kind)} and doc_id == {_quoted(doc_id)}")
            self.client.insert(self.catalog, [{"key": f"{key}#{number}", "kind": kind, "doc_id": doc_id,
                                               "part": number, "body": part, "placeholder": [0.0, 0.0]}
                                              for number, part in enumerate(_parts(body))])
        self._guard(write)

    # ---------------------------------------------------------------- IndexBackend: writing
    def add(self, document: Document, passages: Sequence[PreparedPassage], vectors: np.ndarray | None = None) -> None:
        if not passages:
            raise ValueError(f"document {document.doc_id!r} has no passage to add")
        expected = sum(1 + len(p.units) for p in passages)
        if vectors is not None and len(vectors) != expected:
            raise ValueError(f"document {document.doc_id!r} needs {expected} vectors, got {len(vectors)}")
        from retrieval.index.state import section_years

        replacing = document.doc_id in self._documents
        if replacing:
            self.delete(document.doc_id)
        meta = document.meta
        zero = [0.0] * self.dim
        passage_rows, unit_rows, row = [], [], 0
        for passage in passages:
            chunk = passage.chunk
            own = zero if vectors is None else np.asarray(vectors[row], dtype=np.float32).tolist()
            passage_rows.append({
                "chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id, "org": meta.org,
                "years": list(section_years(chunk, document)), "kind": meta.kind,
                "section_path": " › ".join(chunk.section_path), "record": _chunk_record(chunk, passage.figures),
                "text": (" ".join(passage.tokens) if self.analyzer == "tokens"
                         else bm25_text(indexed_text(document, chunk))), "tokens": " ".join(passage.tokens),
                "encoded": vectors is not None, "vector": own})
            for number, (start, end) in enumerate(passage.units, 1):
                if vectors is not None:
                    unit_rows.append({"unit_id": f"{chunk.chunk_id}:{start}", "chunk_id": chunk.chunk_id,
                                      "doc_id": chunk.doc_id, "start": start, "end": end,
                                      "vector": np.asarray(vectors[row + number], dtype=np.float32).tolist()})
            row += 1 + len(passage.units)

        def insert():
            self.client.insert(self.passages, passage_rows)
            if unit_rows:
                self.client.insert(self.units, unit_rows)
        self._guard(insert)
        self._write_parts("document", document.doc_id, _document_json(document), replace=False)
        self._documents[document.doc_id] = document
        for passage in passages:
            self._remember(passage.chunk, list(passage.tokens), vectors is not None, tuple(passage.figures))

    def delete(self, doc_id: str) -> None:
        if doc_id not in self._documents:
            raise KeyError(f"no document {doc_id!r} in the Milvus collections {self.prefix}_* at {self.uri}")
        where = f"doc_id == {_quoted(doc_id)}"
        rows = self._guard(lambda: self._query_all(self.passages, ["chunk_id", "tokens"], where))

        def delete():
            self.client.delete(self.passages, filter=where)
            self.client.delete(self.units, filter=where)
            self.client.delete(self.catalog, filter=f'kind == "document" and {where}')
        self._guard(delete)
        del self._documents[doc_id]
        for row in rows:
            if row["chunk_id"] in self._chunks:
                self._forget(row["chunk_id"], _tokens(row["tokens"]))
        self._df = +self._df                        # drops terms no live passage has any more

    def flush(self) -> None:
        self._guard(lambda: [self.client.flush(name) for name in (self.passages, self.units, self.catalog)])

    def _remember(self, chunk: Chunk, tokens: list[str], encoded: bool,
                  figures: tuple[FigureRecord, ...] = ()) -> None:
        self._chunks[chunk.chunk_id] = chunk
        self._figures[chunk.chunk_id] = figures
        self._lengths[chunk.chunk_id] = len(tokens)
        self._total_length += len(tokens)
        self._df.update(set(tokens))
        if encoded:
            self._encoded.add(chunk.chunk_id)
        self._idf_floor = None

    def _forget(self, chunk_id: str, tokens: list[str]) -> None:
        del self._chunks[chunk_id]
        self._figures.pop(chunk_id, None)
        self._total_length -= self._lengths.pop(chunk_id)
        self._df.subtract(set(tokens))
        self._encoded.discard(chunk_id)
        self._idf_floor = None

    # ---------------------------------------------------------------- IndexBackend: searching
    def bm25(self, query_tokens: Sequence[str], k: int) -> list[tuple[str, float]]:
        if not query_tokens or not self._chunks:
            return []
        # Milvus analyses the query itself; the local tokens joined by spaces give it the same words.
        limit = min(max(RESCORE_POOL_FACTOR * k, RESCORE_POOL_MIN) if self.rescore else k, MAX_LIMIT)
        result = self._guard(lambda: self.client.search(
            self.passages, data=[" ".join(query_tokens)], anns_field="sparse", limit=limit,
            output_fields=["chunk_id", "tokens"] if self.rescore else ["chunk_id"],
            search_params={"metric_type": "BM25"}))
        hits = [hit for hit in result[0] if hit["entity"]["chunk_id"] in self._chunks]
        if self.rescore:
            scored = self._rank_bm25_scores(query_tokens, [(h["entity"]["chunk_id"], h["entity"]["tokens"]) for h in hits])
            scored.sort(key=lambda pair: (-pair[1], pair[0]))
            return [(chunk_id, score) for chunk_id, score in scored if score > 0][:k]
        # A BM25 score is positive; milvus-lite reports it negated as a distance, a server as the score.
        found = [(hit["entity"]["chunk_id"], abs(float(hit["distance"]))) for hit in hits]
        return [(chunk_id, score) for chunk_id, score in found if score > 0]

    def _rank_bm25_scores(self, query_tokens: Sequence[str], candidates: list[tuple[str, str]]) -> list[tuple[str, float]]:
        """rank_bm25's BM25Okapi scores of candidate passages (chunk id, their tokens joined by spaces) over
        the live passages' statistics; a repeated query token counts again, as in the local index."""
        from retrieval.index.bm25 import B, K1

        counts = Counter(t for t in query_tokens if self._df.get(t, 0) > 0)
        idf = {term: self._idf(term) for term in counts}
        average = (self._total_length / len(self._chunks) if self._chunks else 0.0) or 1.0
        scored = []
        for chunk_id, text in candidates:
            tf = Counter(t for t in _tokens(text) if t in counts)
            norm = K1 * (1 - B + B * self._lengths[chunk_id] / average)
            score = np.float32(0.0)
            for term, frequency in tf.items():
                weight = np.float32(idf[term] * frequency * (K1 + 1) / (frequency + norm))
                score += weight * np.float32(counts[term])
            scored.append((chunk_id, float(score)))
        return scored

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(1 - w) · passage cosine + w · best sentence cosine, as the local dense leg (retrieval.index.dense):
        candidates are the best 2·k passages and 8·k sentences; a passage found only by its own vector gets
        the lowest sentence cosine returned."""
        from retrieval.index.dense import SENTENCE_WEIGHT

        live = len(self._encoded)
        if live == 0 or k <= 0:
            return []
        query = np.asarray(query_vector, dtype=np.float32)
        passage_k, unit_k = min(2 * k, live, MAX_LIMIT), min(8 * k, MAX_LIMIT)

        def search(collection: str, limit: int, filter: str = ""):
            return self.client.search(collection, data=[query.tolist()], anns_field="vector", limit=limit,
                                      filter=filter, output_fields=["chunk_id"],
                                      search_params={"metric_type": "IP", "params": {"ef": max(HNSW_EF_MIN, limit)}})[0]
        passage_hits = self._guard(lambda: search(self.passages, passage_k, "encoded == true"))
        unit_hits = self._guard(lambda: search(self.units, unit_k))
        cosine = {hit["entity"]["chunk_id"]: float(hit["distance"]) for hit in passage_hits}
        best_sentence: dict[str, float] = {}
        for hit in unit_hits:
            chunk_id = hit["entity"]["chunk_id"]
            best_sentence[chunk_id] = max(best_sentence.get(chunk_id, -1.0), float(hit["distance"]))
        floor = min((float(hit["distance"]) for hit in unit_hits), default=0.0)
        missing = [chunk_id for chunk_id in best_sentence if chunk_id not in cosine]
        for start in range(0, len(missing), 1000):
            batch = missing[start:start + 1000]
            rows = self._guard(lambda: self.client.query(self.passages, filter=_in("chunk_id", batch),
                                                         output_fields=["chunk_id", "vector"]))
            cosine.update({row["chunk_id"]: float(np.asarray(row["vector"], dtype=np.float32) @ query) for row in rows})
        w = SENTENCE_WEIGHT
        mixed = [(chunk_id, (1 - w) * cosine[chunk_id] + w * best_sentence.get(chunk_id, floor))
                 for chunk_id in cosine if chunk_id in self._encoded]
        mixed.sort(key=lambda pair: (-pair[1], pair[0]))
        return mixed[:k]

    def fetch(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        if not chunk_ids:
            return []
        rows = self._guard(lambda: self.client.query(self.passages, filter=_in("chunk_id", list(chunk_ids)),
                                                     output_fields=["chunk_id", "doc_id", "record"]))
        found = {row["chunk_id"]: _chunk_from(row["chunk_id"], row["doc_id"], row["record"]) for row in rows}
        return [found[chunk_id] for chunk_id in chunk_ids if chunk_id in found]

    def count(self) -> int:
        return len(self._chunks)

    def documents(self) -> Mapping[str, Document]:
        return dict(self._documents)

    def chunks(self) -> Mapping[str, Chunk]:
        return dict(self._chunks)

    def term_idf(self, term: str) -> float:
        """rank_bm25's idf from the document frequencies this process keeps (Milvus does not expose them)."""
        return float(np.float32(self._idf(term)))

    def _idf(self, term: str) -> float:
        df = self._df.get(term, 0)
        if df <= 0:
            return 0.0
        n = len(self._chunks)
        idf = math.log(n - df + 0.5) - math.log(df + 0.5)
        if idf >= 0:
            return idf
        if self._idf_floor is None:       # rank_bm25: negative idf floored at EPSILON x the mean idf
            values = np.array([math.log(n - d + 0.5) - math.log(d + 0.5) for d in self._df.values() if d > 0])
            self._idf_floor = EPSILON * float(values.mean()) if len(values) else 0.0
        return self._idf_floor

    def figures(self, chunk_ids: Sequence[str]) -> dict[str, tuple[FigureRecord, ...]]:
        return {chunk_id: self._figures.get(chunk_id, ()) for chunk_id in chunk_ids if chunk_id in self._chunks}

    def unit_vectors(self, chunk_ids: Sequence[str]) -> dict[tuple[str, int], np.ndarray]:
        wanted = [chunk_id for chunk_id in chunk_ids if chunk_id in self._encoded]
        if not wanted:
            return {}
        rows = self._guard(lambda: self.client.query(self.units, filter=_in("chunk_id", wanted),
                                                     output_fields=["chunk_id", "start", "vector"]))
        return {(row["chunk_id"], int(row["start"])): np.asarray(row["vector"], dtype=np.float32) for row in rows}


def milvus_error(error: Exception) -> RetrievalError:
    """A pymilvus error as the library's named error (for callers outside this backend)."""
    return BackendUnavailable(f"检索服务出错或连接中断：{error}。{_RECONNECT_HINT}")
