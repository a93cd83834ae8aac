"""Facade operations on profiles, purge and reconcile (mixed into ``Indexflow``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db.models import (
    Chunk,
    ChunkPlan,
    Dataset,
    Document,
    IndexProfile,
    PlanStatus,
)
from indexflow.db.profiles import DEFAULT_PROFILE, ensure_default_profile
from indexflow.db.session import transaction
from indexflow.errors import ConflictError, InvalidRequest
from indexflow.pipeline import machine
from indexflow.pipeline.machine import Applied
from indexflow.stores.base import SearchFilter

if TYPE_CHECKING:
    from indexflow.runtime import Runtime
    from indexflow.tasks.runner import TaskRunner


def profile_view(p: IndexProfile) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "is_active": p.is_active, "collection": p.collection} | {
        f: getattr(p, f) for f in profiles_repo.PROFILE_FIELDS
    }


@dataclass
class PurgeReport:
    dry_run: bool
    preserve_vectors: bool
    documents: list[int] = field(default_factory=list)
    plans: list[int] = field(default_factory=list)
    chunks: int = 0
    points: int = 0
    profiles: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReconcileReport:
    fixed: bool
    orphan_points: dict[str, list[str]] = field(default_factory=dict)  # collection -> ids
    plans_missing_points: list[int] = field(default_factory=list)
    # collections of profiles that no longer exist (e.g. purged with --preserve-vectors) -> points
    detached_collections: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"orphan_count": sum(len(v) for v in self.orphan_points.values())}


class AdminMixin:
    rt: Runtime

    @property
    def tasks(self) -> TaskRunner:
        raise NotImplementedError  # provided by Indexflow

    # -- profiles ---------------------------------------------------------------------------------
    def profiles(self) -> list[dict[str, Any]]:
        with transaction(self.rt.sessions) as s:
            ensure_default_profile(s, self.rt.settings.default_profile)
            return [profile_view(p) for p in profiles_repo.list_all(s)]

    def create_profile(self, name: str, *, activate: bool = False, **params: Any) -> dict[str, Any]:
        """Create a profile from the default parameters overridden by ``params``.

        A new ``encoder`` brings its own tokenizer, dimension and token limit unless they are given.
        """
        given = {k: v for k, v in params.items() if v is not None}
        if given.get("encoder") and given["encoder"] != DEFAULT_PROFILE["encoder"]:
            from indexflow.encoders.factory import get_encoder

            encoder = get_encoder(given["encoder"])  # raises ConfigurationError for an unknown model
            given.setdefault("tokenizer", given["encoder"])
            given.setdefault("dimension", encoder.dimension)
            given.setdefault("max_tokens", encoder.max_tokens)
            given.setdefault("chunk_size", min(DEFAULT_PROFILE["chunk_size"], encoder.max_tokens - 2))
        fields = DEFAULT_PROFILE | given
        with transaction(self.rt.sessions) as s:
            ensure_default_profile(s, self.rt.settings.default_profile)
            profile = profiles_repo.create(s, name, **fields, is_active=False)
            view = profile_view(profile)
        return self.activate_profile(name) if activate else view

    def clone_profile(self, source: str, name: str, **overrides: Any) -> dict[str, Any]:
        """A new (inactive) profile with ``source``'s parameters and ``overrides``: how to change one."""
        with transaction(self.rt.sessions) as s:
            src = profiles_repo.get_by_name(s, source)
            fields = {f: getattr(src, f) for f in profiles_repo.PROFILE_FIELDS}
        return self.create_profile(name, **(fields | {k: v for k, v in overrides.items() if v is not None}))

    def update_profile(self, name: str, **changes: Any) -> dict[str, Any]:
        with transaction(self.rt.sessions) as s:
            p = profiles_repo.update(s, profiles_repo.get_by_name(s, name), **changes)
            return profile_view(p)

    def activate_profile(self, name: str) -> dict[str, Any]:
        """Activate a profile and build a plan for every active document; old profiles keep serving."""
        self.tasks.own_home()
        applied = Applied()
        with transaction(self.rt.sessions) as s:
            profile = profiles_repo.get_by_name(s, name)
            profile.is_active = True
            docs = s.scalars(
                select(Document).where(Document.is_active, Document.current_version_id.is_not(None))
            )
            plan_ids: list[int] = []
            for doc in docs:
                plan, created = plans_repo.get_or_create(s, doc.id, doc.current_version_id, profile.id)  # type: ignore[arg-type]
                if created or plan.status == PlanStatus.FAILED:
                    applied.merge(machine.apply(s, plan, machine.Start(), self.rt.queues))
                    plan_ids.append(plan.id)
            view = profile_view(profile)
        from indexflow.tasks.execute import after_commit

        after_commit(self.rt, applied, self.tasks.outbox)
        return view | {"plans_enqueued": len(plan_ids), "plan_ids": plan_ids}

    def deactivate_profile(self, name: str) -> dict[str, Any]:
        """New documents stop getting plans of this profile; its existing index still answers."""
        with transaction(self.rt.sessions) as s:
            profile = profiles_repo.get_by_name(s, name)
            profile.is_active = False
            if not profiles_repo.active(s):
                raise ConflictError("at least one profile must stay active")
            return profile_view(profile)

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
        """
        if sum(x is not None for x in (document_id, profile, dataset)) != 1:
            raise InvalidRequest("purge needs exactly one of --document, --profile, --dataset")
        report = PurgeReport(dry_run=dry_run, preserve_vectors=preserve_vectors)
        with transaction(self.rt.sessions) as s:
            q = select(ChunkPlan)
            if document_id is not None:
                docs_repo.get_document(s, document_id)
                q = q.where(ChunkPlan.document_id == document_id)
                report.documents = [document_id]
            elif profile is not None:
                prof = profiles_repo.get_by_name(s, profile)
                q = q.where(ChunkPlan.profile_id == prof.id)
                report.profiles = [prof.name]
            else:
                ds = docs_repo.get_dataset(s, dataset)  # type: ignore[arg-type]
                report.datasets = [ds.name]
                report.documents = list(s.scalars(select(Document.id).where(Document.dataset_id == ds.id)))
                q = q.join(Document, Document.id == ChunkPlan.document_id).where(Document.dataset_id == ds.id)
            plans = list(s.scalars(q.order_by(ChunkPlan.id)))
            report.plans = [p.id for p in plans]
            targets = [(p.id, p.profile.collection) for p in plans]
            if report.plans:
                report.chunks = (
                    s.scalar(select(func.count()).select_from(Chunk).where(Chunk.plan_id.in_(report.plans)))
                    or 0
                )
            by_collection: dict[str, list[int]] = {}
            for pid, coll in targets:
                by_collection.setdefault(coll, []).append(pid)
            report.points = sum(
                self.rt.store.count(coll, SearchFilter(plan_ids=tuple(ids), only_enabled=False))
                for coll, ids in by_collection.items()
            )
            if dry_run:
                return report
            for p in plans:
                s.delete(p)
            if document_id is not None:
                s.execute(delete(Document).where(Document.id == document_id))
            elif profile is not None:
                s.execute(delete(IndexProfile).where(IndexProfile.name == profile))
            else:
                s.execute(delete(Dataset).where(Dataset.name == dataset))
        if not preserve_vectors:
            for plan_id, collection in targets:
                self.rt.store.delete_by_plan(collection, plan_id)
            if profile is not None:
                for collection in by_collection:
                    self.rt.store.drop_collection(collection)
                    # SQLite may give the next profile this id (so this collection name) again:
                    # forget that it was ensured, so the next write creates it anew.
                    self.rt._collections.discard(collection)
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
        report = ReconcileReport(fixed=fix)
        with transaction(self.rt.readers) as s:
            profiles = {p.collection: p.id for p in profiles_repo.list_all(s)}
            required = {
                prof_coll: plans_repo.required_points(s, prof_id) for prof_coll, prof_id in profiles.items()
            }
        for collection in self.rt.store.collections():
            if collection not in profiles:
                report.detached_collections[collection] = self.rt.store.count(collection)
        missing: set[int] = set()
        for collection in profiles:
            candidates: dict[str, int | None] = {}
            present: set[str] = set()
            for point in self.rt.store.iter_points(collection):
                present.add(point.id)
                candidates[point.id] = point.payload.get("plan_id")
            with transaction(self.rt.readers) as s:
                live = plans_repo.live_point_ids(s, list(candidates))
                orphans = [
                    pid
                    for pid, plan_id in candidates.items()
                    if pid not in live and not plans_repo.being_built(s, plan_id)
                ]
            if orphans:
                report.orphan_points[collection] = orphans
                if fix:
                    self.rt.store.delete_points(collection, orphans)
            missing |= {plan_id for pid, plan_id in required[collection].items() if pid not in present}
        report.plans_missing_points = sorted(missing)
        if fix:
            for collection in report.detached_collections:
                self.rt.store.drop_collection(collection)
            for plan_id in report.plans_missing_points:
                self.rerun_plan(plan_id)  # type: ignore[attr-defined]
        return report
