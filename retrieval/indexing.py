"""Background indexing: one worker thread applies corpus changes as jobs while questions keep being answered.

API (the app codes against this; everything else here is internal):

    engine = SearchEngine.open(corpus_dir, index_dir)       # as before
    engine.indexing                     # IndexingQueue, owned by the engine, worker thread started on first job
    job = engine.indexing.add(path, user="")      # a file already written inside corpus_dir → IndexingJob (queued)
    job = engine.indexing.replace(path, user="")  # a new version of an indexed file, already written over it
    job = engine.indexing.delete(doc_id, user="") # drop from the index, then remove corpus file + metadata override
    job = engine.indexing.rebuild(user="")        # re-read the whole corpus directory
    engine.indexing.status() -> list[IndexingJob]  # every job of this process (last 200), oldest first
    engine.indexing.job(job_id) -> IndexingJob | None
    engine.indexing.cancel(job_id) -> bool  # True if it was queued or running; a running job stops at the next
                                            # batch boundary and the index (memory and disk) stays as it was
    engine.indexing.wait(job_id, timeout=None) -> IndexingJob   # blocks until done/failed/cancelled
    engine.start_watching(interval=1.0) / engine.stop_watching()  # corpus/ changes made outside the app
                                            # become jobs (user "watcher") within a few seconds
    engine.dense_pending -> tuple[str, ...]  # doc ids searchable by BM25 only right now (vectors being encoded)
    AskResult.dense_pending: tuple[str, ...] # the same, for the snapshot a result was answered from

    IndexingJob (frozen): job_id: str, kind: "add" | "replace" | "delete" | "rebuild", doc: str (doc id, "" for
        rebuild), state: "queued" | "chunking" | "encoding" | "done" | "failed" | "cancelled", progress: float 0..1,
        message: str (Chinese, for users), user: str, started: float | None, finished: float | None (epoch seconds),
        submitted: float. A failed job's message names the reason (e.g. the IngestError of an unreadable file).

    Synchronous calls keep working and share the same code path: engine.add_document(path),
    engine.replace_document(path), engine.remove_document(doc_id), engine.update_metadata(...), engine.rebuild().

Publishing is two-phase: once the corpus is read, chunked and its BM25 built, a state where new passages are
found by BM25 only is swapped in; then the missing vectors are encoded in batches and the full state is saved
(checksummed, atomically renamed) and swapped in. Writers of one index directory, in any process, take turns
through an OS file lock (retrieval.store.IndexWriterLock); a writer that waits too long raises IndexLocked naming
the holder (pid, host, since).

Validation (retrieval.validation): validate_request(question, k=5, year=None, org=None) -> the stripped question,
or InvalidQuery with a clear message; constants MAX_QUESTION_CHARS, MAX_K, MIN_YEAR, MAX_YEAR, MAX_ORG_CHARS.
"""
