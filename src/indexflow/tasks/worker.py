"""``indexflow worker``: Dramatiq worker processes for the plan and embed queues."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading

from indexflow.errors import ConfigurationError
from indexflow.settings import Settings

log = logging.getLogger(__name__)


def run_worker(settings: Settings, queues: list[str] | None, threads: int) -> None:
    """Consume ``queues`` (default: both) in this process until SIGINT/SIGTERM."""
    from indexflow.runtime import Runtime
    from indexflow.tasks.runner import TaskRunner

    if not settings.broker_url:
        raise ConfigurationError(
            "indexflow worker needs INDEXFLOW_BROKER_URL (redis://… or amqp://…); "
            "without a broker, ingest runs its own in-process worker"
        )
    if settings.encoder_threads:
        import torch

        torch.set_num_threads(settings.encoder_threads)
    rt = Runtime(settings)
    rt.ensure_schema()
    queues = queues or [settings.plan_queue, settings.embed_queue]
    runner = TaskRunner(rt, queues=queues, threads=threads)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner.start_worker(threads, queues=queues)
    log.info("worker consuming %s with %d threads", queues, threads)
    try:
        stop.wait()
    finally:
        runner.close()
        rt.close()


def _child(settings: Settings, queues: list[str] | None, threads: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(levelname)s %(message)s")
    run_worker(settings, queues, threads)


def run_workers(settings: Settings, queues: list[str] | None, processes: int, threads: int) -> None:
    """Start ``processes`` worker processes (spawned: no forked torch/DB state) and wait."""
    if processes <= 1:
        _child(settings, queues, threads)
        return
    ctx = multiprocessing.get_context("spawn")
    if settings.encoder_threads is None:
        # N processes each running torch on every core oversubscribe the CPU: share the cores.
        settings = settings.model_copy(update={"encoder_threads": max(1, (os.cpu_count() or 1) // processes)})
    children = [
        ctx.Process(target=_child, args=(settings, queues, threads), name=f"indexflow-worker-{i}")
        for i in range(processes)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.is_alive() and child.pid:
                os.kill(child.pid, signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    for child in children:
        child.join()
