"""Fault-injection scenarios: shared invariants, status recording, worker fleets, private services.

Every scenario injects one fault (a dead or frozen worker, a broker or database restart, a store
outage, a crash between commit and send, duplicate deliveries, …) and then checks the same
invariants with :func:`assert_invariants`:

- every document ends in exactly one terminal state (all its current plans EMBEDDED or FAILED,
  the FAILED ones named and carrying a readable ``last_error``), and no other document is held up;
- for each profile collection, the store holds exactly one point per chunk of an active plan's
  serving generation;
- ``reconcile()`` finds no orphan point and no plan missing points;
- the ``work_units`` table is empty: nothing is left queued or claimed.

:class:`StatusRecorder` polls plan statuses while a scenario runs, so a test can also assert that
no status ever moved backwards (PENDING < BUNDLING < READY < EMBEDDING < EMBEDDED; FAILED is
terminal).

Scale-out scenarios run ``indexflow worker`` processes (:class:`Fleet`) against a private
PostgreSQL cluster (state and pgvector store in one database) and a private Redis or RabbitMQ from
:mod:`tests.faults.services`, so restarting a service never touches the system ones.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.faults.services import PostgresCluster, RedisServer, ServiceError
from tests.texts import BEES, TRAINS

REPO = Path(__file__).resolve().parents[2]

# Keys of ``expected_docs``: a document id, or its source (a path, resolved like ingest does).
DocKey = int | str | Path
# Values: "EMBEDDED", "INACTIVE", "DELETED", "FAILED" or ("FAILED", "text the last_error contains").
Expected = str | tuple[str, str]

STATUS_ORDER = {"PENDING": 0, "BUNDLING": 1, "READY": 2, "EMBEDDING": 3, "EMBEDDED": 4}
TERMINAL = {"EMBEDDED", "FAILED"}


# --------------------------------------------------------------------------------------------
# documents


TOPICS = (BEES, TRAINS)


def write_docs(folder: Path, count: int, *, paragraphs: int = 4, prefix: str = "doc") -> list[Path]:
    """``count`` small, distinct text documents (each paragraph numbered, each document too).

    With the default profile (200-token chunks) 4 paragraphs make 2 chunks, 8 make 3-4.
    """
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        text = TOPICS[i % 2]
        path = folder / f"{prefix}{i:03d}.txt"
        path.write_text(
            "\n\n".join(f"Document {prefix}{i} section {p + 1}. {text}" for p in range(paragraphs)) + "\n"
        )
        out.append(path)
    return out


# --------------------------------------------------------------------------------------------
# polling


def wait_for(
    cond: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
    diag: Callable[[], str] | None = None,
) -> Any:
    """Poll ``cond`` until it returns something truthy; exceptions (a database down) count as no.

    Fails the test after ``timeout`` seconds, with ``diag()`` in the message.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = cond()
        except Exception as exc:  # noqa: BLE001 - e.g. DatabaseUnavailable during a restart
            last_exc, value = exc, None
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = diag() if diag is not None else ""
            pytest.fail(
                f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_exc!r})\n{extra}"
            )
        time.sleep(interval)


def plan_rows(ix: Any, plan_ids: Sequence[int] | None = None) -> dict[int, tuple[str, int, int]]:
    """plan id -> (status, chunk_count, embedded_count), read from the database."""
    from indexflow.db.models import ChunkPlan
    from indexflow.db.session import transaction

    q = select(ChunkPlan.id, ChunkPlan.status, ChunkPlan.chunk_count, ChunkPlan.embedded_count)
    if plan_ids is not None:
        q = q.where(ChunkPlan.id.in_(list(plan_ids)))
    with transaction(ix.rt.readers) as s:
        return {pid: (st.value, n, e) for pid, st, n, e in s.execute(q)}


def wait_plans(
    ix: Any, plan_ids: Sequence[int], *, timeout: float, diag: Callable[[], str] | None = None
) -> None:
    """Until every plan is EMBEDDED or FAILED; tolerates a database that is down for a while."""
    wanted = set(plan_ids)

    def done() -> bool:
        rows = plan_rows(ix, list(wanted))
        return len(rows) == len(wanted) and all(st in TERMINAL for st, _, _ in rows.values())

    def why() -> str:
        try:
            text = f"plans: {plan_rows(ix, list(wanted))}\nunits: {unit_rows(ix)}"
        except Exception as exc:  # noqa: BLE001
            text = f"(cannot read plans: {exc})"
        return text + ("\n" + diag() if diag is not None else "")

    wait_for(done, timeout=timeout, interval=0.25, what=f"{len(wanted)} plans to finish", diag=why)


