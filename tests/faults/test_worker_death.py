"""Workers that die (kill -9) or freeze (SIGSTOP past the lease) in the middle of a batch.

Scale-out: two ``indexflow worker`` processes, PostgreSQL state + pgvector, a private Redis.
The dead or frozen worker's claims expire after the lease (5 s); the survivor's sweeper sends
them again, and the messages the victim had prefetched are re-sent once the survivor sits idle
(``INDEXFLOW_REDELIVER_AFTER_SECONDS`` = 3 s). Nothing is lost, nothing is left behind, and a
frozen worker that wakes up afterwards changes nothing.

The last test freezes a worker in-process (embedded default, Qdrant Edge: a store outside the
state database), where a late batch's writes cannot be rolled back with the database's.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from indexflow.db.models import as_utc
from tests.faults.conftest import (
    Fleet,
    assert_invariants,
    claimed_units,
    new_database,
    plan_ids_of,
    plan_rows,
    record_statuses,
    scale_out_env,
    settings_for,
    unit_rows,
    wait_for,
    wait_plans,
    write_docs,
)

if TYPE_CHECKING:
    from indexflow.service import Indexflow

LEASE = 5


def _victim_mid_batch(ix: Indexflow, workers: Fleet):
    """Wait until the model is warm (chunks are being embedded) and a worker holds an embed unit."""

    def holder():
        rows = plan_rows(ix)
        if rows and all(st in ("EMBEDDED", "FAILED") for st, _, _ in rows.values()):
            pytest.fail("every plan finished before a worker could be caught mid-batch", pytrace=False)
        if sum(e for _, _, e in rows.values()) < 2:
            return None
        for u in claimed_units(ix, "embed"):
            proc = workers.by_worker_id(u["claimed_by"])
            if proc is not None and proc.alive():
                return proc, u["claimed_by"]
        return None

    return wait_for(holder, timeout=120, interval=0.05, what="a worker mid-batch", diag=workers.logs)


def _stuck_transactions(cluster, db_url: str) -> int:
    """Sessions of the test's database idle inside a transaction for a while (a frozen client)."""
    import psycopg

    with psycopg.connect(cluster.conninfo(db_url.rsplit("/", 1)[1]), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%' AND now() - state_change > interval '0.4 s'"
        ).fetchone()
    return int(row[0]) if row else 0


def _freeze_outside_a_transaction(ix: Indexflow, workers: Fleet, cluster, db_url: str):
    """SIGSTOP a worker that holds a batch, at a moment it holds no open transaction.

    A worker frozen inside a transaction keeps its row locks until PostgreSQL ends the session
    (``idle_in_transaction_session_timeout``, 60 s), which holds the others up that long whatever
    the lease; that case is only slower, and would cost this suite a minute. So a stop that lands
    inside a transaction is undone (SIGCONT) and tried again.
    """
    for attempt in range(5):
        victim, victim_id = _victim_mid_batch(ix, workers)
        victim.signal(signal.SIGSTOP)
        time.sleep(0.6)
        stuck = _stuck_transactions(cluster, db_url)
        if not stuck:
            return victim, victim_id
        print(f"SIGSTOP #{attempt + 1} landed inside {stuck} open transaction(s): SIGCONT, try again")
        victim.signal(signal.SIGCONT)
        time.sleep(0.2)
    pytest.fail("every SIGSTOP landed inside an open transaction", pytrace=False)


@pytest.mark.timeout(300)
def test_kill_9_of_a_worker_mid_batch_loses_nothing(pg_cluster, redis_server, fleet, tmp_path: Path) -> None:
    from indexflow import Indexflow

    env = scale_out_env(new_database(pg_cluster, "kill"), redis_server.url, tmp_path / "home")
    workers = fleet(env)
    workers.start(2, threads=2)
    docs = write_docs(tmp_path / "docs", 8, paragraphs=8)
    with Indexflow(settings_for(env)) as ix:
        workers.wait_listening(ix)
        with record_statuses(ix) as rec:
            report = ix.ingest([str(p) for p in docs], dataset="d", wait=False)
            plans = plan_ids_of(report)
            # when one worker is SIGKILLed (its whole process group) while it holds a batch
            victim, victim_id = _victim_mid_batch(ix, workers)
            victim.kill()
            orphaned = [u for u in unit_rows(ix) if u["claimed_by"] == victim_id]
            assert orphaned, "the worker was not running a unit when it was killed"
            # then the survivor takes its units over once their claims expire, and finishes all
            wait_plans(ix, plans, timeout=150, diag=workers.logs)
        survivor = next(p for p in workers.procs if p is not victim)
        assert survivor.alive(), survivor.log()
        assert victim.popen.returncode == -signal.SIGKILL
        assert_invariants(ix, dict.fromkeys(docs, "EMBEDDED"))
        rec.assert_never_backwards()


