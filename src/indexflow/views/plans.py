"""Plans: a plan's status and counts, a document's one word, the event feed, ingest progress."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field

from indexflow.db.models import (
    ChunkPlan,
    PlanStatus,
    as_utc,
)
from indexflow.views.base import View, iso

# The error the state machine gives the plans of a deactivated document (pipeline/machine.py).
DEACTIVATED_ERROR = "document deactivated"


class PlanView(View):
    """A chunk plan: one document version cut and embedded under one profile."""

    plan_id: int
    document_id: int
    version_id: int
    profile: str
    status: str = Field(description="PENDING | PARSED | BUNDLING | BUNDLED | EMBEDDING | EMBEDDED | FAILED")
    is_active: bool = Field(description="this plan serves search for its (document, profile)")
    state: str = Field(
        default="",
        description="the status as a person reads it: the status, except RETIRED (a READY plan "
        "that served search and was taken out of service: its chunks wait, nothing is embedded) "
        "and DEACTIVATED (a plan stopped because its document was deactivated)",
    )
    generation: int
    bundle_count: int | None
    chunk_count: int | None
    embedded_count: int | None
    last_error: str | None
    attempts: int
    retrying: str | None = Field(description="why an unfinished plan waits, and until when")
    created_at: str | None
    bundled_at: str | None
    embedded_at: str | None
    activated_at: str | None

    @classmethod
    def of(cls, p: ChunkPlan) -> PlanView:
        return cls(
            plan_id=p.id,
            document_id=p.document_id,
            version_id=p.version_id,
            profile=p.profile.name,
            status=p.status.value,
            is_active=p.is_active,
            state=plan_state(p),
            generation=p.generation,
            bundle_count=p.bundle_count,
            chunk_count=p.chunk_count,
            embedded_count=p.embedded_count,
            last_error=p.last_error,
            attempts=p.attempts,
            retrying=retrying(p),
            created_at=iso(p.created_at),
            bundled_at=iso(p.bundled_at),
            embedded_at=iso(p.embedded_at),
            activated_at=iso(p.activated_at),
        )


def plan_state(p: ChunkPlan) -> str:
    """``p``'s status, or RETIRED / DEACTIVATED where the status alone reads wrong (a retired
    plan is READY with nothing embedded, a deactivated document's plans are FAILED)."""
    if p.status == PlanStatus.FAILED and p.last_error == DEACTIVATED_ERROR:
        return "DEACTIVATED"
    served_once = p.activated_at is not None
    if p.status == PlanStatus.READY and not p.is_active and served_once and not p.embedded_count:
        return "RETIRED"
    return p.status.value


def retrying(p: ChunkPlan) -> str | None:
    """Why an unfinished plan waits: "store unavailable: … since 10:42:07, next try 10:47:07"."""
    if p.retry_reason is None or p.status in (PlanStatus.EMBEDDED, PlanStatus.FAILED):
        return None
    since = f" since {as_utc(p.retry_since):%H:%M:%S} UTC" if p.retry_since else ""
    nxt = f", next try {as_utc(p.retry_at):%H:%M:%S} UTC" if p.retry_at else ""
    return f"{p.retry_reason}{since}{nxt}"


def document_status(plans: Sequence[ChunkPlan]) -> str:
    """One word for a document: FAILED if any plan failed, else the least advanced plan's status."""
    if not plans:
        return "PENDING"
    statuses = {p.status for p in plans}
    if PlanStatus.FAILED in statuses:
        return "FAILED"
    order = list(PlanStatus)
    return min(statuses, key=order.index).value


class PlanChanges(View):
    """A page of plans changed after a cursor (the status event stream), and the next cursor."""

    plans: list[PlanView]
    cursor: tuple[datetime, int]
    full_page: bool


@dataclass(slots=True)
class Progress:
    """Where a set of plans stands, read from the database."""

    registered: int
    plans_total: int
    parsed: int
    bundled: int
    plans_done: int
    plans_failed: int
    chunks_total: int
    chunks_embedded: int

    @property
    def finished(self) -> bool:
        return self.plans_done >= self.plans_total

    @classmethod
    def of(cls, rows: list[Any], *, registered: int | None = None) -> Progress:
        done = sum(1 for r in rows if r.status in (PlanStatus.EMBEDDED, PlanStatus.FAILED))
        return cls(
            registered=registered if registered is not None else len(rows),
            plans_total=len(rows),
            parsed=sum(1 for r in rows if r.parsed_at is not None or r.status == PlanStatus.FAILED),
            bundled=sum(1 for r in rows if r.bundled_at is not None or r.status == PlanStatus.FAILED),
            plans_done=done,
            plans_failed=sum(1 for r in rows if r.status == PlanStatus.FAILED),
            chunks_total=sum(r.chunk_count or 0 for r in rows),
            chunks_embedded=sum(r.embedded_count or 0 for r in rows),
        )