def unit_rows(ix: Any) -> list[dict[str, Any]]:
    """Every row of ``work_units`` (nothing left means nothing queued or claimed)."""
    from indexflow.db.models import WorkUnit
    from indexflow.db.session import transaction

    with transaction(ix.rt.readers) as s:
        return [
            {
                "id": u.id,
                "kind": u.kind.value,
                "plan_id": u.plan_id,
                "version_id": u.version_id,
                "sent_at": u.sent_at,
                "claimed_by": u.claimed_by,
                "claim_until": u.claim_until,
                "executions": u.executions,
                "failures": u.failures,
                "resends": u.resends,
                "last_error": u.last_error,
            }
            for u in s.scalars(select(WorkUnit).order_by(WorkUnit.id))
        ]


def plan_ids_of(report: Any) -> list[int]:
    """Plan ids of an IngestReport."""
    return [p.plan_id for d in report.documents for p in d.plans]


# --------------------------------------------------------------------------------------------
# invariants


def _key(key: DocKey) -> int | str:
    if isinstance(key, int):
        return key
    text = str(key)
    return text if "://" in text else str(Path(text).expanduser().resolve())


def _split(expected: Expected) -> tuple[str, str | None]:
    if isinstance(expected, tuple):
        return expected[0], expected[1]
    return expected, None


def assert_invariants(
    ix: Any, expected_docs: Mapping[DocKey, Expected], *, dataset: str | None = None
) -> dict[str, Any]:
    """Check the end state of a scenario (see the module doc); returns a few counts.

    ``expected_docs`` must name every document of ``dataset`` (all datasets if None): its id or
    source, and the state it must end in — "EMBEDDED", "FAILED" (optionally with a substring of
    its error), "INACTIVE" (deactivated: plans FAILED, no points), or "DELETED" (by id: no rows,
    no points).
    """
    from indexflow.db.models import Chunk, ChunkPlan, DocumentVersion, IndexProfile
    from indexflow.db.session import transaction
    from indexflow.stores.base import SearchFilter

    problems: list[str] = []
    reports = ix.documents.list(dataset=dataset)
    by_key: dict[int | str, Any] = {}
    for d in reports:
        by_key[d.document_id] = d
        by_key[d.source] = d
    wanted = {_key(k): _split(v) for k, v in expected_docs.items()}
    with transaction(ix.rt.readers) as s:
        profiles = list(s.scalars(select(IndexProfile)))
        collections = [p.collection for p in profiles]

        for key, (state, needle) in wanted.items():
            doc = by_key.get(key)
            if state == "DELETED":
                if doc is not None:
                    problems.append(f"{key}: expected DELETED, still listed as {doc.status}")
                if isinstance(key, int):
                    left = {
                        "plans": s.scalar(
                            select(func.count()).select_from(ChunkPlan).where(ChunkPlan.document_id == key)
                        ),
                        "versions": s.scalar(
                            select(func.count())
                            .select_from(DocumentVersion)
                            .where(DocumentVersion.document_id == key)
                        ),
                    }
                    for coll in collections:
                        left[coll] = ix.rt.store.count(
                            coll, SearchFilter(document_ids=(key,), only_enabled=False)
                        )
                    if any(left.values()):
                        problems.append(f"deleted document {key} left rows or points: {left}")
                continue
            if doc is None:
                problems.append(f"{key}: expected {state}, but no such document")
                continue
            current = [p for p in doc.plans if p.version_id == _current_version(s, doc.document_id)]
            statuses = sorted({p.status for p in current})
            if not current or not set(statuses) <= TERMINAL:
                problems.append(f"{doc.source}: plans not all terminal: {statuses} {current}")
            if doc.status != state:
                problems.append(
                    f"{doc.source}: expected {state}, is {doc.status} (error: {doc.error!r}; plans {current})"
                )
            if state == "EMBEDDED":
                for p in current:
                    if not (p.is_active and p.chunk_count > 0 and p.embedded_count == p.chunk_count):
                        problems.append(f"{doc.source}: EMBEDDED plan not serving all its chunks: {p}")
            if state in ("FAILED", "INACTIVE"):
                errors = [p.last_error for p in current if p.status == "FAILED"]
                if not errors or not all(errors):
                    problems.append(f"{doc.source}: FAILED plan without a readable last_error: {current}")
                elif needle is not None and not any(needle in e for e in errors):
                    problems.append(f"{doc.source}: expected an error containing {needle!r}, got {errors}")
            if state == "INACTIVE":
                for coll in collections:
                    n = ix.rt.store.count(
                        coll, SearchFilter(document_ids=(doc.document_id,), only_enabled=False)
                    )
                    if n:
                        problems.append(f"{doc.source}: deactivated but {n} points left in {coll}")

        unexpected = [d.source for d in reports if d.document_id not in wanted and d.source not in wanted]
        if unexpected:
            problems.append(f"documents not named in expected_docs: {unexpected}")

        # One point per chunk of every active plan's serving generation, nothing else.
        per_collection: dict[str, tuple[int, int]] = {}
        for prof in profiles:
            serving = dict(
                s.execute(
                    select(ChunkPlan.id, func.count(Chunk.id))
                    .join(Chunk, Chunk.plan_id == ChunkPlan.id)
                    .where(
                        ChunkPlan.profile_id == prof.id,
                        ChunkPlan.is_active,
                        Chunk.generation == ChunkPlan.serving_generation,
                    )
                    .group_by(ChunkPlan.id)
                ).all()
            )
            chunks = sum(serving.values())
            points = ix.rt.store.count(prof.collection, SearchFilter(only_enabled=False))
            per_collection[prof.collection] = (points, chunks)
            if points != chunks:
                detail = {
                    pid: (
                        n,
                        ix.rt.store.count(prof.collection, SearchFilter(plan_ids=(pid,), only_enabled=False)),
                    )
                    for pid, n in serving.items()
                }
                problems.append(
                    f"{prof.collection}: {points} points for {chunks} serving chunks "
                    f"(plan: (chunks, points)) {detail}"
                )
    rec = ix.maintenance.reconcile()
    if rec.orphan_points:
        problems.append(
            f"reconcile found orphan points: { {c: len(v) for c, v in rec.orphan_points.items()} }"
        )
    if rec.plans_missing_points:
        problems.append(f"reconcile found plans missing points: {rec.plans_missing_points}")
    if getattr(rec, "detached_collections", None):
        problems.append(f"reconcile found detached collections: {rec.detached_collections}")
    units = unit_rows(ix)
    if units:
        problems.append(f"work_units not empty ({len(units)} left): {units[:10]}")
    assert not problems, "invariants violated:\n- " + "\n- ".join(problems)
    return {"collections": per_collection, "documents": len(reports)}


