"""Register a source's bytes: document, version and one plan per active profile (or a lookup)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db.models import ChunkPlan, IndexProfile, PlanStatus, as_utc, utcnow
from indexflow.db.session import transaction
from indexflow.domain.ids import content_hash
from indexflow.pipeline.activation import activate
from indexflow.pipeline.profiles import ensure_default_profile
from indexflow.pipeline.runtime import Runtime, Work


@dataclass(slots=True)
class Registration:
    document_id: int
    version_id: int
    plan_ids: list[int]
    outcome: str  # "new" | "changed" | "unchanged" | "resumed"
    work: list[Work] = field(default_factory=list)
    retired: list[tuple[int, str]] = field(default_factory=list)  # (plan id, collection) to drop


def register_source(
    rt: Runtime,
    *,
    dataset: str,
    source: str,
    data: bytes,
    filename: str | None,
    title: str | None = None,
    profiles: list[str] | None = None,
) -> Registration:
    """Record ``data`` as the current content of ``source`` in ``dataset``.

    Unchanged content (same hash) with embedded plans costs a lookup; new content becomes a new
    version whose plans build while the old ones keep serving.
    """
    digest = content_hash(data)
    with transaction(rt.sessions) as s:
        ds = docs_repo.get_or_create_dataset(s, dataset)
        doc = docs_repo.find_document(s, ds.id, source)
        created = doc is None
        if doc is None:
            doc = docs_repo.create_document(s, ds.id, source, title or _basename(source))
        version = docs_repo.find_version(s, doc.id, digest)
        outcome = "unchanged"
        if version is None:
            version = docs_repo.create_version(s, doc.id, digest, data, filename)
            outcome = "new" if created else "changed"
            _cancel_unfinished(s, doc.id, version.id)
        if not doc.is_active:
            doc.is_active = True
            doc.deactivated_at = None
            outcome = "changed" if outcome == "unchanged" else outcome
        doc.current_version_id = version.id
        reg = Registration(doc.id, version.id, [], outcome)
        for profile in _target_profiles(s, rt, profiles):
            plan, new_plan = plans_repo.get_or_create(s, doc.id, version.id, profile.id)
            reg.plan_ids.append(plan.id)
            _plan_work(rt, s, reg, plan, new_plan, version.parsed_at is not None)
        return reg


def _target_profiles(s: Session, rt: Runtime, names: list[str] | None) -> list[IndexProfile]:
    ensure_default_profile(s, rt.settings.default_profile)
    if names:
        return [profiles_repo.get_by_name(s, n) for n in names]
    return profiles_repo.active(s)


def _plan_work(rt: Runtime, s: Session, reg: Registration, plan: ChunkPlan, new: bool, parsed: bool) -> None:
    lease = utcnow() + timedelta(seconds=rt.settings.lease_seconds)
    if new or plan.status == PlanStatus.FAILED:
        if plan.status == PlanStatus.FAILED:
            plans_repo.reset(s, plan, rt.settings.lease_seconds)
            reg.outcome = "resumed" if reg.outcome == "unchanged" else reg.outcome
        plan.lease_until = lease
        if not parsed:
            version = docs_repo.get_version(s, plan.version_id)
            if version.parse_error and docs_repo.load_blob(s, plan.version_id) is None:
                plans_repo.fail(s, plan, version.parse_error)
                return
            if not any(w.stage == "parse" for w in reg.work):
                reg.work.append(Work("parse", (plan.version_id,)))
        else:
            reg.work.append(Work("bundle", (plan.id, plan.generation)))
        if reg.outcome == "unchanged":
            reg.outcome = "resumed"
        return
    if plan.status == PlanStatus.EMBEDDED:
        if not plan.is_active:
            reg.retired.extend((p.id, p.profile.collection) for p in activate(s, plan))
        return
    if plan.status == PlanStatus.READY and plan.chunk_count > 0 and plan.bundled_at is not None:
        # Retired earlier (vectors dropped) and wanted again: embed its chunks again.
        plan.status = PlanStatus.EMBEDDING
        plan.lease_until = lease
        batches = plans_repo.queue_batches(s, plan.id, rt.settings.embed_batch_size)
        reg.work.extend(Work("embed", (plan.id, plan.generation, ids)) for ids in batches)
        reg.outcome = "resumed"
        return
    # In progress: resume only if its lease ran out (the message was lost or the worker died).
    if plan.lease_until is None or as_utc(plan.lease_until) < utcnow():
        from indexflow.pipeline.sweeper import resume_work

        reg.work.extend(resume_work(rt, s, plan))
        reg.outcome = "resumed"


def _cancel_unfinished(s: Session, document_id: int, new_version_id: int) -> None:
    # Older versions still building would only be retired on completion: stop them now.
    for plan in plans_repo.for_document(s, document_id):
        if (
            plan.version_id != new_version_id
            and plan.status in plans_repo.NON_TERMINAL
            and not plan.is_active
        ):
            plan.generation += 1
            plans_repo.fail(s, plan, f"superseded by version {new_version_id} before it finished")


def _basename(source: str) -> str:
    return source.rstrip("/").rsplit("/", 1)[-1]
