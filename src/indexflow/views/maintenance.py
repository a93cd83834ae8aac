"""Maintenance: purge and reconcile reports, workers, health."""

from __future__ import annotations

from pydantic import ConfigDict, Field, computed_field

from indexflow.db.models import (
    WorkerBeat,
)
from indexflow.views.base import View, iso


class PurgeReport(View):
    """What a purge removed (or, with ``dry_run``, would remove)."""

    model_config = ConfigDict(frozen=False)

    dry_run: bool
    preserve_vectors: bool
    documents: list[int] = Field(default_factory=list)
    plans: list[int] = Field(default_factory=list)
    chunks: int = 0
    points: int = 0
    profiles: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)


class ReconcileReport(View):
    """Store against database: orphan points, detached collections, plans missing points."""

    model_config = ConfigDict(frozen=False)

    fixed: bool
    orphan_points: dict[str, list[str]] = Field(default_factory=dict, description="collection -> ids")
    plans_missing_points: list[int] = Field(default_factory=list)
    detached_collections: dict[str, int] = Field(
        default_factory=dict, description="collections of profiles that no longer exist -> points"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def orphan_count(self) -> int:
        return sum(len(v) for v in self.orphan_points.values())

    @property
    def findings(self) -> bool:
        return bool(self.orphan_count or self.plans_missing_points or self.detached_collections)


class WorkerView(View):
    """A live worker process (its heartbeat is recent)."""

    id: str
    host: str
    pid: int
    queues: list[str]
    threads: int
    running_units: list[int]
    started_at: str | None
    last_beat: str | None
    idle_since: str | None

    @classmethod
    def of(cls, w: WorkerBeat) -> WorkerView:
        return cls(
            id=w.id,
            host=w.host,
            pid=w.pid,
            queues=list(w.queues),
            threads=w.threads,
            running_units=list(w.running),
            started_at=iso(w.started_at),
            last_beat=iso(w.beat_at),
            idle_since=iso(w.idle_since),
        )


class Health(View):
    status: str = Field(description="ok | degraded (a queue has no live worker)")
    broker: str = Field(description="in-process | external")
    workers: dict[str, int] = Field(description="live workers per queue")
    queues_without_workers: list[str]