def _current_version(s: Any, document_id: int) -> int | None:
    from indexflow.db.models import Document

    return s.scalar(select(Document.current_version_id).where(Document.id == document_id))


# --------------------------------------------------------------------------------------------
# status history


class StatusRecorder(threading.Thread):
    """Polls every plan's status while a scenario runs; a status must never move backwards.

    Order: PENDING < BUNDLING < READY < EMBEDDING < EMBEDDED; FAILED is terminal. Polls that fail
    (the database is being restarted) are counted and skipped. It also keeps what the work units
    went through (most resends, most transient failures) and the plans' retry reasons.
    """

    def __init__(self, ix: Any, interval: float = 0.15) -> None:
        super().__init__(name="status-recorder", daemon=True)
        self.ix, self.interval = ix, interval
        self.history: dict[int, list[str]] = {}
        self.polls = 0
        self.failed_polls = 0
        self.max_resends = 0  # most times one unit was sent again (expired claim, lost message)
        self.max_failures = 0  # most transient failures one unit went through
        self.retry_reasons: set[str] = set()  # why plans were waiting (ChunkPlan.retry_reason)
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def poll(self) -> None:
        try:
            rows = plan_rows(self.ix)
            units = unit_rows(self.ix)
            reasons = _retry_reasons(self.ix)
        except Exception:  # noqa: BLE001 - a database being restarted
            self.failed_polls += 1
            return
        with self._lock:
            self.polls += 1
            for pid, (status, _, _) in rows.items():
                seq = self.history.setdefault(pid, [])
                if not seq or seq[-1] != status:
                    seq.append(status)
            for u in units:
                self.max_resends = max(self.max_resends, u["resends"])
                self.max_failures = max(self.max_failures, u["failures"])
            self.retry_reasons |= reasons

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.poll()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        self.poll()  # the final state

    def seen(self, status: str) -> set[int]:
        """Plans that were seen in ``status`` at least once."""
        with self._lock:
            return {pid for pid, seq in self.history.items() if status in seq}

    def backwards(self) -> dict[int, list[str]]:
        """Plans whose recorded statuses moved backwards (or left FAILED)."""
        bad = {}
        with self._lock:
            for pid, seq in self.history.items():
                for before, after in itertools.pairwise(seq):
                    if before == "FAILED" or (
                        after != "FAILED" and STATUS_ORDER[after] < STATUS_ORDER[before]
                    ):
                        bad[pid] = list(seq)
                        break
        return bad

    def assert_never_backwards(self) -> None:
        assert self.polls > 0, "the status recorder never read the plans"
        bad = self.backwards()
        assert not bad, f"plan status moved backwards: {bad}"


