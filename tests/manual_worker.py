"""Run work units by hand, in the test's thread: exactly what a worker does, one step at a time."""

from __future__ import annotations

from typing import Any

from indexflow.db.models import UnitKind, WorkUnit
from indexflow.tasks.execute import run_unit
from indexflow.tasks.heartbeat import WorkerState


class ManualWorker:
    """Captures what the facade sends (instead of a broker) and runs it on demand.

    The in-process worker is never started, so nothing runs unless the test says so.
    """

    def __init__(self, ix: Any, name: str = "manual") -> None:
        self.ix = ix
        self.sent: list[tuple[UnitKind, int]] = []
        tasks = ix.tasks
        self._saved = (tasks.outbox._send, tasks.outbox._before_send)
        tasks.start_worker = lambda *a, **k: None
        tasks.outbox._send = lambda kind, unit_id: self.sent.append((kind, unit_id))
        tasks.outbox._before_send = None
        self.state = WorkerState(["indexing-plan", "indexing-embed"], 1)
        self.state.id = name

    def restore(self) -> None:
        """Hand sending back to the facade's own (in-process) worker."""
        tasks = self.ix.tasks
        del tasks.start_worker  # the instance attribute; the method shows through again
        tasks.outbox._send, tasks.outbox._before_send = self._saved

    def take(self, kind: UnitKind | None = None) -> list[int]:
        """Remove and return the ids of captured messages (of one kind)."""
        picked = [u for k, u in self.sent if kind is None or k == kind]
        self.sent = [(k, u) for k, u in self.sent if u not in picked]
        return picked

    def run(self, unit_id: int, *, as_worker: WorkerState | None = None) -> None:
        run_unit(self.ix.rt, unit_id, as_worker or self.state, self.ix.tasks.outbox)

    def drain(self, limit: int = 10_000) -> int:
        """Run captured messages (and what they lead to) until none is left."""
        ran = 0
        while self.sent and ran < limit:
            _, unit_id = self.sent.pop(0)
            self.run(unit_id)
            ran += 1
        return ran


def units(ix: Any) -> list[WorkUnit]:
    """Every work unit still in the database (nothing left means nothing queued or claimed)."""
    with ix.rt.sessions() as s:
        return list(s.query(WorkUnit).order_by(WorkUnit.id))
