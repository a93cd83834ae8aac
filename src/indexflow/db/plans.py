"""Repository: chunk plans, their bundles and chunks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from indexflow.db.models import (
    Bundle,
    Chunk,
    ChunkPlan,
    ChunkStatus,
    Dataset,
    Document,
    PlanStatus,
    utcnow,
)
from indexflow.db.session import insert_or_find
from indexflow.errors import NotFound


def in_datasets(datasets: Collection[str]) -> ColumnElement[bool]:
    """The plans whose document is in one of these datasets (a subquery, so it adds no join)."""
    documents = select(Document.id).join(Dataset, Dataset.id == Document.dataset_id)
    return ChunkPlan.document_id.in_(documents.where(Dataset.name.in_(sorted(datasets))))


def get(
    s: Session, plan_id: int, *, for_update: bool = False, datasets: Collection[str] | None = None
) -> ChunkPlan:
    """The plan; one of a dataset outside ``datasets`` (when given) is missing just the same."""
    q = select(ChunkPlan).where(ChunkPlan.id == plan_id)
    if datasets is not None:
        q = q.where(in_datasets(datasets))
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
    # A concurrent registration may create it first: then that one is returned, locked.
    row = ChunkPlan(
        document_id=document_id,
        version_id=version_id,
        profile_id=profile_id,
        status=PlanStatus.PENDING,
        generation=0,
    )
    return insert_or_find(
        s,
        row,
        lambda: s.scalar(
            select(ChunkPlan)
            .where(ChunkPlan.version_id == version_id, ChunkPlan.profile_id == profile_id)
            .with_for_update(of=ChunkPlan)
        ),
    )


def for_version(s: Session, version_id: int, *, for_update: bool = False) -> list[ChunkPlan]:
    q = select(ChunkPlan).where(ChunkPlan.version_id == version_id).order_by(ChunkPlan.id)
    if for_update:
        q = q.with_for_update(of=ChunkPlan)
    return list(s.scalars(q))


def for_document(s: Session, document_id: int, *, for_update: bool = False) -> list[ChunkPlan]:
    q = select(ChunkPlan).where(ChunkPlan.document_id == document_id).order_by(ChunkPlan.id)
    if for_update:
        q = q.with_for_update(of=ChunkPlan)
    return list(s.scalars(q))


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
    s: Session,
    *,
    dataset_id: int | None = None,
    status: str | None = None,
    limit: int = 1000,
    datasets: Collection[str] | None = None,
) -> list[ChunkPlan]:
    q = select(ChunkPlan).order_by(ChunkPlan.id).limit(limit)
    if datasets is not None:
        q = q.where(in_datasets(datasets))
    if dataset_id is not None:
        q = q.join(Document, Document.id == ChunkPlan.document_id).where(Document.dataset_id == dataset_id)
    if status is not None:
        q = q.where(ChunkPlan.status == PlanStatus(status.upper()))
    return list(s.scalars(q))


def unfinished_ids(s: Session, profile_id: int) -> list[int]:
    """Ids of the profile's plans that are neither EMBEDDED nor FAILED (however many)."""
    done = (PlanStatus.EMBEDDED, PlanStatus.FAILED)
    q = select(ChunkPlan.id).where(ChunkPlan.profile_id == profile_id, ChunkPlan.status.not_in(done))
    return [int(i) for i in s.scalars(q.order_by(ChunkPlan.id))]


def loading(s: Session, profile_id: int) -> bool:
    """Whether a plan of the profile is on its way to vectors (PENDING, BUNDLING or EMBEDDING)."""
    busy = (PlanStatus.PENDING, PlanStatus.BUNDLING, PlanStatus.EMBEDDING)
    q = select(ChunkPlan.id).where(ChunkPlan.profile_id == profile_id, ChunkPlan.status.in_(busy)).limit(1)
    return s.scalar(q) is not None


def clear_building(s: Session, plan: ChunkPlan) -> None:
    """Delete the plan's bundles and chunks, except those of the generation that serves search."""
    keep = plan.serving_generation if plan.is_active else None
    for model in (Chunk, Bundle):
        q = delete(model).where(model.plan_id == plan.id)
        if keep is not None:
            q = q.where(model.generation != keep)
        s.execute(q)