def _retry_reasons(ix: Any) -> set[str]:
    from indexflow.db.models import ChunkPlan
    from indexflow.db.session import transaction

    with transaction(ix.rt.readers) as s:
        return set(s.scalars(select(ChunkPlan.retry_reason).where(ChunkPlan.retry_reason.is_not(None))))


@contextlib.contextmanager
def record_statuses(ix: Any, interval: float = 0.15) -> Iterator[StatusRecorder]:
    """Record plan statuses for the block; the recorder stops (and polls a last time) on exit."""
    rec = StatusRecorder(ix, interval)
    rec.start()
    try:
        yield rec
    finally:
        rec.stop()


# --------------------------------------------------------------------------------------------
# counting executions


class StageRuns:
    """Wraps ``indexflow.tasks.execute.STAGES``: how often each unit's stage actually ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from indexflow.tasks import execute

        self.runs: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()
        for kind, fn in list(execute.STAGES.items()):
            monkeypatch.setitem(execute.STAGES, kind, self._wrap(kind.value, fn))

    def _wrap(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def stage(rt: Any, claim: Any) -> Any:
            with self._lock:
                self.runs[(kind, claim.unit_id)] += 1
            return fn(rt, claim)

        return stage

    def of(self, kind: str) -> dict[int, int]:
        with self._lock:
            return {u: n for (k, u), n in self.runs.items() if k == kind}

    def repeated(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return {k: n for k, n in self.runs.items() if n > 1}


@pytest.fixture
def stage_runs(monkeypatch: pytest.MonkeyPatch) -> StageRuns:
    return StageRuns(monkeypatch)


# --------------------------------------------------------------------------------------------
# in-process facades


def in_process_settings(tmp_path: Path, **overrides: Any) -> Any:
    from indexflow.settings import Settings

    values: dict[str, Any] = {
        "home": tmp_path / "state",
        "lease_seconds": 5,
        "embed_batch_size": 2,
        "retry_max_backoff_seconds": 2,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def make_ix(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_ix(**settings)``: an embedded-default Indexflow (closed at teardown)."""
    from indexflow import Indexflow

    made: list[Any] = []

    def factory(**overrides: Any) -> Any:
        ix = Indexflow(in_process_settings(tmp_path, **overrides))
        made.append(ix)
        return ix

    yield factory
    for ix in reversed(made):
        ix.close()


# --------------------------------------------------------------------------------------------
# scale-out: private services, worker processes


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster for the session (one fresh database per test)."""
    try:
        cluster = PostgresCluster(tmp_path_factory.mktemp("pg"))
        cluster.start()
    except (ServiceError, OSError, KeyError) as exc:
        pytest.fail(f"cannot start a private PostgreSQL cluster: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private Redis for the session (queues are named per test)."""
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
        server.start()
    except (ServiceError, OSError) as exc:
        pytest.fail(f"cannot start a private Redis: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.close()


def new_database(cluster: PostgresCluster, label: str) -> str:
    """A fresh database (with the vector extension) on ``cluster``; its URL."""
    try:
        return cluster.create_database(f"ix_{label}_{uuid.uuid4().hex[:8]}")
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)


def scale_out_env(db_url: str, broker_url: str, home: Path, **extra: str) -> dict[str, str]:
    """Environment of a scale-out deployment: PostgreSQL + pgvector, a broker, short leases."""
    tag = uuid.uuid4().hex[:8]
    return {
        "INDEXFLOW_DATABASE_URL": db_url,
        "INDEXFLOW_BROKER_URL": broker_url,
        "INDEXFLOW_VECTOR_STORE": "pgvector",
        "INDEXFLOW_HOME": str(home),
        "INDEXING_PLAN_QUEUE": f"plan-{tag}",
        "INDEXING_EMBED_QUEUE": f"embed-{tag}",
        "INDEXING_EMBED_BATCH_SIZE": "2",
        "INDEXFLOW_LEASE_SECONDS": "5",
        "INDEXFLOW_RETRY_MAX_BACKOFF_SECONDS": "2",
        # A message that an idle fleet did not take within 3 s was lost (Redis restart, or it
        # sat in the prefetch buffer of a worker that died): send it again.
        "INDEXFLOW_REDELIVER_AFTER_SECONDS": "3",
        # Two worker processes on a small machine: one torch thread each.
        "INDEXFLOW_ENCODER_THREADS": "1",
    } | extra


