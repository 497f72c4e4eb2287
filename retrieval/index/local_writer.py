"""The local segments' writer: retrieval.index.builder's build and change functions behind the IndexWriter protocol."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from retrieval.encode.encoders import Encoder
from retrieval.index import builder, merge
from retrieval.index.progress import Pause, Phase, Progress, ShouldStop, Timing, never_stop, no_phase, no_progress, no_timing
from retrieval.index.state import IndexState
from retrieval.ingest.chunking import ChunkingConfig


class LocalWriter:
    """Writes the index directory: immutable segments plus deleted rows (see retrieval.index.builder)."""

    name = "local"

    def full_build(self, corpus_dir: Path, index_dir: Path, encoder: Encoder, chunking: ChunkingConfig,
                   progress: Progress = no_progress, previous: IndexState | None = None, *,
                   publish: Callable[[IndexState], None] | None = None, phase: Phase = no_phase, should_stop: ShouldStop = never_stop,
                   exclude: frozenset[str] = frozenset(), timing: Timing = no_timing) -> IndexState:
        return builder.full_build(corpus_dir, index_dir, encoder, chunking, progress, previous, publish=publish,
                                  phase=phase, should_stop=should_stop, exclude=exclude, timing=timing)

    def add_document(self, state: IndexState, corpus_dir: Path, index_dir: Path, path: Path, encoder: Encoder,
                     chunking: ChunkingConfig, progress: Progress = no_progress, *, publish: Callable[[IndexState], None] | None = None,
                     phase: Phase = no_phase, should_stop: ShouldStop = never_stop,
                     background: bool = False) -> IndexState:
        return builder.add_document(state, corpus_dir, index_dir, path, encoder, chunking, progress, publish=publish,
                                    phase=phase, should_stop=should_stop, background=background)

    def remove_documents(self, state: IndexState, corpus_dir: Path, index_dir: Path, doc_ids: Sequence[str],
                         forget_files: Sequence[str] = ()) -> IndexState:
        return builder.remove_documents(state, corpus_dir, index_dir, doc_ids, forget_files)

    def record_unreadable(self, state: IndexState, index_dir: Path, name: str, digest: str,
                          reason: str) -> IndexState:
        return builder.record_unreadable(state, index_dir, name, digest, reason)

    def finish_encoding(self, state: IndexState, index_dir: Path, encoder: Encoder, progress: Progress = no_progress,
                        *, should_stop: ShouldStop = never_stop, pause: Pause = never_stop) -> IndexState:
        return builder.finish_encoding(state, index_dir, encoder, progress, should_stop=should_stop, pause=pause)

    def compact(self, state: IndexState, index_dir: Path) -> IndexState:
        """The small or mostly deleted segments merged into one (retrieval.index.merge), when there are such."""
        plan = merge.merge_plan(state.index) if state.index is not None else []
        return merge.merge_segments(state, index_dir, plan) if plan else state
