"""Every Prometheus metric indexflow exports (names start with ``indexflow_``), in one place.

What a process did (counted where it happens, ``prometheus_client`` objects in :data:`REGISTRY`):

    indexflow_stage_duration_seconds{stage,outcome}      histogram  one work unit's run (execute.py):
                                                                    stage parse|bundle|embed,
                                                                    outcome ok|retry|failed|dropped
    indexflow_embed_batch_duration_seconds{encoder}      histogram  the encoder's call for one batch
    indexflow_upsert_duration_seconds{store}             histogram  one batch written to the store
    indexflow_chunks_embedded_total{profile}             counter    chunks whose embed batch committed
    indexflow_tokens_embedded_total{profile}             counter    their tokens (chunks.token_count)
    indexflow_retries_total{stage,error_class}           counter    units given back with backoff:
                                                                    transient | unknown
    indexflow_failures_total{stage,error_class}          counter    units that failed their plan:
                                                                    permanent | timeout | unknown
    indexflow_dramatiq_messages_total{queue,actor}       counter    messages processed (and
      …_message_errors_total, …_message_retries_total,              errored, retried, dead-lettered),
      …_message_rejects_total, …_messages_inprogress,               in progress, and their durations
      …_message_duration_seconds                                    (DramatiqMetrics, every broker)
    indexflow_process_*                                  process CPU, memory, open files (single process)

What the database holds (read at scrape time by :class:`StateCollector`, one GROUP BY each):

    indexflow_plans{dataset,profile,status}              gauge      every plan, retired ones too
    indexflow_documents{dataset,profile,status}          gauge      active documents by their current
                                                                    version's plan status
    indexflow_chunks_remaining{dataset,profile}          gauge      chunks of unfinished plans not
                                                                    embedded yet
    indexflow_queue_depth{queue}                         gauge      unfinished work units per queue
    indexflow_queue_claimed{queue}                       gauge      of which a worker runs now
    indexflow_state_up                                   gauge      1 if the database answered

Embed throughput is derived from the counters, not kept as a gauge:
``rate(indexflow_chunks_embedded_total[5m])`` (chunks/s) and the same for tokens.

Processes. ``indexflow serve`` is one process: ``GET /metrics`` renders :data:`REGISTRY` and the
state gauges. ``indexflow worker --metrics-port P`` serves what its processes did on one port:
with ``--processes 1`` straight from :data:`REGISTRY`; with more, in prometheus_client's
multiprocess mode, each child writing its values to files in a fresh temporary folder made for
this run (``PROMETHEUS_MULTIPROC_DIR``, exported before the children start) and the parent
process adding them up at each scrape (:class:`MetricsEndpoint`). Workers do not export the
state gauges: they are the database's, scraped once from ``serve``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dramatiq.middleware import Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from indexflow.errors import ConfigurationError, TransientError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from dramatiq.broker import Broker, MessageProxy
    from dramatiq.message import Message

    from indexflow.db.stats import Snapshot

CONTENT_TYPE = CONTENT_TYPE_LATEST
PLAN_STATUSES = ("PENDING", "BUNDLING", "READY", "EMBEDDING", "EMBEDDED", "FAILED")
OUTCOMES = ("ok", "retry", "failed", "dropped")
ERROR_CLASSES = ("transient", "permanent", "timeout", "unknown")

REGISTRY = CollectorRegistry()
"""indexflow's own registry (not prometheus_client's global one, whose names are not ours)."""

ProcessCollector(namespace="indexflow", registry=REGISTRY)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

STAGE_SECONDS = Histogram(
    "indexflow_stage_duration_seconds",
    "One work unit's run, from claim to its last commit, by stage and outcome.",
    ["stage", "outcome"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
EMBED_BATCH_SECONDS = Histogram(
    "indexflow_embed_batch_duration_seconds",
    "The encoder's call for one embed batch.",
    ["encoder"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
UPSERT_SECONDS = Histogram(
    "indexflow_upsert_duration_seconds",
    "Writing one embed batch's points to the vector store.",
    ["store"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
CHUNKS_EMBEDDED = Counter(
    "indexflow_chunks_embedded",
    "Chunks embedded and stored (their batch committed).",
    ["profile"],
    registry=REGISTRY,
)
TOKENS_EMBEDDED = Counter(
    "indexflow_tokens_embedded",
    "Tokens of the chunks embedded (chunks.token_count; context headers not counted).",
    ["profile"],
    registry=REGISTRY,
)
ENCODER_TOKENS = Counter(
    "indexflow_encoder_tokens",
    "Tokens the encoder ran: kind=real (the texts' own, special tokens included) or "
    "kind=padding (added to fill a batch); padding / real is the wasted share.",
    ["encoder", "kind"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "indexflow_retries",
    "Work units given back to run again later, by stage and error class (transient, unknown).",
    ["stage", "error_class"],
    registry=REGISTRY,
)
FAILURES = Counter(
    "indexflow_failures",
    "Work units that failed their plan, by stage and error class (permanent, timeout, unknown).",
    ["stage", "error_class"],
    registry=REGISTRY,
)

_MESSAGE_SECONDS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800)
_DRAMATIQ = ["queue", "actor"]
DRAMATIQ_MESSAGES = Counter(
    "indexflow_dramatiq_messages", "Messages processed.", _DRAMATIQ, registry=REGISTRY
)
DRAMATIQ_ERRORS = Counter(
    "indexflow_dramatiq_message_errors", "Messages whose actor raised.", _DRAMATIQ, registry=REGISTRY
)
DRAMATIQ_RETRIES = Counter(
    "indexflow_dramatiq_message_retries",
    "Messages enqueued again by Dramatiq's retries (the state database was down).",
    _DRAMATIQ,
    registry=REGISTRY,
)
DRAMATIQ_REJECTS = Counter(
    "indexflow_dramatiq_message_rejects", "Messages dead-lettered.", _DRAMATIQ, registry=REGISTRY
)
DRAMATIQ_INPROGRESS = Gauge(
    "indexflow_dramatiq_messages_inprogress",
    "Messages being processed now.",
    _DRAMATIQ,
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
DRAMATIQ_SECONDS = Histogram(
    "indexflow_dramatiq_message_duration_seconds",
    "Time an actor spent on a message.",
    _DRAMATIQ,
    buckets=_MESSAGE_SECONDS,
    registry=REGISTRY,
)


# -- a stage run: what execute.py measures and classifies --------------------------------------------
@dataclass(slots=True)
class StageRun:
    """One run of a work unit; ``end`` says how it ended. Recorded when its block exits.

    A run that never ``end``\\s left through an exception (the state database went away while
    recording the outcome): Dramatiq retries the message, so it counts as a transient retry.
    """

    stage: str
    started: float
    ended: float | None = None
    outcome: str = "retry"
    error_class: str | None = "transient"
    embedded: tuple[str, int, int] | None = None  # (profile, chunks, tokens), set by the embed stage

    def end(self, outcome: str, error_class: str | None = None) -> None:
        self.outcome, self.error_class, self.ended = outcome, error_class, time.perf_counter()

    @property
    def seconds(self) -> float:
        return (self.ended if self.ended is not None else time.perf_counter()) - self.started


_RUN: ContextVar[StageRun | None] = ContextVar("indexflow_stage_run", default=None)


@contextmanager
def stage_run(stage: str) -> Iterator[StageRun]:
    """Measure one unit's run; on exit its duration, outcome and (if ok) embedded chunks count."""
    run = StageRun(stage, time.perf_counter())
    token = _RUN.set(run)
    try:
        yield run
    finally:
        _RUN.reset(token)
        record(run)


