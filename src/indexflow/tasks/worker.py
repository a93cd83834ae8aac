"""``indexflow worker``: Dramatiq worker processes for the plan and embed queues.

With ``metrics_port`` the processes' metrics are served on one HTTP endpoint
(``observability.metrics.MetricsEndpoint``: prometheus_client's multiprocess mode in a
temporary folder of this run when there are several processes).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from typing import TYPE_CHECKING

from indexflow.errors import ConfigurationError
from indexflow.settings import Settings

if TYPE_CHECKING:
    from indexflow.observability.metrics import MetricsEndpoint

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
        from indexflow.encoders.hf import set_encoder_threads

        set_encoder_threads(settings.encoder_threads)
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
    from indexflow.observability.logs import configure_logging

    configure_logging(settings.log_format)
    run_worker(settings, queues, threads)


def run_workers(
    settings: Settings,
    queues: list[str] | None,
    processes: int,
    threads: int,
    *,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> None:
    """Start ``processes`` worker processes (spawned: no forked torch/DB state) and wait.

    ``metrics_port``: serve all their metrics on ``http://metrics_host:metrics_port/metrics``.

    Raises:
        ConfigurationError: the metrics port cannot be bound.
    """
    endpoint = None
    if metrics_port is not None:
        from indexflow.observability.metrics import MetricsEndpoint

        # Before any child starts: with several processes it exports their metrics folder.
        endpoint = MetricsEndpoint(metrics_host, metrics_port, processes=processes)
        log.info(
            "serving metrics on http://%s:%d/metrics%s",
            metrics_host,
            endpoint.port,
            f" (the processes' values in {endpoint.path})" if endpoint.path else "",
        )
    try:
        _run(settings, queues, processes, threads, endpoint)
    finally:
        if endpoint is not None:
            endpoint.close()


def _run(
    settings: Settings,
    queues: list[str] | None,
    processes: int,
    threads: int,
    endpoint: MetricsEndpoint | None,
) -> None:
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
        if endpoint is not None and child.pid is not None:
            endpoint.process_ended(child.pid)
