"""Plain result objects the facade returns (never ORM objects): reports, progress, views."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from indexflow.db.models import ChunkPlan, PlanStatus, as_utc


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset (SQLite hands datetimes back naive; all are UTC)."""
    return as_utc(dt).isoformat() if dt is not None else None


def plan_view(p: ChunkPlan) -> dict[str, Any]:
    """A plan as plain data: status, counts, error, timestamps."""
    return {
        "plan_id": p.id,
        "document_id": p.document_id,
        "version_id": p.version_id,
        "profile": p.profile.name,
        "status": p.status.value,
        "is_active": p.is_active,
        "generation": p.generation,
        "bundle_count": p.bundle_count,
        "chunk_count": p.chunk_count,
        "embedded_count": p.embedded_count,
        "last_error": p.last_error,
        "attempts": p.attempts,
        "retrying": retrying(p),
        "created_at": iso(p.created_at),
        "bundled_at": iso(p.bundled_at),
        "embedded_at": iso(p.embedded_at),
        "activated_at": iso(p.activated_at),
    }


def retrying(p: ChunkPlan) -> str | None:
    """Why an unfinished plan waits: "store unavailable: … since 10:42:07, next try 10:47:07"."""
    if p.retry_reason is None or p.status in (PlanStatus.EMBEDDED, PlanStatus.FAILED):
        return None
    since = f" since {as_utc(p.retry_since):%H:%M:%S} UTC" if p.retry_since else ""
    nxt = f", next try {as_utc(p.retry_at):%H:%M:%S} UTC" if p.retry_at else ""
    return f"{p.retry_reason}{since}{nxt}"


def document_status(plans: list[ChunkPlan]) -> str:
    """One word for a document: FAILED if any plan failed, else the least advanced plan's status."""
    if not plans:
        return "PENDING"
    statuses = {p.status for p in plans}
    if PlanStatus.FAILED in statuses:
        return "FAILED"
    order = list(PlanStatus)
    return min(statuses, key=order.index).value


@dataclass(slots=True)
class DocumentReport:
    source: str
    status: str
    document_id: int | None = None
    title: str | None = None
    dataset: str | None = None
    outcome: str | None = None
    is_active: bool = True
    plans: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class IngestReport:
    dataset: str
    documents: list[DocumentReport]
    skipped: list[str] = field(default_factory=list)  # folder files with no parser for their type

    @property
    def failed(self) -> list[DocumentReport]:
        return [d for d in self.documents if d.status == "FAILED"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.documents:
            out[d.status] = out.get(d.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "counts": self.counts(),
            "documents": [d.to_dict() for d in self.documents],
            "skipped": self.skipped,
        }


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
