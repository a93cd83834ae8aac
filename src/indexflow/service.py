"""The facade used by the CLI, the HTTP API and library users.

from indexflow import Indexflow
ix = Indexflow()                       # settings from the environment, embedded default
report = ix.ingest(["./docs"], dataset="default", wait=True)
for hit in ix.search("how do I install it?", k=5):
    print(hit.score, hit.document.source, hit.text)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexflow.admin import AdminMixin
from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db.session import transaction
from indexflow.errors import IndexflowError, InvalidRequest, NoWorkers
from indexflow.lifecycle import LifecycleMixin
from indexflow.pipeline.register import Registration, register_source
from indexflow.query.search import Hit, search
from indexflow.reports import DocumentReport, IngestReport, Progress, document_status, plan_view
from indexflow.runtime import Runtime
from indexflow.settings import Settings
from indexflow.sources import Source, expand
from indexflow.tasks.runner import TaskRunner


@dataclass(slots=True)
class _Pending:
    source: str
    registration: Registration | None = None
    error: str | None = None
    plan_ids: list[int] = field(default_factory=list)


class Indexflow(LifecycleMixin, AdminMixin):
    """Ingest, follow, search and manage an index; the same code on every backend.

    Args:
        settings: effective settings; by default read from the environment.
        **overrides: field overrides for ``Settings`` (e.g. ``home="./state"``).
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        base = settings or Settings()
        # Re-validated (not model_copy) so overrides are coerced like the environment is.
        self.settings = Settings(**(base.model_dump() | overrides)) if overrides else base
        self.rt = Runtime(self.settings)
        self.rt.ensure_schema()
        self._tasks: TaskRunner | None = None

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def tasks(self) -> TaskRunner:
        if self._tasks is None:
            self._tasks = TaskRunner(self.rt)
        return self._tasks

    def close(self) -> None:
        if self._tasks is not None:
            self._tasks.close()
            self._tasks = None
        self.rt.close()

    def __enter__(self) -> Indexflow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest -----------------------------------------------------------------------------------
    def enqueue_source(
        self,
        source: Source | str,
        *,
        dataset: str = "default",
        data: bytes | None = None,
        profiles: list[str] | None = None,
    ) -> Registration:
        """Register one document (path, URI or uploaded bytes) and send its work; never waits."""
        if isinstance(source, Source):
            src = source
        elif data is not None:
            src = Source(str(source), str(source).rstrip("/").rsplit("/", 1)[-1])
        else:
            found = list(expand([source]))
            text = str(source)
            single = len(found) == 1 and (
                "://" in text or found[0].source == str(Path(text).expanduser().resolve())
            )
            if not single:
                raise InvalidRequest(f"{source}: not a single document; use ingest() for folders")
            src = found[0]
        self.tasks.own_home()
        try:
            payload = data if data is not None else src.read(self.settings.max_document_bytes)
        except OSError as exc:
            raise InvalidRequest(f"{src.source}: cannot read: {exc.strerror or exc}") from exc
        reg = register_source(
            self.rt,
            dataset=dataset,
            source=src.source,
            data=payload,
            filename=src.filename,
            profiles=profiles,
        )
        self._after_commit(reg)
        return reg

    def _after_commit(self, reg: Registration) -> None:
        from indexflow.tasks.execute import after_commit

        after_commit(self.rt, reg.applied, self.tasks.outbox)

    def ingest(
        self,
        paths: Iterable[str] | str,
        *,
        dataset: str = "default",
        wait: bool = True,
        profiles: list[str] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        timeout: float | None = None,
        require_workers: bool = True,
    ) -> IngestReport:
        """Ingest files, folders (recursively) and URIs into ``dataset``.

        Each document is committed and its work enqueued one at a time (memory stays flat). With
        ``wait`` the call follows progress in the database until every plan has finished.

        With a broker, a needed queue without a live worker raises ``NoWorkers`` before anything
        is registered, unless ``require_workers`` is false (register now, wait for a worker).

        Returns:
            A report with one entry per document: its status, plans and any error.
        """
        if isinstance(paths, str):
            paths = [paths]
        if not self.tasks.in_process and require_workers:
            missing = self.missing_workers(wait=self.settings.worker_wait_seconds)
            if missing:
                raise NoWorkers(
                    f"no worker is listening on {', '.join(missing)}; start one with `indexflow worker` "
                    "(or ingest with --keep-waiting to register now and wait for one)"
                )
        if self.tasks.in_process:
            # This process is the worker: start it now, so plans left unfinished by an earlier run
            # (killed mid-ingest) are resumed even if every file is unchanged this time.
            self.tasks.start_worker(self.settings.in_process_threads)
        pending: list[_Pending] = []
        next_report = 0.0
        skipped: list[str] = []
        for src in _safe_expand(paths, pending, skipped):
            entry = _Pending(src.source)
            try:
                entry.registration = self.enqueue_source(src, dataset=dataset, profiles=profiles)
                entry.plan_ids = entry.registration.plan_ids
            except IndexflowError as exc:
                entry.error = str(exc)
            except OSError as exc:
                entry.error = f"{src.source}: {exc.strerror or exc}"
            pending.append(entry)
            if on_progress is not None and time.monotonic() >= next_report:
                # Throttled: a progress read per document would cost O(n²) on big corpora.
                on_progress(self.progress([p for e in pending for p in e.plan_ids], registered=len(pending)))
                next_report = time.monotonic() + 0.5
        plan_ids = [p for e in pending for p in e.plan_ids]
        if wait:
            self.wait(plan_ids, on_progress=on_progress, timeout=timeout, registered=len(pending))
        report = self._report(dataset, pending)
        report.skipped = skipped
        return report

    def wait(
        self,
        plan_ids: list[int],
        *,
        on_progress: Callable[[Progress], None] | None = None,
        timeout: float | None = None,
        registered: int | None = None,
        poll: float = 0.25,
    ) -> Progress:
        """Block until every plan in ``plan_ids`` is EMBEDDED or FAILED (state read from the DB)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            prog = self.progress(plan_ids, registered=registered)
            if on_progress is not None:
                on_progress(prog)
            if prog.finished:
                return prog
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{prog.plans_total - prog.plans_done} plans still running")
            # Large waits poll less often: each poll reads every plan's row.
            time.sleep(poll if len(plan_ids) < 500 else max(poll, 1.0))

    def progress(self, plan_ids: list[int], *, registered: int | None = None) -> Progress:
        with transaction(self.rt.readers) as s:
            return Progress.of(plans_repo.progress_rows(s, plan_ids), registered=registered)

    def _report(self, dataset: str, pending: list[_Pending]) -> IngestReport:
        docs: list[DocumentReport] = []
        with transaction(self.rt.readers) as s:
            for e in pending:
                if e.registration is None:
                    docs.append(DocumentReport(source=e.source, status="FAILED", error=e.error))
                    continue
                doc = docs_repo.get_document(s, e.registration.document_id)
                plans = [plans_repo.get(s, pid) for pid in e.plan_ids]
                docs.append(
                    DocumentReport(
                        source=e.source,
                        document_id=doc.id,
                        title=doc.title,
                        outcome=e.registration.outcome,
                        status=document_status(plans),
                        plans=[plan_view(p) for p in plans],
                        error=next((p.last_error for p in plans if p.last_error), None),
                    )
                )
        return IngestReport(dataset=dataset, documents=docs)

    # -- read -------------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        dataset: str = "default",
        k: int = 10,
        profile: str | None = None,
        document_ids: list[int] | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks most similar to ``query`` among the dataset's searchable documents."""
        return search(self.rt, query, dataset=dataset, k=k, profile=profile, document_ids=document_ids)

    def workers(self) -> list[dict[str, Any]]:
        """Live worker processes (heartbeat within the last few beats): host, pid, queues, units."""
        from datetime import timedelta

        from indexflow.db import units as units_repo
        from indexflow.db.models import utcnow
        from indexflow.reports import iso

        since = utcnow() - timedelta(seconds=3 * self.settings.heartbeat_seconds + 5)
        with transaction(self.rt.readers) as s:
            return [
                {
                    "id": w.id,
                    "host": w.host,
                    "pid": w.pid,
                    "queues": list(w.queues),
                    "threads": w.threads,
                    "running_units": list(w.running),
                    "started_at": iso(w.started_at),
                    "last_beat": iso(w.beat_at),
                    "idle_since": iso(w.idle_since),
                }
                for w in units_repo.live_workers(s, since)
            ]

    def missing_workers(self, *, wait: float = 0.0) -> list[str]:
        """The queues ingest needs that no live worker listens on (empty in-process).

        With ``wait``, keeps looking that many seconds (a worker that just started beats soon).
        """
        if self.tasks.in_process:
            return []
        deadline = time.monotonic() + wait
        while True:
            listening = {q for w in self.workers() for q in w["queues"]}
            missing = [q for q in (self.settings.plan_queue, self.settings.embed_queue) if q not in listening]
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(0.5)

    def datasets(self) -> list[str]:
        """Names of the datasets that exist."""
        with transaction(self.rt.readers) as s:
            return [d.name for d in docs_repo.list_datasets(s)]

    def status(self, *, dataset: str | None = None) -> list[DocumentReport]:
        """Every document (optionally of one dataset) with its plans' status, counts and errors."""
        with transaction(self.rt.readers) as s:
            ds_id = docs_repo.get_dataset(s, dataset).id if dataset else None
            documents = docs_repo.list_documents(s, ds_id)
            plans = plans_repo.for_documents(s, [d.id for d in documents])
            by_doc: dict[int, list[Any]] = {}
            for p in plans:
                by_doc.setdefault(p.document_id, []).append(p)
            out = []
            for d in documents:
                current = [p for p in by_doc.get(d.id, []) if p.version_id == d.current_version_id]
                out.append(
                    DocumentReport(
                        source=d.source,
                        document_id=d.id,
                        title=d.title,
                        dataset=d.dataset.name,
                        is_active=d.is_active,
                        status=document_status(current) if d.is_active else "INACTIVE",
                        plans=[plan_view(p) for p in by_doc.get(d.id, [])],
                        error=next((p.last_error for p in current if p.last_error), None),
                    )
                )
            return out


def _safe_expand(paths: Iterable[str], pending: list[_Pending], skipped: list[str]) -> Iterable[Source]:
    for p in paths:
        try:
            yield from expand([p], skipped)
        except IndexflowError as exc:
            pending.append(_Pending(str(p), error=str(exc)))


__all__ = ["Indexflow"]
