"""Maintenance: purge, reconcile the store with the database, workers and health."""

from __future__ import annotations

import time
from datetime import timedelta

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db import session as db_session
from indexflow.db import units as units_repo
from indexflow.db import webhooks as webhooks_repo
from indexflow.db.models import utcnow
from indexflow.domain.webhooks import DOCUMENT_DELETED
from indexflow.errors import InvalidRequest
from indexflow.manage.context import Context
from indexflow.manage.plans import Plans
from indexflow.stores.base import SearchFilter
from indexflow.views import Health, PurgeReport, ReconcileReport, WorkerView


class Maintenance:
    """``ix.maintenance``: the operator's tools."""

    def __init__(self, ctx: Context, plans: Plans) -> None:
        self._ctx = ctx
        self._plans = plans

    # -- purge ------------------------------------------------------------------------------------
    def purge(
        self,
        *,
        document_id: int | None = None,
        profile: str | None = None,
        dataset: str | None = None,
        dry_run: bool = False,
        preserve_vectors: bool = False,
    ) -> PurgeReport:
        """Remove plans (and their chunks and vectors) for a document, a profile or a dataset.

        ``dry_run`` lists exactly what would go and changes nothing.

        Raises:
            InvalidRequest: not exactly one of ``document_id``, ``profile``, ``dataset``.
        """
        if sum(x is not None for x in (document_id, profile, dataset)) != 1:
            raise InvalidRequest("purge needs exactly one of --document, --profile, --dataset")
        ctx = self._ctx
        report = PurgeReport(dry_run=dry_run, preserve_vectors=preserve_vectors)
        with ctx.write() as s:
            if document_id is not None:
                docs_repo.get_document(s, document_id)
                plans = plans_repo.for_document(s, document_id, for_update=True)
                report.documents = [document_id]
            elif profile is not None:
                prof = profiles_repo.get_by_name(s, profile)
                plans = plans_repo.for_profile(s, prof.id)
                report.profiles = [prof.name]
            else:
                assert dataset is not None
                ds = docs_repo.get_dataset(s, dataset)
                report.datasets = [ds.name]
                report.documents = docs_repo.ids_in_dataset(s, ds.id)
                plans = plans_repo.for_dataset(s, ds.id)
            report.plans = [p.id for p in plans]
            targets = [(p.id, p.profile.collection) for p in plans]
            report.chunks = plans_repo.count_chunks_of(s, report.plans)
            by_collection: dict[str, list[int]] = {}
            for pid, coll in targets:
                by_collection.setdefault(coll, []).append(pid)
            report.points = sum(
                ctx.store.count(coll, SearchFilter(plan_ids=tuple(ids), only_enabled=False))
                for coll, ids in by_collection.items()
            )
            if dry_run:
                return report
            if report.documents:  # purged documents are deleted ones: webhooks hear of each
                webhooks_repo.announce_documents(s, DOCUMENT_DELETED, report.documents, purged=True)
            plans_repo.delete_plans(s, plans)
            if document_id is not None:
                docs_repo.delete_document_by_id(s, document_id)
            elif profile is not None:
                profiles_repo.delete(s, profile)
            else:
                assert dataset is not None
                docs_repo.delete_dataset(s, dataset)
        if not preserve_vectors:
            for plan_id, collection in targets:
                ctx.store.delete_by_plan(collection, plan_id)
            if profile is not None:
                for collection in by_collection:
                    ctx.store.drop_collection(collection)
                    # SQLite may give the next profile this id (so this collection name) again:
                    # forget that it was ensured, so the next write creates it anew.
                    ctx.rt.forget_collection(collection)
        return report

    # -- reconcile --------------------------------------------------------------------------------
    def reconcile(self, *, fix: bool = False) -> ReconcileReport:
        """Compare store and database: orphan points, detached collections, plans missing points.

        A point is an orphan only if, checked again in the database *after* the store scan, no
        live plan owns it: its chunk row is gone (or its plan is unknown) and its plan is not
        being built, or its plan is retired. So points written while the scan runs are never
        taken for orphans. Collections named like indexflow's whose profile is gone (a purge
        with ``--preserve-vectors``, or one whose store was down) are listed as detached.
        With ``fix``: orphans are deleted, detached collections dropped, plans missing points
        rebuilt.
        """
        ctx = self._ctx
        report = ReconcileReport(fixed=fix)
        with ctx.read() as s:
            profiles = {p.collection: p.id for p in profiles_repo.list_all(s)}
            required = {coll: plans_repo.required_points(s, prof_id) for coll, prof_id in profiles.items()}
        for collection in ctx.store.collections():
            if collection not in profiles:
                report.detached_collections[collection] = ctx.store.count(collection)
        missing: set[int] = set()
        for collection in profiles:
            candidates: dict[str, int | None] = {}
            present: set[str] = set()
            for point in ctx.store.iter_points(collection):
                present.add(point.id)
                candidates[point.id] = point.payload.get("plan_id")
            with ctx.read() as s:
                live = plans_repo.live_point_ids(s, list(candidates))
                orphans = [
                    pid
                    for pid, plan_id in candidates.items()
                    if pid not in live and not plans_repo.being_built(s, plan_id)
                ]
            if orphans:
                report.orphan_points[collection] = orphans
                if fix:
                    ctx.store.delete_points(collection, orphans)
            missing |= {plan_id for pid, plan_id in required[collection].items() if pid not in present}
        report.plans_missing_points = sorted(missing)
        if fix:
            for collection in report.detached_collections:
                ctx.store.drop_collection(collection)
            for plan_id in report.plans_missing_points:
                self._plans.rerun(plan_id)
        return report

    # -- workers and health -----------------------------------------------------------------------
    def workers(self) -> list[WorkerView]:
        """Live worker processes (heartbeat within the last few beats): host, pid, queues, units."""
        since = utcnow() - timedelta(seconds=3 * self._ctx.settings.heartbeat_seconds + 5)
        with self._ctx.read() as s:
            return [WorkerView.of(w) for w in units_repo.live_workers(s, since)]

    def missing_workers(self, *, wait: float = 0.0) -> list[str]:
        """The queues ingest needs that no live worker listens on (empty in-process).

        With ``wait``, keeps looking that many seconds (a worker that just started beats soon).
        """
        if self._ctx.tasks.in_process:
            return []
        settings = self._ctx.settings
        deadline = time.monotonic() + wait
        while True:
            listening = {q for w in self.workers() for q in w.queues}
            missing = [q for q in (settings.plan_queue, settings.embed_queue) if q not in listening]
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(0.5)

    def health(self) -> Health:
        """The database answers, and which queues have live workers ("degraded" if one has none).

        Raises:
            DatabaseUnavailable: the database does not answer.
        """
        db_session.ping(self._ctx.rt.engine)
        settings = self._ctx.settings
        per_queue: dict[str, int] = {q: 0 for q in (settings.plan_queue, settings.embed_queue)}
        for w in self.workers():
            for q in w.queues:
                per_queue[q] = per_queue.get(q, 0) + 1
        missing = [q for q, n in per_queue.items() if n == 0]
        return Health(
            status="ok" if not missing else "degraded",
            broker="in-process" if self._ctx.tasks.in_process else "external",
            workers=per_queue,
            queues_without_workers=missing,
        )
