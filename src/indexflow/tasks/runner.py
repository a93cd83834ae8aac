"""Run the actors: in-process worker threads (embedded default) or a worker process of a fleet.

Both use the same path: units come out of the outbox, the actors claim and run them, a
heartbeat renews the claims, and a sweeper thread re-sends what a dead worker left and relays
what is due. The embedded default owns its home (one process), so at start-up it resumes at
once everything a dead process left unfinished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import dramatiq

from indexflow.db.models import UnitKind
from indexflow.runtime import Runtime
from indexflow.tasks import homelock
from indexflow.tasks.actors import Actors, build_actors
from indexflow.tasks.broker import make_broker
from indexflow.tasks.execute import finish_first_loads
from indexflow.tasks.heartbeat import HeartbeatThread, WorkerState
from indexflow.tasks.outbox import Outbox
from indexflow.tasks.sweeper import SweepReport, sweep
from indexflow.tasks.webhooks import WebhookSender, WebhookThread, flush_recorded

log = logging.getLogger(__name__)


class SweeperThread(threading.Thread):
    """Sweeps and relays every ``interval`` seconds (one sweeper at a time across the fleet)."""

    def __init__(self, runner: TaskRunner, interval: float) -> None:
        super().__init__(name="indexflow-sweeper", daemon=True)
        self.runner, self.interval = runner, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.runner.sweep_once()
            except Exception as exc:  # noqa: BLE001 - the sweeper must outlive a database or broker hiccup
                log.warning("sweep failed: %s", exc)

    def stop(self) -> None:
        self._stop_event.set()


def _start_time_limits(broker: dramatiq.Broker) -> None:
    """Start Dramatiq's time-limit watcher, which only its own CLI launcher starts otherwise.

    Without it ``parse_timeout_seconds`` / ``embed_timeout_seconds`` would never fire.
    """
    from dramatiq.middleware import Middleware, TimeLimit

    for middleware in broker.middleware:
        if isinstance(middleware, TimeLimit):
            # TimeLimit's override is unannotated; call it through the typed base-class signature.
            hook: Middleware = middleware
            hook.after_process_boot(broker)


class TaskRunner:
    """Owns a broker, its actors and the outbox; can run a worker, heartbeat and sweeper here."""

    def __init__(
        self, rt: Runtime, *, queues: Sequence[str] | None = None, threads: int | None = None
    ) -> None:
        self.rt = rt
        s = rt.settings
        self.in_process = not s.broker_url
        self.broker = make_broker(s)
        self.state = WorkerState(queues or [s.plan_queue, s.embed_queue], threads or s.in_process_threads)
        self.outbox = Outbox(rt, self._send, before_send=self._ensure_in_process_worker)
        self.actors: Actors = build_actors(self.broker, rt, self.state, self.outbox)
        self._worker: dramatiq.Worker | None = None
        self._sweeper: SweeperThread | None = None
        self._heartbeat: HeartbeatThread | None = None
        self.webhooks = WebhookSender(rt)  # posts committed webhook events (tasks/webhooks.py)
        self._webhook_thread: WebhookThread | None = None
        self._lock = threading.Lock()
        self._owns_home = False
        self._closing = threading.Event()
        self.sweeps: list[SweepReport] = []

    def _send(self, kind: UnitKind, unit_id: int) -> None:
        self.actors.send(kind, unit_id)

    def _ensure_in_process_worker(self) -> None:
        # While closing, a unit finishing in a worker thread sends its follow-up work: it stays in
        # the outbox (committed, unsent) for the next start, instead of starting a new worker
        # (which would wait for the lock close() holds until worker.stop() times out).
        if self.in_process and not self._closing.is_set():
            self.start_worker(self.rt.settings.in_process_threads)

    def own_home(self) -> None:
        """Embedded default: take the home's lock (refuses if another process holds it)."""
        if self.in_process and not self._owns_home:
            homelock.acquire(self.rt.settings.home)
            self._owns_home = True

    def send(self, unit_ids: Sequence[int]) -> None:
        """Send committed units (the outbox's fast path; the relay catches what this misses)."""
        self.outbox.send(unit_ids)

    def start_worker(
        self, threads: int, queues: list[str] | None = None, sweep_interval: float | None = None
    ) -> None:
        """Start consuming (idempotent), with the heartbeat and the sweeper; resume leftovers."""
        with self._lock:
            if self._worker is not None or self._closing.is_set():
                return
            self.own_home()
            if queues:
                self.state.queues = list(queues)
            self.state.threads = threads
            self._heartbeat = HeartbeatThread(self.rt, self.state)
            self._heartbeat.start()
            _start_time_limits(self.broker)
            self._worker = dramatiq.Worker(
                self.broker,
                queues=set(queues) if queues else None,
                worker_threads=threads,
                # In-process the queues are in memory: a short poll makes close() (every CLI
                # command) quick; a broker worker keeps the usual poll.
                worker_timeout=50 if self.in_process else 200,
            )
            self._worker.start()
            interval = sweep_interval or max(1.0, min(5.0, self.rt.settings.lease_seconds / 5))
            self._sweeper = SweeperThread(self, interval)
            self._sweeper.start()
            self._webhook_thread = WebhookThread(self.webhooks, self.rt.settings.webhook_poll_seconds)
            self._webhook_thread.start()
        try:
            # In-process, this process owns the home: what a dead run left is resumed right now.
            self.sweep_once(owner=self.state.id if self.in_process else None)
        except Exception as exc:  # noqa: BLE001 - best effort; the sweeper thread sweeps again shortly
            log.warning("initial sweep failed: %s", exc)

    def sweep_once(self, *, owner: str | None = None) -> SweepReport:
        report = sweep(self.rt, owner=owner)
        if report.ran:
            self.outbox.send(report.units)
            self.outbox.relay()
            if report.resends:
                self.sweeps.append(report)
            finish_first_loads(self.rt)  # a deferred ANN index whose load is over
        return report

    def join(self) -> None:
        """Block until every queued in-process message has been processed."""
        from dramatiq.brokers.stub import StubBroker

        if isinstance(self.broker, StubBroker) and self._worker is not None:
            self.broker.join(self.rt.settings.plan_queue, fail_fast=False)
            self.broker.join(self.rt.settings.embed_queue, fail_fast=False)
            self._worker.join()

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            if self._sweeper is not None:
                self._sweeper.stop()
                self._sweeper = None
            if self._worker is not None:
                self._worker.stop(timeout=30_000)
                self._worker = None
            if self._heartbeat is not None:
                self._heartbeat.stop()
                self._heartbeat = None
            if self._webhook_thread is not None:
                self._webhook_thread.stop(timeout=self.rt.settings.webhook_timeout_seconds + 5)
                self._webhook_thread = None
        flush_recorded(self.rt, self.webhooks)  # the events this process caused, sent before it exits
        self.broker.close()
        if self._owns_home:
            homelock.release(self.rt.settings.home)
            self._owns_home = False