def record(run: StageRun) -> None:
    STAGE_SECONDS.labels(run.stage, run.outcome).observe(run.seconds)
    if run.outcome == "retry":
        RETRIES.labels(run.stage, run.error_class or "unknown").inc()
    elif run.outcome == "failed":
        FAILURES.labels(run.stage, run.error_class or "unknown").inc()
    elif run.outcome == "ok" and run.embedded is not None:
        profile, chunks, tokens = run.embedded
        CHUNKS_EMBEDDED.labels(profile).inc(chunks)
        TOKENS_EMBEDDED.labels(profile).inc(tokens)


def embedded(profile: str, chunks: int, tokens: int) -> None:
    """The embed stage, in the transaction that marks its chunks EMBEDDED: counted once the
    run ends ok (so after that commit), never for a batch rolled back or undone."""
    run = _RUN.get()
    if run is not None:
        run.embedded = (profile, chunks, tokens)


def encoder_tokens(encoder: str, real: int, padding: int) -> None:
    """One forward pass's tokens (the HF encoders' length-bucketed batches)."""
    ENCODER_TOKENS.labels(encoder, "real").inc(real)
    ENCODER_TOKENS.labels(encoder, "padding").inc(padding)


def encode_timer(encoder: str) -> Any:
    """``with encode_timer(encoder.name): vectors = encoder.encode(texts)``."""
    return EMBED_BATCH_SECONDS.labels(encoder).time()


def upsert_timer(store: str) -> Any:
    """``with upsert_timer(rt.store_kind): store.upsert(collection, points)``."""
    return UPSERT_SECONDS.labels(store).time()


