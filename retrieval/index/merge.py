"""The merge policy of the local segments: which to merge after a change, and merging them (nothing re-read)."""
from __future__ import annotations

from typing import Sequence
from pathlib import Path

from retrieval.index.local import SegmentIndex
from retrieval.index.state import IndexState

MAX_SEGMENTS = 8                  # more than this after a change: the small segments are merged
MAX_DELETED_SHARE = 0.3           # a segment with more deleted passages than this is compacted by a merge


def merge_plan(index: SegmentIndex) -> list[str]:
    """Segments to merge now: the smaller ones when there are too many, and those mostly deleted."""
    if not index.segments:
        return []
    crowded = len(index.segments) > MAX_SEGMENTS
    largest = max(s.size for s in index.segments)
    chosen = [s.segment_id for s in index.segments
              if (crowded and s.size < max(largest, 1) / 4 and s.encoded)
              or (s.encoded and len(index.deleted.get(s.segment_id, ())) > MAX_DELETED_SHARE * s.size)]
    return chosen if len(chosen) >= 2 or (chosen and index.deleted.get(chosen[0])) else []


def merge_segments(state: IndexState, index_dir: Path, segment_ids: Sequence[str]) -> IndexState:
    """The segments replaced by one (live passages only, nothing re-read or re-encoded), saved."""
    index = state.index.merged(segment_ids)
    manifest = {key: value for key, value in state.manifest.items() if key != "files"}
    manifest = index.save(index_dir, manifest, list(state.terms))
    return IndexState(manifest, index, state.tokenizer, state.terms)