def drop_other_generations(s: Session, plan: ChunkPlan) -> list[str]:
    """Delete the rows of every generation but the plan's own; returns their point ids."""
    stale = list(
        s.scalars(select(Chunk.point_id).where(Chunk.plan_id == plan.id, Chunk.generation != plan.generation))
    )
    s.execute(delete(Chunk).where(Chunk.plan_id == plan.id, Chunk.generation != plan.generation))
    s.execute(delete(Bundle).where(Bundle.plan_id == plan.id, Bundle.generation != plan.generation))
    return stale


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
    context: str | None = None


def replace_bundles(
    s: Session, plan_id: int, generation: int, bundles: Sequence[NewBundle], chunks: Sequence[NewChunk]
) -> None:
    """Write a generation's bundles and chunks in bulk, replacing an earlier try's rows."""
    s.execute(delete(Chunk).where(Chunk.plan_id == plan_id, Chunk.generation == generation))
    s.execute(delete(Bundle).where(Bundle.plan_id == plan_id, Bundle.generation == generation))
    bundle_ids: list[int] = []
    rows = [
        {
            "plan_id": plan_id,
            "generation": generation,
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
            "generation": generation,
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
            "context": c.context,
        }
        for c in chunks
    ]
    for start in range(0, len(chunk_rows), 5000):
        s.execute(insert(Chunk), chunk_rows[start : start + 5000])


def queue_batches(s: Session, plan_id: int, generation: int, batch_size: int) -> list[list[int]]:
    """Mark the generation's not-yet-embedded chunks QUEUED; their ids in batches of ``batch_size``."""
    ids = list(
        s.scalars(
            select(Chunk.id)
            .where(
                Chunk.plan_id == plan_id, Chunk.generation == generation, Chunk.status != ChunkStatus.EMBEDDED
            )
            .order_by(Chunk.seq)
        )
    )
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


def count_chunks(s: Session, plan_id: int, generation: int, status: ChunkStatus | None = None) -> int:
    q = (
        select(func.count())
        .select_from(Chunk)
        .where(Chunk.plan_id == plan_id, Chunk.generation == generation)
    )
    if status is not None:
        q = q.where(Chunk.status == status)
    return s.scalar(q) or 0


def required_points(s: Session, profile_id: int) -> dict[str, int]:
    """Point id -> plan id of every chunk that must be in the store: embedded, of a serving plan."""
    rows = s.execute(
        select(Chunk.point_id, ChunkPlan.id)
        .join(ChunkPlan, ChunkPlan.id == Chunk.plan_id)
        .where(
            ChunkPlan.profile_id == profile_id,
            ChunkPlan.is_active,
            Chunk.generation == ChunkPlan.serving_generation,
            Chunk.status == ChunkStatus.EMBEDDED,
        )
    )
    return {pid: plan_id for pid, plan_id in rows}


def live_point_ids(s: Session, point_ids: Sequence[str]) -> set[str]:
    """The given point ids that a chunk of a live plan owns (serving, or of the generation being built)."""
    live: set[str] = set()
    for start in range(0, len(point_ids), 900):
        part = point_ids[start : start + 900]
        rows = s.execute(
            select(
                Chunk.point_id,
                Chunk.generation,
                ChunkPlan.generation,
                ChunkPlan.serving_generation,
                ChunkPlan.is_active,
                ChunkPlan.status,
                Chunk.status,
            )
            .join(ChunkPlan, ChunkPlan.id == Chunk.plan_id)
            .where(Chunk.point_id.in_(part))
        )
        for pid, cgen, pgen, serving, active, pstatus, cstatus in rows:
            if active and cgen == serving:
                live.add(pid)  # serving
            elif (
                cgen == pgen
                and pstatus in (PlanStatus.EMBEDDING, PlanStatus.EMBEDDED)
                and (cstatus in (ChunkStatus.QUEUED, ChunkStatus.EMBEDDED))
            ):
                live.add(pid)  # written by the build in progress (or just completed)
    return live


def being_built(s: Session, plan_id: int | None) -> bool:
    """Whether a plan is being built now (a late write of it may not have its chunk row yet)."""
    if plan_id is None:
        return False
    status = s.scalar(select(ChunkPlan.status).where(ChunkPlan.id == plan_id))
    return status in (PlanStatus.PENDING, PlanStatus.BUNDLING, PlanStatus.EMBEDDING)


