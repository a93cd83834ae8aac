"""Ingest: register sources (files, folders, URIs, uploads) and follow their plans.

The facade's ``ingest``, ``enqueue_source``, ``wait`` and ``progress`` are this collaborator's:
listing (``sources/``), the unread skip of an unchanged source (its fingerprint), sidecar
metadata, registration (``pipeline/register.py``), ``--sync`` deactivation and the report.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db import units as units_repo
from indexflow.domain import metadata as md
from indexflow.errors import IndexflowError, InvalidRequest, NotFound, NoWorkers, invalid_request
from indexflow.limits import FINGERPRINT_MAX
from indexflow.manage.context import Context
from indexflow.manage.documents import Documents
from indexflow.manage.maintenance import Maintenance
from indexflow.pipeline.register import Registration, check_dataset, register_source
from indexflow.sources import Source, UriPolicy, basename, expand
from indexflow.sources.local import sidecar_metadata
from indexflow.views import DocumentReport, IngestReport, PlanView, Progress, Registered, document_status


@dataclass(slots=True)
class _Pending:
    source: str
    registration: Registration | None = None
    error: str | None = None
    plan_ids: list[int] = field(default_factory=list)


@dataclass
class _Scope:
    """What one ingest call looks up once for all its files (``Ingestion._ingest_one``)."""

    dataset_id: int | None = None
    wanted: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Listing:
    """What an ingest's listing saw: every source listed, and the roots listed without error."""

    seen: set[str] = field(default_factory=set)
    complete: list[str] = field(default_factory=list)


