"""A stand-in for retrieval.jobs.IndexingQueue on tests.fakes.FakeEngine: jobs run at once, or wait when held."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class FakeJob:
    job_id: str
    kind: str
    doc: str
    state: str = "queued"
    progress: float = 0.0
    message: str = "排队中"
    user: str = ""
    started: float | None = None
    finished: float | None = None
    submitted: float = 0.0


class ImmediateQueue:
    """Applies each job to the fake engine as it is submitted; with `hold = True` jobs stay queued until run_held()."""

    def __init__(self, engine):
        self.engine = engine
        self.hold = False
        self._jobs: dict[str, FakeJob] = {}
        self._targets: dict[str, object] = {}
        self._ids = itertools.count(1)

    def add(self, path, user=""):
        return self._submit("add", Path(path).name, user, Path(path))

    def replace(self, path, user=""):
        return self._submit("replace", Path(path).name, user, Path(path))

    def delete(self, doc_id, user=""):
        return self._submit("delete", doc_id, user, doc_id)

    def rebuild(self, user=""):
        return self._submit("rebuild", "", user, None)

    def _submit(self, kind, doc, user, target):
        job = FakeJob(f"job{next(self._ids)}", kind, doc, user=user, submitted=time.time())
        self._jobs[job.job_id] = job
        self._targets[job.job_id] = target
        if not self.hold:
            self._run(job.job_id)
        return self._jobs[job.job_id]

    def _run(self, job_id):
        job, target = self._jobs[job_id], self._targets[job_id]
        if job.kind in ("add", "replace"):
            self.engine.documents.pop(job.doc, None)
            self.engine.chunks = {cid: c for cid, c in self.engine.chunks.items() if c.doc_id != job.doc}
            self.engine.add_document(target)
        elif job.kind == "delete" and job.doc in self.engine.documents:
            self.engine.remove_document(job.doc)
        elif job.kind == "rebuild":
            for doc_id in list(self.engine.documents):
                if not (self.engine.corpus_dir / doc_id).exists():
                    self.engine.remove_document(doc_id)
            for path in sorted(self.engine.corpus_dir.iterdir()):
                if path.is_file() and path.suffix in (".txt", ".md") and not path.name.startswith("."):
                    if path.name not in self.engine.documents:
                        self.engine.add_document(path)
        self._jobs[job_id] = replace(job, state="done", progress=1.0, message="完成", finished=time.time())

    def run_held(self):
        for job_id, job in list(self._jobs.items()):
            if job.state == "queued":
                self._run(job_id)

    def status(self):
        return list(self._jobs.values())

    def job(self, job_id):
        return self._jobs.get(job_id)

    def cancel(self, job_id):
        job = self._jobs.get(job_id)
        if job is None or job.state != "queued":
            return False
        self._jobs[job_id] = replace(job, state="cancelled", message="已取消", finished=time.time())
        return True
