"""Repository: chunk plans, their bundles and chunks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from indexflow.db.models import (
    Bundle,
    Chunk,
    ChunkPlan,
    ChunkStatus,
    Document,
    PlanStatus,
    utcnow,
)
from indexflow.errors import NotFound

NON_TERMINAL = (PlanStatus.PENDING, PlanStatus.BUNDLING, PlanStatus.READY, PlanStatus.EMBEDDING)


def get(s: Session, plan_id: int, *, for_update: bool = False) -> ChunkPlan:
    q = select(ChunkPlan).where(ChunkPlan.id == plan_id)
    if for_update:
        q = q.with_for_update(of=ChunkPlan)
    plan = s.scalar(q)
    if plan is None:
        raise NotFound(f"plan {plan_id} does not exist")
    return plan


def find(s: Session, plan_id: int, *, for_update: bool = False) -> ChunkPlan | None:
    q = select(ChunkPlan).where(ChunkPlan.id == plan_id)
    if for_update:
        q = q.with_for_update(of=ChunkPlan)
    return s.scalar(q)


def get_or_create(s: Session, document_id: int, version_id: int, profile_id: int) -> tuple[ChunkPlan, bool]:
    plan = s.scalar(
        select(ChunkPlan).where(ChunkPlan.version_id == version_id, ChunkPlan.profile_id == profile_id)
    )
    if plan is not None:
        return plan, False
    plan = ChunkPlan(
        document_id=document_id,
        version_id=version_id,
        profile_id=profile_id,
        status=PlanStatus.PENDING,
        generation=0,
    )
    s.add(plan)
    s.flush()
    return plan, True


def for_version(s: Session, version_id: int) -> list[ChunkPlan]:
    return list(s.scalars(select(ChunkPlan).where(ChunkPlan.version_id == version_id).order_by(ChunkPlan.id)))


def for_document(s: Session, document_id: int) -> list[ChunkPlan]:
    return list(
        s.scalars(select(ChunkPlan).where(ChunkPlan.document_id == document_id).order_by(ChunkPlan.id))
    )


def for_documents(s: Session, document_ids: Sequence[int]) -> list[ChunkPlan]:
    if not document_ids:
        return []
    return list(
        s.scalars(select(ChunkPlan).where(ChunkPlan.document_id.in_(document_ids)).order_by(ChunkPlan.id))
    )


def for_profile(s: Session, profile_id: int) -> list[ChunkPlan]:
    return list(s.scalars(select(ChunkPlan).where(ChunkPlan.profile_id == profile_id).order_by(ChunkPlan.id)))


def active_for(s: Session, document_id: int, profile_id: int) -> ChunkPlan | None:
    return s.scalar(
        select(ChunkPlan).where(
            ChunkPlan.document_id == document_id, ChunkPlan.profile_id == profile_id, ChunkPlan.is_active
        )
    )


def list_plans(
    s: Session, *, dataset_id: int | None = None, status: str | None = None, limit: int = 1000
) -> list[ChunkPlan]:
    q = select(ChunkPlan).order_by(ChunkPlan.id).limit(limit)
    if dataset_id is not None:
        q = q.join(Document, Document.id == ChunkPlan.document_id).where(Document.dataset_id == dataset_id)
    if status is not None:
        q = q.where(ChunkPlan.status == PlanStatus(status.upper()))
    return list(s.scalars(q))


def fail(s: Session, plan: ChunkPlan, message: str) -> None:
    plan.status = PlanStatus.FAILED
    plan.last_error = message[:4000]
    plan.lease_until = None


def reset(s: Session, plan: ChunkPlan, lease_seconds: int) -> None:
    """Back to PENDING under a new generation; old bundles/chunks go (the bundler rebuilds them)."""
    clear_bundles(s, plan.id)
    plan.status = PlanStatus.PENDING
    plan.generation += 1
    plan.last_error = None
    plan.bundle_count = plan.chunk_count = plan.embedded_count = 0
    plan.attempts = 0
    plan.bundled_at = plan.embedded_at = None
    plan.lease_until = utcnow() + timedelta(seconds=lease_seconds)


def clear_bundles(s: Session, plan_id: int) -> None:
    s.execute(delete(Chunk).where(Chunk.plan_id == plan_id))
    s.execute(delete(Bundle).where(Bundle.plan_id == plan_id))


@dataclass(slots=True)
class NewBundle:
    seq: int
    title: str
    component_ids: list[str]
    paths: list[str]
    text: str
    token_count: int


@dataclass(slots=True)
class NewChunk:
    bundle_index: int
    seq: int
    bundle_seq: int
    text: str
    token_count: int
    char_start: int
    char_end: int
    point_id: str


def replace_bundles(
    s: Session, plan_id: int, bundles: Sequence[NewBundle], chunks: Sequence[NewChunk]
) -> None:
    """Write a plan's bundles and chunks in bulk, replacing any earlier run's rows."""
    clear_bundles(s, plan_id)
    bundle_ids: list[int] = []
    rows = [
        {
            "plan_id": plan_id,
            "seq": b.seq,
            "title": b.title,
            "component_ids": b.component_ids,
            "paths": b.paths,
            "text": b.text,
            "token_count": b.token_count,
        }
        for b in bundles
    ]
    for start in range(0, len(rows), 2000):
        part = rows[start : start + 2000]
        result = s.execute(insert(Bundle).returning(Bundle.id, sort_by_parameter_order=True), part)
        bundle_ids.extend(result.scalars().all())
    chunk_rows = [
        {
            "plan_id": plan_id,
            "bundle_id": bundle_ids[c.bundle_index],
            "seq": c.seq,
            "bundle_seq": c.bundle_seq,
            "text": c.text,
            "token_count": c.token_count,
            "char_start": c.char_start,
            "char_end": c.char_end,
            "status": ChunkStatus.PENDING,
            "enabled": True,
            "point_id": c.point_id,
            "attempts": 0,
        }
        for c in chunks
    ]
    for start in range(0, len(chunk_rows), 5000):
        s.execute(insert(Chunk), chunk_rows[start : start + 5000])


def queue_batches(
    s: Session, plan_id: int, batch_size: int, *, stale_before: datetime | None = None
) -> list[list[int]]:
    """Mark not-yet-embedded chunks QUEUED and return their ids in batches of ``batch_size``.

    With ``stale_before``, only chunks that are PENDING/FAILED or were QUEUED before that time
    (a lost message) are picked: the sweeper's re-enqueue.
    """
    cond: ColumnElement[bool] = Chunk.status.in_((ChunkStatus.PENDING, ChunkStatus.FAILED))
    if stale_before is not None:
        cond = or_(cond, and_(Chunk.status == ChunkStatus.QUEUED, Chunk.queued_at < stale_before))
    else:
        cond = or_(cond, Chunk.status == ChunkStatus.QUEUED)
    ids = list(s.scalars(select(Chunk.id).where(Chunk.plan_id == plan_id, cond).order_by(Chunk.seq)))
    if not ids:
        return []
    now = utcnow()
    for start in range(0, len(ids), 5000):
        s.execute(
            update(Chunk)
            .where(Chunk.id.in_(ids[start : start + 5000]))
            .values(status=ChunkStatus.QUEUED, queued_at=now)
        )
    return [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]


def chunks_to_embed(s: Session, plan_id: int, chunk_ids: Sequence[int]) -> list[Chunk]:
    return list(
        s.scalars(
            select(Chunk)
            .where(Chunk.plan_id == plan_id, Chunk.id.in_(chunk_ids), Chunk.status != ChunkStatus.EMBEDDED)
            .order_by(Chunk.seq)
        )
    )


def mark_embedded(s: Session, chunk_ids: Sequence[int]) -> None:
    if chunk_ids:
        s.execute(
            update(Chunk)
            .where(Chunk.id.in_(chunk_ids))
            .values(status=ChunkStatus.EMBEDDED, embedded_at=utcnow(), last_error=None)
        )


def mark_chunks_failed(s: Session, chunk_ids: Sequence[int], message: str) -> None:
    if chunk_ids:
        s.execute(
            update(Chunk)
            .where(Chunk.id.in_(chunk_ids), Chunk.status != ChunkStatus.EMBEDDED)
            .values(status=ChunkStatus.FAILED, last_error=message[:2000], attempts=Chunk.attempts + 1)
        )


def count_chunks(s: Session, plan_id: int, status: ChunkStatus | None = None) -> int:
    q = select(func.count()).select_from(Chunk).where(Chunk.plan_id == plan_id)
    if status is not None:
        q = q.where(Chunk.status == status)
    return s.scalar(q) or 0


def point_ids(s: Session, plan_id: int) -> list[str]:
    return list(s.scalars(select(Chunk.point_id).where(Chunk.plan_id == plan_id)))


def expired(
    s: Session, now: datetime, *, untouched_since: datetime | None = None, limit: int = 500
) -> list[ChunkPlan]:
    """Non-terminal plans whose lease ran out: a lost message or a killed worker.

    With ``untouched_since``, every unfinished plan not updated since then, whatever its lease.
    """
    q = select(ChunkPlan).where(ChunkPlan.status.in_(NON_TERMINAL), ChunkPlan.lease_until.is_not(None))
    if untouched_since is not None:
        q = q.where(ChunkPlan.updated_at < untouched_since)
    else:
        q = q.where(ChunkPlan.lease_until < now)
    return list(s.scalars(q.order_by(ChunkPlan.id).limit(limit)))