# -- the state gauges, read from the database at scrape time ------------------------------------------
class StateCollector(Collector):
    """The database's counts as gauges; ``read`` runs the queries (``db/stats.py``) at each scrape."""

    def __init__(self, read: Callable[[], Snapshot], queues: Sequence[str]) -> None:
        self._read = read
        self._queues = list(queues)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("indexflow_state_up", "1 if the state database answered this scrape.")
        try:
            snap = self._read()
        except TransientError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        labels = ["dataset", "profile", "status"]
        plans = GaugeMetricFamily("indexflow_plans", "Plans by dataset, profile and status.", labels=labels)
        docs = GaugeMetricFamily(
            "indexflow_documents",
            "Active documents by dataset, profile and the status of their current version's plan.",
            labels=labels,
        )
        left = GaugeMetricFamily(
            "indexflow_chunks_remaining",
            "Chunks of unfinished plans not embedded yet (known once a plan is bundled).",
            labels=["dataset", "profile"],
        )
        for family, rows in ((plans, snap.plans), (docs, snap.documents)):
            counts: dict[tuple[str, str], dict[str, int]] = {}
            for r in rows:
                counts.setdefault((r.dataset, r.profile), dict.fromkeys(PLAN_STATUSES, 0))[r.status] = r.count
            for (dataset, profile), by_status in sorted(counts.items()):
                for status, n in by_status.items():
                    family.add_metric([dataset, profile, status], n)
        remaining: dict[tuple[str, str], int] = {}
        for r in snap.plans:
            remaining[(r.dataset, r.profile)] = remaining.get((r.dataset, r.profile), 0) + r.chunks_left
        for (dataset, profile), n in sorted(remaining.items()):
            left.add_metric([dataset, profile], n)
        depth = GaugeMetricFamily(
            "indexflow_queue_depth", "Unfinished work units per queue.", labels=["queue"]
        )
        claimed = GaugeMetricFamily(
            "indexflow_queue_claimed", "Unfinished work units a worker holds now.", labels=["queue"]
        )
        per_queue = {q: (0, 0) for q in self._queues} | {q.queue: (q.units, q.claimed) for q in snap.queues}
        for queue, (units, held) in sorted(per_queue.items()):
            depth.add_metric([queue], units)
            claimed.add_metric([queue], held)
        yield from (plans, docs, left, depth, claimed)


def exposition(read: Callable[[], Snapshot], queues: Sequence[str]) -> bytes:
    """This process's metrics and the state gauges, in the Prometheus text format."""
    state = CollectorRegistry()
    state.register(StateCollector(read, queues))
    return generate_latest(REGISTRY) + generate_latest(state)


# -- Dramatiq's own counters ------------------------------------------------------------------------
class DramatiqMetrics(Middleware):
    """Messages processed, errored, retried, dead-lettered, in progress, and their durations.

    Dramatiq's ``dramatiq.middleware.prometheus.Prometheus`` records the same, but it does not fit
    here: it starts its HTTP server (0.0.0.0:9191) as a fork of Dramatiq's own CLI launcher, which
    indexflow does not use; it switches every process to multiprocess mode in one shared folder
    (``$TMPDIR/dramatiq-prometheus``, which only that launcher clears) when it boots; and its names
    are not ``indexflow_``. So these counters live in :data:`REGISTRY` with the others.
    """

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def after_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None:
        if "retries" in message.options:
            DRAMATIQ_RETRIES.labels(message.queue_name, message.actor_name).inc()

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        DRAMATIQ_REJECTS.labels(message.queue_name, message.actor_name).inc()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        DRAMATIQ_INPROGRESS.labels(message.queue_name, message.actor_name).inc()
        self._started[message.message_id] = time.perf_counter()

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        labels = (message.queue_name, message.actor_name)
        started = self._started.pop(message.message_id, None)
        if started is not None:
            DRAMATIQ_SECONDS.labels(*labels).observe(time.perf_counter() - started)
        DRAMATIQ_INPROGRESS.labels(*labels).dec()
        DRAMATIQ_MESSAGES.labels(*labels).inc()
        if exception is not None:
            DRAMATIQ_ERRORS.labels(*labels).inc()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self.after_process_message(broker, message)


# -- the worker's endpoint --------------------------------------------------------------------------
class MetricsEndpoint:
    """``indexflow worker --metrics-port``: one HTTP endpoint for all of a worker's processes.

    With ``processes`` > 1 it makes a fresh folder for prometheus_client's multiprocess mode and
    exports ``PROMETHEUS_MULTIPROC_DIR`` before the children start (they inherit it, and import
    prometheus_client after it is set); each scrape adds up the children's files. Counters and
    histograms of a child that ended stay counted; its in-progress gauge is dropped
    (``process_ended``). ``close`` stops the server and removes the folder.

    Raises:
        ConfigurationError: the port cannot be bound.
    """

    def __init__(self, host: str, port: int, *, processes: int = 1) -> None:
        from prometheus_client import start_http_server

        from indexflow.settings import export_environment

        self.path: Path | None = None
        registry: CollectorRegistry = REGISTRY
        if processes > 1:
            from prometheus_client.multiprocess import MultiProcessCollector

            self.path = Path(tempfile.mkdtemp(prefix="indexflow-metrics-"))
            export_environment("PROMETHEUS_MULTIPROC_DIR", str(self.path))
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(self.path))  # type: ignore[no-untyped-call]
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            self._remove_folder()
            raise ConfigurationError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from exc
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.port = int(server.server_port)

    def process_ended(self, pid: int) -> None:
        """Forget the live gauges of a child that exited (however it ended)."""
        if self.path is not None:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(pid, str(self.path))  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._remove_folder()

    def _remove_folder(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
