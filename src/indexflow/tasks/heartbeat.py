"""A worker's identity and heartbeat: it renews the claims it holds and its row in ``workers``."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime

from indexflow.db import units as units_repo
from indexflow.db.models import utcnow
from indexflow.db.session import transaction
from indexflow.db.units import Claim
from indexflow.runtime import Runtime

log = logging.getLogger(__name__)


class WorkerState:
    """What this process is running now; shared by its actor threads and its heartbeat."""

    def __init__(self, queues: Sequence[str], threads: int) -> None:
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.queues = list(queues)
        self.threads = threads
        self._running: dict[int, str] = {}
        self._reserved: set[int] = set()
        self._idle_since: datetime | None = utcnow()
        self._lock = threading.Lock()

    def reserve(self, unit_id: int) -> bool:
        """Take a unit for one thread of this process; ``False`` if another thread has it.

        The database claim keeps other processes out; this keeps a repeated message from
        running a unit twice inside one process (its threads share one worker id).
        """
        with self._lock:
            if unit_id in self._reserved:
                return False
            self._reserved.add(unit_id)
            return True

    def release(self, unit_id: int) -> None:
        with self._lock:
            self._reserved.discard(unit_id)

    def started(self, claim: Claim) -> None:
        with self._lock:
            self._running[claim.unit_id] = claim.token
            self._idle_since = None

    def done(self, claim: Claim) -> None:
        with self._lock:
            self._running.pop(claim.unit_id, None)
            if not self._running:
                self._idle_since = utcnow()

    def snapshot(self) -> tuple[list[int], list[str], datetime | None]:
        with self._lock:
            return list(self._running), list(self._running.values()), self._idle_since


def beat(rt: Runtime, state: WorkerState) -> None:
    """One heartbeat: extend this worker's claims, refresh its row."""
    running, tokens, idle_since = state.snapshot()
    with transaction(rt.sessions) as s:
        units_repo.heartbeat(s, tokens, rt.settings.lease_seconds)
        units_repo.beat(
            s,
            state.id,
            host=state.host,
            pid=state.pid,
            queues=state.queues,
            threads=state.threads,
            running=running,
            idle_since=idle_since,
        )


class HeartbeatThread(threading.Thread):
    """Beats every ``settings.heartbeat_seconds`` until stopped; outlives database hiccups."""

    def __init__(self, rt: Runtime, state: WorkerState) -> None:
        super().__init__(name="indexflow-heartbeat", daemon=True)
        self.rt, self.state = rt, state
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            try:
                beat(self.rt, self.state)
            except Exception as exc:  # noqa: BLE001 - must survive a database outage; work is redone
                log.warning("heartbeat failed: %s", exc)
            if self._stop_event.wait(self.rt.settings.heartbeat_seconds):
                return

    def stop(self) -> None:
        self._stop_event.set()
        try:
            with transaction(self.rt.sessions) as s:
                units_repo.forget_worker(s, self.state.id)
        except Exception as exc:  # noqa: BLE001 - best effort; a stale row ages out
            log.debug("could not remove worker row: %s", exc)
