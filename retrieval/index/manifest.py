"""What an index directory says about itself: the manifest written with a build or a change, and the snapshot
read back from a verified directory."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from retrieval.encode.encoders import Encoder
from retrieval.errors import IndexMismatch
from retrieval.index import store, vector_cache
from retrieval.index.dense import SENTENCE_WEIGHT
from retrieval.index.local import SegmentIndex
from retrieval.index.state import IndexState
from retrieval.ingest.chunking import ChunkingConfig
from retrieval.ingest.metadata import METADATA_VERSION
from retrieval.ingest.passages import FIGURES_VERSION
from retrieval.ingest.readers import READER_VERSION
from retrieval.text.tokenizer import TOKENIZER_NAME, JiebaTokenizer, _read_terms

CHUNKER_VERSION = 3   # 2: numbered items are body text; title parts recorded as heading_spans; 3: signatures, meeting lines and salutations are not headings


def domain_terms_hash() -> str:
    from retrieval.text.tokenizer import RESOURCES, dictionary_hash

    terms = _read_terms(RESOURCES / "domain_terms.txt") + sorted(_read_terms(RESOURCES / "stopwords.txt"))
    return dictionary_hash(terms)


def base_manifest(encoder: Encoder, tokenizer: JiebaTokenizer, terms: Sequence[str], chunking: ChunkingConfig,
                  prints: dict, skipped: dict, calibration: dict, *, documents: int, chunks: int, units: int,
                  encoded: int, seconds: float) -> dict:
    from retrieval.index.bm25 import B, EPSILON, K1

    return {
        "format_version": store.INDEX_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "library_versions": store.library_versions(),
        "encoder": {"model_id": encoder.model_id, "dim": encoder.dim},
        "tokenizer": {"name": TOKENIZER_NAME, "dictionary_hash": tokenizer.dictionary_hash,
                      "domain_terms_hash": domain_terms_hash(), "terms": len(terms)},
        "bm25": {"k1": K1, "b": B, "epsilon": EPSILON},
        "dense": {"search": "exact below the IVF threshold, IVF with exact re-rank above", "normalised": True,
                  "input": "passage text", "passage_vector": vector_cache.PASSAGE_VECTORS, "sentence_weight": SENTENCE_WEIGHT,
                  "answer_units": units,
                  "query_unit_similarity": calibration},
        "chunking": {**asdict(chunking), "version": CHUNKER_VERSION},
        "ingest": {"reader_version": READER_VERSION, "metadata_version": METADATA_VERSION},
        "figures": {"version": FIGURES_VERSION},
        "corpus": prints,
        "skipped": skipped,
        "counts": {"documents": documents, "chunks": chunks, "units": units, "encoded": encoded},
        "build_seconds": round(seconds, 2),
    }


def load_state(index_dir: Path, manifest: dict) -> IndexState:
    """The snapshot of a verified index directory."""
    terms = [t for t in (index_dir / "userdict.txt").read_text(encoding="utf-8").split("\n") if t]
    tokenizer = JiebaTokenizer(terms)
    if tokenizer.dictionary_hash != manifest["tokenizer"]["dictionary_hash"]:
        raise IndexMismatch(f"dictionary in {index_dir} does not match its manifest: rebuild the index")
    index = SegmentIndex.load(index_dir, manifest, SENTENCE_WEIGHT)
    counts = manifest.get("counts", {})
    if index.count() != counts.get("chunks") or index.unit_count() != counts.get("units"):
        raise IndexMismatch(f"index in {index_dir} is inconsistent ({index.count()} passages, {index.unit_count()} "
                            f"units, manifest {counts}): rebuild with `python -m retrieval build --force`")
    return IndexState(manifest, index, tokenizer, tuple(terms))


def changed_manifest(state: IndexState, index: SegmentIndex, prints: dict, skipped: dict, encoded: int,
                      seconds: float) -> dict:
    manifest = {key: value for key, value in state.manifest.items() if key != "files"}
    manifest.update(created=datetime.now(timezone.utc).isoformat(timespec="seconds"), corpus=prints,
                    skipped=skipped, build_seconds=round(seconds, 2),
                    counts={"documents": len(index.documents), "chunks": index.count(), "units": index.unit_count(),
                            "encoded": encoded})
    manifest["dense"] = {**manifest["dense"], "answer_units": index.unit_count()}
    return manifest