def changed_after(
    s: Session,
    cursor: tuple[datetime, int],
    *,
    dataset_id: int | None = None,
    document_id: int | None = None,
    limit: int = 500,
    datasets: Collection[str] | None = None,
) -> list[ChunkPlan]:
    """Plans whose (updated_at, id) comes after ``cursor``, oldest first (keyset paging); with
    ``datasets``, only those of documents in these datasets."""
    at, last_id = cursor
    q = (
        select(ChunkPlan)
        .where(or_(ChunkPlan.updated_at > at, and_(ChunkPlan.updated_at == at, ChunkPlan.id > last_id)))
        .order_by(ChunkPlan.updated_at, ChunkPlan.id)
        .limit(limit)
    )
    if document_id is not None:
        q = q.where(ChunkPlan.document_id == document_id)
    if datasets is not None:
        q = q.where(in_datasets(datasets))
    if dataset_id is not None:
        q = q.join(Document, Document.id == ChunkPlan.document_id).where(Document.dataset_id == dataset_id)
    return list(s.scalars(q))


def progress_rows(s: Session, plan_ids: Sequence[int]) -> list[Any]:
    """Per plan: status, chunk and embedded counts, bundled_at and its version's parsed_at."""
    from indexflow.db.models import DocumentVersion

    rows: list[Any] = []
    for start in range(0, len(plan_ids), 900):
        part = plan_ids[start : start + 900]
        rows.extend(
            s.execute(
                select(
                    ChunkPlan.status,
                    ChunkPlan.chunk_count,
                    ChunkPlan.embedded_count,
                    ChunkPlan.bundled_at,
                    DocumentVersion.parsed_at,
                )
                .join(DocumentVersion, DocumentVersion.id == ChunkPlan.version_id)
                .where(ChunkPlan.id.in_(part))
            ).all()
        )
    return rows


def list_chunks(
    s: Session, plan_id: int, *, limit: int = 1000, datasets: Collection[str] | None = None
) -> list[Chunk]:
    """A plan's chunks in order: the generation that serves search, else the one being built."""
    plan = get(s, plan_id, datasets=datasets)
    generation = (
        plan.serving_generation if plan.is_active and plan.serving_generation is not None else plan.generation
    )
    return list(
        s.scalars(
            select(Chunk)
            .where(Chunk.plan_id == plan_id, Chunk.generation == generation)
            .order_by(Chunk.seq)
            .limit(limit)
        )
    )


def get_chunk(s: Session, chunk_id: int, *, datasets: Collection[str] | None = None) -> Chunk:
    """The chunk; one of a dataset outside ``datasets`` (when given) is missing just the same."""
    q = select(Chunk).where(Chunk.id == chunk_id)
    if datasets is not None:
        q = q.where(Chunk.plan_id.in_(select(ChunkPlan.id).where(in_datasets(datasets))))
    chunk = s.scalar(q)
    if chunk is None:
        raise NotFound(f"chunk {chunk_id} does not exist")
    return chunk


def for_dataset(s: Session, dataset_id: int) -> list[ChunkPlan]:
    return list(
        s.scalars(
            select(ChunkPlan)
            .join(Document, Document.id == ChunkPlan.document_id)
            .where(Document.dataset_id == dataset_id)
            .order_by(ChunkPlan.id)
        )
    )


def delete_plans(s: Session, plans: Sequence[ChunkPlan]) -> None:
    """Delete plans; their bundles, chunks and work units go with them (cascade)."""
    for p in plans:
        s.delete(p)


def count_chunks_of(s: Session, plan_ids: Sequence[int]) -> int:
    """Chunks of every generation of these plans."""
    total = 0
    for i in range(0, len(plan_ids), 500):
        part = list(plan_ids[i : i + 500])
        total += s.scalar(select(func.count()).select_from(Chunk).where(Chunk.plan_id.in_(part))) or 0
    return total


def set_chunk_enabled(
    s: Session, chunk_id: int, enabled: bool, *, datasets: Collection[str] | None = None
) -> Chunk:
    chunk = get_chunk(s, chunk_id, datasets=datasets)
    chunk.enabled = enabled
    return chunk


def reset_chunks(s: Session, plan_id: int) -> None:
    """Every chunk of the plan waits to be embedded again (its vectors are being dropped)."""
    s.execute(
        update(Chunk)
        .where(Chunk.plan_id == plan_id)
        .values(status=ChunkStatus.PENDING, embedded_at=None, queued_at=None)
    )