_ENV_FIELDS = {
    "INDEXFLOW_DATABASE_URL": "database_url",
    "INDEXFLOW_BROKER_URL": "broker_url",
    "INDEXFLOW_VECTOR_STORE": "vector_store",
    "INDEXFLOW_HOME": "home",
    "INDEXING_PLAN_QUEUE": "plan_queue",
    "INDEXING_EMBED_QUEUE": "embed_queue",
    "INDEXING_EMBED_BATCH_SIZE": "embed_batch_size",
    "INDEXFLOW_LEASE_SECONDS": "lease_seconds",
    "INDEXFLOW_RETRY_MAX_BACKOFF_SECONDS": "retry_max_backoff_seconds",
    "INDEXFLOW_REDELIVER_AFTER_SECONDS": "redeliver_after_seconds",
    "INDEXFLOW_ENCODER_THREADS": "encoder_threads",
}


def settings_for(env: Mapping[str, str]) -> Any:
    """The facade's Settings for the same deployment as the workers' ``env``."""
    from indexflow.settings import Settings

    # Raw environment strings: Settings validates and converts them, as it does the real env.
    values: dict[str, Any] = {field: env[var] for var, field in _ENV_FIELDS.items() if var in env}
    return Settings(**values)


class WorkerProc:
    """One ``indexflow worker -p 1`` process (the worker itself: its pid is the worker's pid)."""

    def __init__(self, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.popen, self.log_path = popen, log_path
        self.stopped = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Signal the worker's whole process group (it leads a session of its own)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
        if sig == signal.SIGSTOP:
            self.stopped = True
        elif sig == signal.SIGCONT:
            self.stopped = False

    def kill(self) -> None:
        """kill -9 of the process group; returns once the worker is reaped."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def log(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


class Fleet:
    """Worker processes for one deployment; stopped (SIGTERM, then SIGKILL) at teardown."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("INDEXFLOW_", "INDEXING_"))}
        self.env.update(env)
        self.log_dir = log_dir
        self.procs: list[WorkerProc] = []

    def start(self, count: int = 1, threads: int = 2) -> list[WorkerProc]:
        started = []
        for _ in range(count):
            path = self.log_dir / f"worker-{len(self.procs)}.log"
            log = open(path, "wb")  # noqa: SIM115 - the child holds it; closed below
            try:
                popen = subprocess.Popen(
                    [sys.executable, "-m", "indexflow.cli.main", "worker", "-p", "1", "-t", str(threads)],
                    env=self.env,
                    cwd=REPO,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                log.close()
            proc = WorkerProc(popen, path)
            self.procs.append(proc)
            started.append(proc)
        return started

    def wait_listening(
        self, ix: Any, procs: Sequence[WorkerProc] | None = None, timeout: float = 120
    ) -> None:
        """Until each worker process has sent its first heartbeat (it consumes its queues)."""
        wanted = {p.pid for p in (procs or self.procs)}

        def ready() -> bool:
            for p in procs or self.procs:
                if not p.alive():
                    pytest.fail(f"worker {p.pid} exited ({p.popen.returncode}):\n{p.log()}", pytrace=False)
            return wanted <= {w.pid for w in ix.maintenance.workers()}

        wait_for(ready, timeout=timeout, interval=0.25, what="workers to listen", diag=self.logs)

    def by_worker_id(self, worker_id: str | None) -> WorkerProc | None:
        """The process behind a ``work_units.claimed_by`` / ``workers.id`` (host:pid:tag)."""
        if not worker_id:
            return None
        try:
            pid = int(worker_id.split(":")[-2])
        except (IndexError, ValueError):
            return None
        return next((p for p in self.procs if p.pid == pid), None)

    def stop(self) -> None:
        for p in self.procs:
            if p.alive():
                if p.stopped:
                    p.signal(signal.SIGCONT)
                p.signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in self.procs:
            try:
                p.popen.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.signal(signal.SIGKILL)
                p.popen.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(f"--- worker {p.pid} ---\n{p.log(4000)}" for p in self.procs)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Callable[[Mapping[str, str]], Fleet]]:
    """``fleet(env)``: a Fleet of worker processes for that deployment (stopped at teardown)."""
    made: list[Fleet] = []

    def factory(env: Mapping[str, str]) -> Fleet:
        f = Fleet(env, tmp_path)
        made.append(f)
        return f

    yield factory
    for f in made:
        f.stop()


def claimed_units(ix: Any, kind: str | None = None) -> list[dict[str, Any]]:
    """Units claimed right now (by whom), optionally of one kind."""
    return [u for u in unit_rows(ix) if u["claimed_by"] and (kind is None or u["kind"] == kind)]