@pytest.mark.timeout(300)
def test_a_worker_frozen_past_its_lease_is_replaced_and_changes_nothing_when_it_wakes(
    pg_cluster, redis_server, fleet, tmp_path: Path
) -> None:
    from indexflow import Indexflow

    db_url = new_database(pg_cluster, "stop")
    env = scale_out_env(db_url, redis_server.url, tmp_path / "home")
    workers = fleet(env)
    workers.start(2, threads=2)
    docs = write_docs(tmp_path / "docs", 12, paragraphs=8)
    with Indexflow(settings_for(env)) as ix:
        workers.wait_listening(ix)
        with record_statuses(ix) as rec:
            report = ix.ingest([str(p) for p in docs], dataset="d", wait=False)
            plans = plan_ids_of(report)
            # when one worker is SIGSTOPped while it holds a batch
            victim, victim_id = _freeze_outside_a_transaction(ix, workers, pg_cluster, db_url)
            stopped_at = time.monotonic()
            held_rows = [u for u in unit_rows(ix) if u["claimed_by"] == victim_id]
            held = {u["id"] for u in held_rows}
            assert held, "the worker was not running a unit when it was stopped"
            # Its claims run until its last heartbeat + the lease: between lease - heartbeat and
            # the lease from now. Nobody may take them over before that.
            # (On a starved machine the worker's last heartbeat may come so late that its claim
            # is already over when this reads it: then only the upper bound can be checked.)
            claims_end = min(as_utc(u["claim_until"]) for u in held_rows)
            claim_left = (claims_end - datetime.now(UTC)).total_seconds()
            assert claim_left <= LEASE + 1, claim_left
            # then the other worker finishes everything, the frozen worker's units included
            wait_plans(ix, plans, timeout=150, diag=workers.logs)
            frozen_for = time.monotonic() - stopped_at
            assert frozen_for > claim_left, (
                f"finished {frozen_for:.1f} s after the stop, while its claim had {claim_left:.1f} s left"
            )
            assert victim.alive() and victim.stopped
            assert not held & {u["id"] for u in unit_rows(ix)}, "the frozen worker's units are not done"
            # and when it wakes up, it finishes its stale batch: its late writes must change nothing
            woke = datetime.now(UTC)
            victim.signal(signal.SIGCONT)

            def settled() -> bool:
                for w in ix.maintenance.workers():
                    if w.pid == victim.pid and not w.running_units:
                        assert w.last_beat is not None, w
                        return datetime.fromisoformat(w.last_beat) > woke
                return False

            wait_for(settled, timeout=60, interval=0.2, what="the woken worker to settle", diag=workers.logs)
            time.sleep(1.0)
        assert victim.alive(), victim.log()
        assert_invariants(ix, dict.fromkeys(docs, "EMBEDDED"))
        rec.assert_never_backwards()


class _GatedEncoder:
    """The real encoder; in the thread named ``frozen`` it blocks until ``gate`` is set."""

    def __init__(self, inner, gate: threading.Event) -> None:
        self._inner, self._gate = inner, gate

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def encode(self, texts):
        if threading.current_thread().name == "frozen":
            assert self._gate.wait(120), "the frozen worker was never woken"
        return self._inner.encode(texts)


@pytest.mark.timeout(180)
def test_a_frozen_in_process_worker_that_wakes_after_its_batch_was_redone_keeps_the_points(
    make_ix, monkeypatch, tmp_path: Path
) -> None:
    """A worker frozen mid-batch (no heartbeat: SIGSTOP, a GC pause, a hung VM) while its batch is
    taken over and the plan completes; then it wakes and finishes its stale batch. With a store
    outside the state database (Qdrant Edge here, a Qdrant server in production) the late batch
    must not remove the points the batch's new owner wrote."""
    from indexflow.db.models import UnitKind
    from indexflow.tasks.execute import run_unit
    from indexflow.tasks.heartbeat import WorkerState

    ix = make_ix(lease_seconds=LEASE)
    gate = threading.Event()
    real_encoder = ix.rt.encoder
    monkeypatch.setattr(ix.rt, "encoder", lambda profile: _GatedEncoder(real_encoder(profile), gate))
    # A second worker (its own id, no heartbeat: frozen) gets the first embed message.
    frozen_state = WorkerState([ix.settings.plan_queue, ix.settings.embed_queue], 1)
    frozen: list[threading.Thread] = []
    outbox = ix.tasks.outbox
    real_send = outbox._send

    def send(kind, unit_id):
        if kind == UnitKind.EMBED and not frozen:
            t = threading.Thread(
                target=run_unit, args=(ix.rt, unit_id, frozen_state, outbox), name="frozen", daemon=True
            )
            frozen.append(t)
            t.start()
            return
        real_send(kind, unit_id)

    outbox._send = send
    docs = write_docs(tmp_path / "docs", 2, paragraphs=8)
    with record_statuses(ix) as rec:
        report = ix.ingest([str(p) for p in docs], dataset="d", wait=False)
        plans = plan_ids_of(report)
        # the frozen worker's claim expires; the in-process worker redoes its batch; all finish
        wait_plans(ix, plans, timeout=90)
        assert frozen and frozen[0].is_alive(), "the frozen worker never took its batch"
        assert {st for st, _, _ in plan_rows(ix, plans).values()} == {"EMBEDDED"}
        assert sum(len(r.expired_claims) for r in ix.tasks.sweeps) >= 1, ix.tasks.sweeps
        # when the frozen worker wakes up and finishes its (already redone) batch
        gate.set()
        frozen[0].join(timeout=60)
        assert not frozen[0].is_alive()
    # then nothing changed: every chunk still has its point, no orphans, nothing left over
    assert_invariants(ix, dict.fromkeys(docs, "EMBEDDED"))
    rec.assert_never_backwards()
