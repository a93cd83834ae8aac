"""Repository: work units (the outbox and its claims) and worker heartbeats.

A unit is written in the transaction that makes its work visible, sent by the relay, claimed
by the worker that runs it (``FOR UPDATE SKIP LOCKED``), kept alive by that worker's heartbeat
and deleted by the transaction that finishes its work. So a unit row means "this work is not
done yet", whatever happened to its message.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete, exists, func, or_, select, update
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Session

from indexflow.db.models import (
    ChunkPlan,
    PlanStatus,
    UnitKind,
    WebhookDelivery,
    WorkerBeat,
    WorkUnit,
    as_utc,
    utcnow,
)


class ClaimLost(Exception):
    """This worker's claim on a unit expired and another worker took the unit over."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A unit this worker holds while it runs it."""

    unit_id: int
    token: str
    kind: UnitKind
    plan_id: int | None
    version_id: int | None
    generation: int
    chunk_ids: tuple[int, ...]
    embed: bool
    executions: int
    failures: int
    error_since: datetime | None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A unit to send: its id and the queue its kind goes to."""

    unit_id: int
    kind: UnitKind
    queue: str


# -- the outbox ----------------------------------------------------------------------------------
def add(
    s: Session,
    kind: UnitKind,
    queue: str,
    *,
    plan_id: int | None = None,
    version_id: int | None = None,
    generation: int = 0,
    chunk_ids: Sequence[int] | None = None,
    embed: bool = True,
) -> list[int]:
    unit = WorkUnit(
        kind=kind,
        queue=queue,
        plan_id=plan_id,
        version_id=version_id,
        generation=generation,
        chunk_ids=list(chunk_ids) if chunk_ids is not None else None,
        embed=embed,
        executions=0,
        failures=0,
        resends=0,
    )
    s.add(unit)
    s.flush()
    return [unit.id]


def has_unfinished_work(s: Session) -> bool:
    """Whether anything is left for a worker: a work unit, a plan neither EMBEDDED nor FAILED
    (a stranded one the sweeper re-sends), or a webhook delivery not yet made.

    Plain SQL: the command that asks (an ``ingest`` with nothing new) runs no other statement
    SQLAlchemy would have to compile, and compiling this one costs more than running it."""
    return bool(s.scalar(_UNFINISHED))


_UNFINISHED = sa_text(
    f"SELECT CASE WHEN EXISTS (SELECT 1 FROM {WorkUnit.__tablename__})"
    f" OR EXISTS (SELECT 1 FROM {ChunkPlan.__tablename__}"
    f" WHERE status NOT IN ('{PlanStatus.EMBEDDED.value}', '{PlanStatus.FAILED.value}'))"
    f" OR EXISTS (SELECT 1 FROM {WebhookDelivery.__tablename__} WHERE delivered_at IS NULL)"
    " THEN 1 ELSE 0 END"
)


def add_parse(s: Session, version_id: int, queue: str) -> list[int]:
    """A parse unit for the version, unless one is already waiting (its plans share one parse)."""
    found = s.scalar(
        select(WorkUnit.id).where(WorkUnit.version_id == version_id, WorkUnit.kind == UnitKind.PARSE)
    )
    if found is not None:
        return []
    return add(s, UnitKind.PARSE, queue, version_id=version_id)


def outgoing(s: Session, unit_ids: Sequence[int]) -> list[Outgoing]:
    if not unit_ids:
        return []
    rows = s.execute(
        select(WorkUnit.id, WorkUnit.kind, WorkUnit.queue).where(
            WorkUnit.id.in_(unit_ids), WorkUnit.sent_at.is_(None)
        )
    )
    return [Outgoing(i, k, q) for i, k, q in rows]


def mark_sent(s: Session, unit_ids: Sequence[int]) -> None:
    if unit_ids:
        s.execute(
            update(WorkUnit)
            .where(WorkUnit.id.in_(unit_ids), WorkUnit.sent_at.is_(None))
            .values(sent_at=utcnow())
        )


def mark_unsent(s: Session, unit_ids: Sequence[int]) -> None:
    """Undo ``mark_sent`` for units the broker refused (unless a worker claimed one meanwhile)."""
    if unit_ids:
        s.execute(
            update(WorkUnit)
            .where(WorkUnit.id.in_(unit_ids), WorkUnit.claim_token.is_(None))
            .values(sent_at=None)
        )


def due_unsent(s: Session, now: datetime, limit: int = 1000, *, grace: float = 3.0) -> list[Outgoing]:
    """Units never sent (a crash between commit and send) or whose backoff is over.

    Units younger than ``grace`` seconds are left to the sender that just committed them (its
    fast path), so the relay does not send them a second time.
    """
    rows = s.execute(
        select(WorkUnit.id, WorkUnit.kind, WorkUnit.queue)
        .where(
            WorkUnit.sent_at.is_(None),
            WorkUnit.claim_token.is_(None),
            WorkUnit.created_at < now - timedelta(seconds=grace),
            or_(WorkUnit.not_before.is_(None), WorkUnit.not_before <= now),
        )
        .order_by(WorkUnit.id)
        .limit(limit)
    )
    return [Outgoing(i, k, q) for i, k, q in rows]


def delete_for_plan(s: Session, plan_id: int) -> None:
    s.execute(delete(WorkUnit).where(WorkUnit.plan_id == plan_id))


def delete_for_version(s: Session, version_id: int) -> None:
    s.execute(delete(WorkUnit).where(WorkUnit.version_id == version_id))


def delete_unit(s: Session, unit_id: int) -> None:
    s.execute(delete(WorkUnit).where(WorkUnit.id == unit_id))


# -- claims --------------------------------------------------------------------------------------
def claim(s: Session, unit_id: int, worker_id: str, lease_seconds: float) -> Claim | None:
    """Claim a unit to run it now; ``None`` when it is gone, held by a live claim, or not due.

    A unit whose claim expired (its worker died or hung) is taken over; one held by this very
    worker (a retried message after a database hiccup) is claimed again.
    """
    unit = s.scalar(select(WorkUnit).where(WorkUnit.id == unit_id).with_for_update(skip_locked=True))
    if unit is None:
        return None
    now = utcnow()
    if (
        unit.claim_token is not None
        and unit.claimed_by != worker_id
        and unit.claim_until is not None
        and as_utc(unit.claim_until) >= now
    ):
        return None  # a duplicate message: a live worker runs it
    if unit.not_before is not None and as_utc(unit.not_before) > now and unit.claim_token is None:
        return None  # backing off: the relay sends it when it is due
    unit.claimed_by = worker_id
    unit.claim_token = str(uuid.uuid4())
    unit.claim_until = now + timedelta(seconds=lease_seconds)
    unit.executions += 1
    if unit.sent_at is None:
        unit.sent_at = now
    return Claim(
        unit_id=unit.id,
        token=unit.claim_token,
        kind=unit.kind,
        plan_id=unit.plan_id,
        version_id=unit.version_id,
        generation=unit.generation,
        chunk_ids=tuple(unit.chunk_ids or ()),
        embed=unit.embed,
        executions=unit.executions,
        failures=unit.failures,
        error_since=unit.error_since,
    )


def finish(s: Session, c: Claim) -> None:
    """Delete the unit in the transaction that finished its work (fenced by the claim token).

    Raises:
        ClaimLost: the claim expired and another worker took the unit over, or the unit was
            voided (roll back: this run's writes must not land).
    """
    result = s.execute(delete(WorkUnit).where(WorkUnit.id == c.unit_id, WorkUnit.claim_token == c.token))
    if _rowcount(result) == 0:
        # Taken over (and maybe finished) by another worker, or voided by a rerun or a purge.
        raise ClaimLost(f"unit {c.unit_id}: this worker's claim expired or the unit was voided")


def retry_later(s: Session, c: Claim, *, delay: timedelta, error: str) -> datetime | None:
    """Give the unit back after a transient failure; the relay sends it again after ``delay``.

    Returns:
        When it will be tried again, or ``None`` if the claim was lost meanwhile.
    """
    now = utcnow()
    next_try = now + delay
    result = s.execute(
        update(WorkUnit)
        .where(WorkUnit.id == c.unit_id, WorkUnit.claim_token == c.token)
        .values(
            claimed_by=None,
            claim_token=None,
            claim_until=None,
            sent_at=None,
            not_before=next_try,
            failures=WorkUnit.failures + 1,
            last_error=error[:2000],
            error_since=func.coalesce(WorkUnit.error_since, now),
        )
    )
    return next_try if _rowcount(result) else None


def heartbeat(s: Session, tokens: Sequence[str], lease_seconds: float) -> None:
    """Extend the claims this worker holds on the units it is running."""
    if tokens:
        s.execute(
            update(WorkUnit)
            .where(WorkUnit.claim_token.in_(tokens))
            .values(claim_until=utcnow() + timedelta(seconds=lease_seconds))
        )


def expire_claims(
    s: Session, now: datetime, *, limit: int = 1000, not_held_by: str | None = None
) -> list[int]:
    """Release units whose claim ran out (the worker died or hung) so they are sent again.

    With ``not_held_by``, every claim of another worker is released whatever its expiry (the
    embedded default's start-up: no other process can be running them).
    """
    cond = WorkUnit.claim_until < now
    if not_held_by is not None:
        cond = or_(cond, WorkUnit.claimed_by != not_held_by)
    ids = list(
        s.scalars(
            select(WorkUnit.id)
            .where(WorkUnit.claim_token.is_not(None), cond)
            .order_by(WorkUnit.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        s.execute(
            update(WorkUnit)
            .where(WorkUnit.id.in_(ids))
            .values(
                claimed_by=None,
                claim_token=None,
                claim_until=None,
                sent_at=None,
                resends=WorkUnit.resends + 1,
            )
        )
    return ids


def resend_lost(s: Session, queues: Sequence[str], *, sent_before: datetime, limit: int = 1000) -> list[int]:
    """Units sent before ``sent_before`` and never claimed, on queues whose workers sit idle.

    An idle worker would have taken such a message: the broker lost it (a Redis restart without
    persistence). They are marked unsent, so the relay sends them again.
    """
    if not queues:
        return []
    ids = list(
        s.scalars(
            select(WorkUnit.id)
            .where(
                WorkUnit.queue.in_(list(queues)),
                WorkUnit.claim_token.is_(None),
                WorkUnit.sent_at.is_not(None),
                WorkUnit.sent_at < sent_before,
            )
            .order_by(WorkUnit.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        s.execute(
            update(WorkUnit).where(WorkUnit.id.in_(ids)).values(sent_at=None, resends=WorkUnit.resends + 1)
        )
    return ids


def resend_all_unclaimed(s: Session) -> list[int]:
    """Every sent, unclaimed unit is unsent again (the embedded default's start-up)."""
    ids = list(
        s.scalars(select(WorkUnit.id).where(WorkUnit.claim_token.is_(None), WorkUnit.sent_at.is_not(None)))
    )
    if ids:
        for start in range(0, len(ids), 900):
            s.execute(update(WorkUnit).where(WorkUnit.id.in_(ids[start : start + 900])).values(sent_at=None))
    return ids


def stranded_plans(s: Session, *, older_than: datetime, limit: int = 500) -> list[ChunkPlan]:
    """Unfinished plans with no unit that could move them on (a safety net for the sweeper)."""
    no_plan_unit = ~exists().where(WorkUnit.plan_id == ChunkPlan.id)
    no_parse_unit = ~exists().where(WorkUnit.version_id == ChunkPlan.version_id)
    q = (
        select(ChunkPlan)
        .where(
            ChunkPlan.status.in_((PlanStatus.PENDING, PlanStatus.BUNDLING, PlanStatus.EMBEDDING)),
            ChunkPlan.updated_at < older_than,
            no_plan_unit,
            no_parse_unit,
        )
        .order_by(ChunkPlan.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=ChunkPlan)
    )
    return list(s.scalars(q))


# -- workers -------------------------------------------------------------------------------------
def beat(
    s: Session,
    worker_id: str,
    *,
    host: str,
    pid: int,
    queues: Sequence[str],
    threads: int,
    running: Sequence[int],
    idle_since: datetime | None,
) -> None:
    w = s.get(WorkerBeat, worker_id)
    now = utcnow()
    if w is None:
        s.add(
            WorkerBeat(
                id=worker_id,
                host=host,
                pid=pid,
                queues=list(queues),
                threads=threads,
                started_at=now,
                beat_at=now,
                running=list(running),
                idle_since=idle_since,
            )
        )
        return
    w.beat_at, w.running, w.idle_since, w.queues = now, list(running), idle_since, list(queues)


def forget_worker(s: Session, worker_id: str) -> None:
    s.execute(delete(WorkerBeat).where(WorkerBeat.id == worker_id))


def forget_dead_workers(s: Session, older_than: datetime) -> int:
    result = s.execute(
        delete(WorkerBeat).where(WorkerBeat.beat_at < older_than).execution_options(synchronize_session=False)
    )
    return int(_rowcount(result) or 0)


def live_workers(s: Session, since: datetime) -> list[WorkerBeat]:
    return list(
        s.scalars(select(WorkerBeat).where(WorkerBeat.beat_at >= since).order_by(WorkerBeat.started_at))
    )


def idle_queues(workers: Sequence[WorkerBeat]) -> dict[str, datetime]:
    """For each queue, since when every live worker listening on it has been idle (if all are)."""
    by_queue: dict[str, list[WorkerBeat]] = {}
    for w in workers:
        for q in w.queues:
            by_queue.setdefault(q, []).append(w)
    out: dict[str, datetime] = {}
    for q, ws in by_queue.items():
        if ws and all(w.idle_since is not None for w in ws):
            out[q] = max(as_utc(w.idle_since) for w in ws if w.idle_since is not None)
    return out


def _rowcount(result: object) -> int:
    """Rows an UPDATE/DELETE matched: ``Session.execute`` types every result as ``Result``; DML's is a
    ``CursorResult``, the one that has ``rowcount``."""
    assert isinstance(result, CursorResult)
    return result.rowcount
