"""Register a source's bytes: document, version and one plan per active profile (or a lookup).

Outside input is checked here, before anything is written, so the library, the CLI and the API
all get the same answers (limits in ``indexflow.limits``): a dataset name or a source that does
not fit its column is an ``InvalidRequest`` naming the field; a title or a file name (which come
from the documents) is shortened instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from indexflow.db import documents as docs_repo
from indexflow.db import metadata as meta_repo
from indexflow.db import plans as plans_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db.models import ChunkPlan, IndexProfile, PlanStatus
from indexflow.db.profiles import ensure_default_profile
from indexflow.db.session import transaction
from indexflow.domain import metadata as md
from indexflow.domain.ids import content_hash
from indexflow.errors import invalid_request
from indexflow.limits import (
    DATASET_NAME_MAX,
    SOURCE_MAX,
    TITLE_MAX,
    check_length,
    check_name,
    fit,
    fit_filename,
    is_name,
)
from indexflow.pipeline import machine
from indexflow.pipeline.machine import Applied
from indexflow.runtime import Runtime
from indexflow.sources import basename


@dataclass(slots=True)
class Registration:
    document_id: int
    version_id: int
    plan_ids: list[int]
    outcome: str  # "new" | "changed" | "unchanged" | "resumed"
    applied: Applied = field(default_factory=Applied)


def register_source(
    rt: Runtime,
    *,
    dataset: str,
    source: str,
    data: bytes,
    filename: str | None,
    title: str | None = None,
    profiles: list[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    fingerprint: str | None = None,
) -> Registration:
    """Record ``data`` (with ``metadata``) as the current content of ``source`` in ``dataset``.

    ``metadata`` is part of the version's identity: the same bytes with other metadata are a new
    version, built and swapped in like new content. ``fingerprint`` (what the source looked like:
    ETag, size, mtime) is recorded on the document so an unchanged source can be skipped unread.

    Unchanged content (same hash) with embedded plans costs a lookup; new content becomes a new
    version whose plans build while the old ones keep serving. Concurrent registrations of one
    source are safe: the document row is created under a savepoint and locked.

    Raises:
        InvalidRequest: the dataset name or the source is too long (or, for a new dataset, the
            name is not one of ``limits.NAME_RULE``), or the metadata is not valid or gives a
            key a value of another kind than the dataset's documents have.
    """
    check_length("dataset", dataset, DATASET_NAME_MAX)  # first: an upload's source embeds it
    check_length("source", source, SOURCE_MAX)
    filename = fit_filename(filename) if filename is not None else None
    with invalid_request():
        given = md.normalize(metadata)
    digest = content_hash(data)
    if given:
        digest = content_hash(f"{digest}\0{md.identity(given)}".encode())
    with transaction(rt.sessions) as s:
        check_dataset(s, dataset)
        ds = docs_repo.get_or_create_dataset(s, dataset)
        if given:
            with invalid_request():
                md.conform(given, meta_repo.known_fields(s, ds.id))
            meta_repo.add_fields(s, ds.id, md.kinds(given))
        doc = docs_repo.find_document(s, ds.id, source, for_update=True)
        created = False
        if doc is None:
            title = fit(title or basename(source), TITLE_MAX)
            doc, created = docs_repo.create_document(s, ds.id, source, title)
        version = docs_repo.find_version(s, doc.id, digest)
        outcome = "unchanged"
        reg = Registration(doc.id, 0, [], outcome)
        if version is None:
            version = docs_repo.create_version(s, doc.id, digest, data, filename, given)
            outcome = "new" if created else "changed"
            _cancel_unfinished(rt, s, reg, doc.id, version.id)
        if not doc.is_active:
            doc.is_active = True
            doc.deactivated_at = None
            outcome = "changed" if outcome == "unchanged" else outcome
        doc.current_version_id = version.id
        # Always written: a registration whose source look is unknown (an upload, a racily
        # fresh file) clears the old one, so a later ingest cannot skip the source unread.
        doc.source_fingerprint = fingerprint
        reg.version_id, reg.outcome = version.id, outcome
        for profile in _target_profiles(s, rt, profiles):
            plan, new_plan = plans_repo.get_or_create(s, doc.id, version.id, profile.id)
            reg.plan_ids.append(plan.id)
            _plan_work(rt, s, reg, plan, new_plan)
        return reg


def check_dataset(s: Session, name: str) -> None:
    """A dataset name must fit its column; a new dataset's name must also follow
    ``limits.NAME_RULE`` (datasets named before the rule existed keep working).

    Raises:
        InvalidRequest: it does not, naming the field and the limit or the rule.
    """
    check_length("dataset", name, DATASET_NAME_MAX)
    if not is_name(name) and docs_repo.find_dataset_id(s, name) is None:
        check_name("dataset", name, DATASET_NAME_MAX)


def _target_profiles(s: Session, rt: Runtime, names: list[str] | None) -> list[IndexProfile]:
    ensure_default_profile(s, rt.settings.default_profile)
    if names:
        return [profiles_repo.get_by_name(s, n) for n in names]
    return profiles_repo.active(s)


def _plan_work(rt: Runtime, s: Session, reg: Registration, plan: ChunkPlan, new: bool) -> None:
    version = docs_repo.get_version(s, plan.version_id)
    if (
        plan.status in (PlanStatus.PENDING, PlanStatus.FAILED)
        and version.parsed_at is None
        and version.parse_error
        and docs_repo.load_blob(s, plan.version_id) is None
    ):
        # Parsed once and failed; its bytes are gone: it fails again with the same reason.
        if plan.status != PlanStatus.FAILED:
            reg.applied.merge(machine.apply(s, plan, machine.Fail(version.parse_error), rt.queues))
        return
    if new or plan.status == PlanStatus.FAILED:
        reg.applied.merge(machine.apply(s, plan, machine.Start(), rt.queues))
        if not new and reg.outcome == "unchanged":
            reg.outcome = "resumed"
        return
    if plan.status == PlanStatus.EMBEDDED:
        if not plan.is_active:
            reg.applied.merge(machine.apply(s, plan, machine.Activate(), rt.queues))
        return
    if plan.status == PlanStatus.READY and plan.bundled_at is not None:
        # Retired earlier (vectors dropped) and wanted again: embed its chunks again.
        rewanted = machine.apply(s, plan, machine.Rewant(), rt.queues)
        reg.applied.merge(rewanted)
        if rewanted.changed and reg.outcome == "unchanged":
            reg.outcome = "resumed"
    # In progress: its units are in the outbox; the sweeper looks after them if a worker dies.


def _cancel_unfinished(
    rt: Runtime, s: Session, reg: Registration, document_id: int, new_version_id: int
) -> None:
    # Older versions still building would only be retired on completion: stop them now. The
    # plan row lock orders this against a worker committing that plan's last batch.
    for plan in plans_repo.for_document(s, document_id, for_update=True):
        if plan.version_id != new_version_id and not plan.is_active:
            reg.applied.merge(
                machine.apply(
                    s,
                    plan,
                    machine.Cancel(f"superseded by version {new_version_id} before it finished"),
                    rt.queues,
                )
            )