class Ingestion:
    """Registering documents and following their plans, for the facade."""

    def __init__(
        self,
        ctx: Context,
        documents: Documents,
        maintenance: Maintenance,
        start_worker: Callable[[], None],
    ) -> None:
        self._ctx = ctx
        self._documents = documents
        self._maintenance = maintenance
        self._start_worker = start_worker

    @property
    def _in_process(self) -> bool:
        return not self._ctx.settings.broker_url

    def enqueue(
        self,
        source: Source | str,
        *,
        dataset: str = "default",
        data: bytes | None = None,
        profiles: list[str] | None = None,
        policy: UriPolicy | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Registered:
        """``Indexflow.enqueue_source``: register one document and send its work; never waits."""
        return _view(
            self.register(
                source, dataset=dataset, data=data, profiles=profiles, policy=policy, metadata=metadata
            )
        )

    def register(
        self,
        source: Source | str,
        *,
        dataset: str,
        data: bytes | None = None,
        profiles: list[str] | None = None,
        policy: UriPolicy | None = None,
        metadata: Mapping[str, Any] | None = None,
        fingerprint: str | None = None,
    ) -> Registration:
        if policy is not None and data is None:
            # checked before expand(): a refused path is not even looked at
            src = policy.source(source.source if isinstance(source, Source) else str(source))
        elif isinstance(source, Source):
            src = source
        elif data is not None:
            src = Source(str(source), basename(str(source)))
        else:
            found = list(expand([source]))
            text = str(source)
            single = len(found) == 1 and (
                "://" in text or found[0].source == str(Path(text).expanduser().resolve())
            )
            if not single:
                raise InvalidRequest(f"{source}: not a single document; use ingest() for folders")
            src = found[0]
        self._ctx.own_home()
        with invalid_request():
            given = md.normalize(metadata)
        if data is None and policy is None:
            given = {**given, **sidecar_metadata(src.source)}  # the file's own sidecar is more specific
        try:
            payload = data if data is not None else src.read(self._ctx.settings.max_document_bytes, policy)
        except OSError as exc:
            raise InvalidRequest(f"{src.source}: cannot read: {exc.strerror or exc}") from exc
        reg = register_source(
            self._ctx.rt,
            dataset=dataset,
            source=src.source,
            data=payload,
            filename=src.filename,
            profiles=profiles,
            metadata=given,
            fingerprint=fingerprint,
        )
        self._ctx.send(reg.applied)
        return reg

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
        metadata: Mapping[str, Any] | None = None,
        sync: bool = False,
    ) -> IngestReport:
        """``Indexflow.ingest`` (its docstring says what each option does): list, skip the unchanged
        unread, register one document at a time (memory stays flat), sync, wait, report."""
        if isinstance(paths, str):
            paths = [paths]
        with invalid_request():
            metadata = md.normalize(metadata)
        with self._ctx.read() as s:
            check_dataset(s, dataset)  # one clear error before any document is read
        if not self._in_process and require_workers:
            missing = self._maintenance.missing_workers(wait=self._ctx.settings.worker_wait_seconds)
            if missing:
                raise NoWorkers(
                    f"no worker is listening on {', '.join(missing)}; start one with `indexflow worker` "
                    "(or ingest with --keep-waiting to register now and wait for one)"
                )
        worker_started = False
        if self._in_process:
            # This process is the worker. It starts now when an earlier run left work (killed
            # mid-ingest: resumed even if every file is unchanged this time), else with the first
            # document that needs reading: an unchanged re-ingest starts no worker at all.
            with self._ctx.read() as s:
                leftover = units_repo.has_unfinished_work(s)
            if leftover:
                self._start_worker()
                worker_started = True
        pending: list[_Pending] = []
        next_report = 0.0
        skipped: list[str] = []
        listing = _Listing()
        scope = _Scope()
        for src in _safe_expand(paths, pending, skipped, listing):
            entry = _Pending(src.source)
            try:
                entry.registration = self._ingest_one(
                    src, dataset=dataset, profiles=profiles, metadata=metadata, scope=scope
                )
                entry.plan_ids = entry.registration.plan_ids
                if self._in_process and not worker_started and entry.registration.outcome != "unchanged":
                    self._start_worker()
                    worker_started = True
            except IndexflowError as exc:
                entry.error = str(exc)
            except OSError as exc:
                entry.error = f"{src.source}: {exc.strerror or exc}"
            pending.append(entry)
            if on_progress is not None and time.monotonic() >= next_report:
                # Throttled: a progress read per document would cost O(n²) on big corpora.
                on_progress(self.progress([p for e in pending for p in e.plan_ids], registered=len(pending)))
                next_report = time.monotonic() + 0.5
        deactivated = self._sync(dataset, listing, skipped) if sync else []
        plan_ids = [p for e in pending for p in e.plan_ids]
        if wait:
            self.wait(plan_ids, on_progress=on_progress, timeout=timeout, registered=len(pending))
        return self._report(dataset, pending, skipped, deactivated)

    def _ingest_one(
        self,
        src: Source,
        *,
        dataset: str,
        profiles: list[str] | None,
        metadata: Mapping[str, Any],
        scope: _Scope | None = None,
    ) -> Registration:
        """Register one listed source, or skip it unread when its fingerprint says it is unchanged.

        ``scope``: the ingest call's dataset id and wanted profile ids, looked up on first use
        (and again while the dataset does not exist yet)."""
        fingerprint = None
        if src.fingerprint is not None:
            # Metadata is part of a version's identity: the same look with other metadata is a change.
            given = {**metadata, **sidecar_metadata(src.source)}
            fingerprint = f"{src.fingerprint}|{md.identity(given)}"
            if len(fingerprint) > FINGERPRINT_MAX:
                fingerprint = "sha256:" + hashlib.sha256(fingerprint.encode()).hexdigest()
            with self._ctx.read() as s:
                found = None
                # The dataset and the wanted profiles are looked up once per ingest call, not
                # per file (an unchanged re-ingest is these lookups and nothing else).
                scope = scope or _Scope()
                if scope.dataset_id is None:
                    scope.dataset_id = docs_repo.find_dataset_id(s, dataset)
                    if profiles:
                        scope.wanted = [profiles_repo.get_by_name(s, name).id for name in profiles]
                    else:
                        scope.wanted = [p.id for p in profiles_repo.active(s)]
                if scope.dataset_id is not None:
                    found = docs_repo.find_unchanged(
                        s, scope.dataset_id, src.source, fingerprint, scope.wanted
                    )
            if found is not None:
                return Registration(found.document_id, found.version_id, found.plan_ids, "unchanged")
        return self.register(
            src, dataset=dataset, profiles=profiles, metadata=metadata, fingerprint=fingerprint
        )

    def _sync(self, dataset: str, listing: _Listing, skipped: list[str]) -> list[str]:
        """Deactivate the dataset's documents under a completely listed root that it no longer lists."""
        # An unsupported file is there all the same (a folder's skipped files are listed unresolved).
        seen = listing.seen | {p if "://" in p else str(Path(p).resolve()) for p in skipped}
        gone: dict[int, str] = {}
        with self._ctx.read() as s:
            dataset_id = docs_repo.find_dataset_id(s, dataset)
            if dataset_id is None:
                return []
            for root in listing.complete:
                exact, prefix = _scope(root)
                for document_id, source in docs_repo.active_under(s, dataset_id, exact, prefix):
                    if source not in seen:
                        gone[document_id] = source
        out: list[str] = []
        for document_id, source in sorted(gone.items(), key=lambda item: item[1]):
            try:
                self._documents.deactivate(document_id)
            except NotFound:
                continue  # deleted meanwhile: gone all the same, but not by us
            out.append(source)
        return out

    def wait(
        self,
        plan_ids: list[int],
        *,
        on_progress: Callable[[Progress], None] | None = None,
        timeout: float | None = None,
        registered: int | None = None,
        poll: float = 0.25,
    ) -> Progress:
        """``Indexflow.wait``: poll the plans' rows until each is EMBEDDED or FAILED."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # Large waits poll less often: each poll reads every plan's row. Small ones start fast
        # and back off, so a plan that finishes in 50 ms is not reported 250 ms late.
        longest = poll if len(plan_ids) < 500 else max(poll, 1.0)
        interval = min(0.02, longest)
        while True:
            prog = self.progress(plan_ids, registered=registered)
            if on_progress is not None:
                on_progress(prog)
            if prog.finished:
                return prog
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{prog.plans_total - prog.plans_done} plans still running")
            time.sleep(interval)
            interval = min(interval * 1.5, longest)

    def progress(self, plan_ids: list[int], *, registered: int | None = None) -> Progress:
        """Where these plans stand: parsed, bundled, embedded chunks, done and failed."""
        with self._ctx.read() as s:
            return Progress.of(plans_repo.progress_rows(s, plan_ids), registered=registered)

    def _report(
        self, dataset: str, pending: list[_Pending], skipped: list[str], deactivated: list[str]
    ) -> IngestReport:
        docs: list[DocumentReport] = []
        with self._ctx.read() as s:
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
                        dataset=dataset,
                        outcome=e.registration.outcome,
                        status=document_status(plans),
                        plans=[PlanView.of(p) for p in plans],
                        error=next((p.last_error for p in plans if p.last_error), None),
                    )
                )
        return IngestReport(dataset=dataset, documents=docs, skipped=skipped, deactivated=deactivated)


def _view(reg: Registration) -> Registered:
    return Registered(
        document_id=reg.document_id, version_id=reg.version_id, plan_ids=reg.plan_ids, outcome=reg.outcome
    )


def _safe_expand(
    paths: Iterable[str], pending: list[_Pending], skipped: list[str], listing: _Listing
) -> Iterator[Source]:
    """Every source under ``paths``; a path that fails to list is an entry with its error."""
    for p in paths:
        walk_errors: list[OSError] = []
        try:
            for src in expand([p], skipped, walk_errors):
                listing.seen.add(src.source)
                yield src
        except IndexflowError as exc:
            pending.append(_Pending(str(p), error=str(exc)))
            continue
        except OSError as exc:
            pending.append(_Pending(str(p), error=f"{p}: cannot list: {exc.strerror or exc}"))
            continue
        for err in walk_errors:  # a folder it could not read: its documents are not "gone"
            where = str(err.filename or p)
            pending.append(_Pending(where, error=f"{where}: cannot list: {err.strerror or err}"))
        if not walk_errors:
            listing.complete.append(str(p))


def _scope(root: str) -> tuple[str, str]:
    """A root's own source and the prefix of every source listed under it."""
    if "://" in root and not root.startswith("file://"):
        from indexflow.sources.remote import prefix_of

        return root, prefix_of(root)
    path = str(Path(root.removeprefix("file://")).expanduser().resolve())
    return path, path.rstrip(os.sep) + os.sep


__all__ = ["Ingestion"]
