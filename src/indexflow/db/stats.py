"""Repository: counts for the metrics endpoint, and what a work unit works on (for its log event).

Each count is one ``GROUP BY`` over indexed columns, read at scrape time; nothing is stored.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indexflow.db.models import (
    ChunkPlan,
    Dataset,
    Document,
    DocumentVersion,
    IndexProfile,
    PlanStatus,
    WorkUnit,
)

UNFINISHED = (PlanStatus.BUNDLING, PlanStatus.READY, PlanStatus.EMBEDDING)
"""Plans whose chunks are known but not all embedded yet (a PENDING plan has no chunks yet)."""


@dataclass(frozen=True, slots=True)
class StatusCount:
    dataset: str
    profile: str
    status: str
    count: int
    chunks_left: int = 0  # chunks of these plans not embedded yet (unfinished plans only)


@dataclass(frozen=True, slots=True)
class QueueCount:
    queue: str
    units: int  # unfinished work units
    claimed: int  # of which a worker holds now


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state gauges' values, read in one transaction."""

    plans: list[StatusCount] = field(default_factory=list)
    documents: list[StatusCount] = field(default_factory=list)
    queues: list[QueueCount] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Subject:
    """What a unit works on: its document and dataset (a parse unit names no plan, only a version)."""

    document_id: int
    dataset: str
    profile: str | None  # None for a parse: it serves every plan of the version


def snapshot(s: Session, *, datasets: Collection[str] | None = None) -> Snapshot:
    """Plans by (dataset, profile, status), active documents by the status of their current
    version's plan per profile, and unfinished units per queue. ``datasets``: only those."""
    return Snapshot(plan_counts(s, datasets), document_counts(s, datasets), queue_counts(s))


def plan_counts(s: Session, datasets: Collection[str] | None = None) -> list[StatusCount]:
    """Every plan (retired ones too) by dataset, profile and status, with the chunks left."""
    q = (
        select(
            Dataset.name,
            IndexProfile.name,
            ChunkPlan.status,
            func.count(),
            func.coalesce(func.sum(ChunkPlan.chunk_count - ChunkPlan.embedded_count), 0),
        )
        .select_from(ChunkPlan)
        .join(Document, Document.id == ChunkPlan.document_id)
        .join(Dataset, Dataset.id == Document.dataset_id)
        .join(IndexProfile, IndexProfile.id == ChunkPlan.profile_id)
        .group_by(Dataset.name, IndexProfile.name, ChunkPlan.status)
    )
    if datasets is not None:
        q = q.where(Dataset.name.in_(list(datasets)))
    return [
        StatusCount(ds, prof, PlanStatus(st).value, int(n), int(left) if st in UNFINISHED else 0)
        for ds, prof, st, n, left in s.execute(q)
    ]


def document_counts(s: Session, datasets: Collection[str] | None = None) -> list[StatusCount]:
    """Active documents by dataset, profile and the status of their current version's plan."""
    q = (
        select(Dataset.name, IndexProfile.name, ChunkPlan.status, func.count())
        .select_from(Document)
        .join(Dataset, Dataset.id == Document.dataset_id)
        .join(
            ChunkPlan,
            (ChunkPlan.document_id == Document.id) & (ChunkPlan.version_id == Document.current_version_id),
        )
        .join(IndexProfile, IndexProfile.id == ChunkPlan.profile_id)
        .where(Document.is_active)
        .group_by(Dataset.name, IndexProfile.name, ChunkPlan.status)
    )
    if datasets is not None:
        q = q.where(Dataset.name.in_(list(datasets)))
    return [StatusCount(ds, prof, PlanStatus(st).value, int(n)) for ds, prof, st, n in s.execute(q)]


def queue_counts(s: Session) -> list[QueueCount]:
    """Unfinished work units per queue, and how many of them are claimed by a worker now."""
    q = select(WorkUnit.queue, func.count(), func.count(WorkUnit.claim_token)).group_by(WorkUnit.queue)
    return [QueueCount(queue, int(n), int(claimed)) for queue, n, claimed in s.execute(q)]


def unit_subject(s: Session, *, plan_id: int | None, version_id: int | None) -> Subject | None:
    """The document and dataset a unit's plan (or version) belongs to; None if it is gone."""
    if plan_id is not None:
        q = (
            select(Document.id, Dataset.name, IndexProfile.name)
            .join(Dataset, Dataset.id == Document.dataset_id)
            .join(ChunkPlan, ChunkPlan.document_id == Document.id)
            .join(IndexProfile, IndexProfile.id == ChunkPlan.profile_id)
            .where(ChunkPlan.id == plan_id)
        )
        row = s.execute(q).first()
        return Subject(int(row[0]), str(row[1]), str(row[2])) if row is not None else None
    if version_id is not None:
        of_version = (
            select(Document.id, Dataset.name)
            .join(Dataset, Dataset.id == Document.dataset_id)
            .join(DocumentVersion, DocumentVersion.document_id == Document.id)
            .where(DocumentVersion.id == version_id)
        )
        found = s.execute(of_version).first()
        return Subject(int(found[0]), str(found[1]), None) if found is not None else None
    return None
