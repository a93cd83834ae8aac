"""Run the actors: in-process worker threads (embedded default) or a worker process of a fleet."""

from __future__ import annotations

import logging
import threading

import dramatiq

from indexflow.pipeline.runtime import Runtime, Work
from indexflow.pipeline.sweeper import SweeperThread, sweep
from indexflow.tasks.actors import Actors, build_actors
from indexflow.tasks.broker import make_broker

log = logging.getLogger(__name__)


class TaskRunner:
    """Owns a broker and its actors; can run a Dramatiq worker and the sweeper in this process."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.broker = make_broker(rt.settings)
        self.actors: Actors = build_actors(self.broker, rt)
        self.in_process = not rt.settings.broker_url
        self._worker: dramatiq.Worker | None = None
        self._sweeper: SweeperThread | None = None
        self._lock = threading.Lock()

    def send(self, work: Work) -> None:
        if self.in_process:
            self.start_worker(self.rt.settings.in_process_threads)
        self.actors.send(work)

    def send_all(self, work: list[Work]) -> None:
        for item in work:
            self.send(item)

    def start_worker(
        self, threads: int, queues: list[str] | None = None, sweep_interval: float | None = None
    ) -> None:
        """Start consuming (idempotent). Also starts the sweeper and runs one sweep right away."""
        with self._lock:
            if self._worker is not None:
                return
            self._worker = dramatiq.Worker(
                self.broker,
                queues=set(queues) if queues else None,
                worker_threads=threads,
                worker_timeout=200,
            )
            self._worker.start()
            interval = sweep_interval or max(5.0, self.rt.settings.lease_seconds / 4)
            self._sweeper = SweeperThread(self.rt, self.actors.send, interval)
            self._sweeper.start()
        try:
            # Page through: each resumed plan gets a fresh lease, so it is not picked twice.
            for _ in range(10_000):
                work = sweep(self.rt, untouched_since=self.rt.started_at if self.in_process else None)
                if not work:
                    break
                self.actors.send_all(work)
        except Exception:
            log.exception("initial sweep failed")

    def join(self) -> None:
        """Block until every queued in-process message has been processed."""
        from dramatiq.brokers.stub import StubBroker

        if isinstance(self.broker, StubBroker) and self._worker is not None:
            self.broker.join(self.rt.settings.plan_queue, fail_fast=False)
            self.broker.join(self.rt.settings.embed_queue, fail_fast=False)
            self._worker.join()

    def close(self) -> None:
        with self._lock:
            if self._sweeper is not None:
                self._sweeper.stop()
                self._sweeper = None
            if self._worker is not None:
                self._worker.stop(timeout=30_000)
                self._worker = None
        self.broker.close()
