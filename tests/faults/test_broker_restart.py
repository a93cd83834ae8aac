"""The broker restarts in the middle of an ingest: every document is still indexed.

Scale-out: one ``indexflow worker`` process (2 threads), PostgreSQL state + pgvector in a
private cluster, and a private broker of the test's own that is restarted on the same port:

- Redis without persistence: the restart empties it, so the messages waiting in it are lost.
  The sweeper sees units sent but never claimed while the worker sits idle for
  ``INDEXFLOW_REDELIVER_AFTER_SECONDS`` (3 s here) and sends them again.
- RabbitMQ: durable queues and persistent messages survive; unacked ones are redelivered. The
  worker's consumer reconnects, and what could not be sent meanwhile is relayed later.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.faults.conftest import (
    Fleet,
    assert_invariants,
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
from tests.faults.services import RabbitNode, RedisServer, ServiceError

if TYPE_CHECKING:
    from indexflow.service import Indexflow


def _waiting_in_broker(ix: Indexflow) -> int:
    """Units sent to the broker that no worker has claimed yet."""
    return sum(1 for u in unit_rows(ix) if u["sent_at"] is not None and not u["claimed_by"])


def _ingest_through_a_restart(ix: Indexflow, workers: Fleet, server, docs: list[Path], *, downtime: float):
    with record_statuses(ix) as rec:
        report = ix.ingest([str(p) for p in docs], dataset="d", wait=False)
        plans = plan_ids_of(report)

        # mid-ingest: chunks are being embedded and more messages wait in the broker than the
        # worker can have prefetched (2 threads: 4 messages)
        def busy() -> bool:
            return sum(e for _, _, e in plan_rows(ix).values()) >= 2 and _waiting_in_broker(ix) >= 8

        wait_for(busy, timeout=120, interval=0.05, what="a backlog in the broker", diag=workers.logs)
        server.restart(downtime=downtime)
        wait_plans(ix, plans, timeout=150, diag=workers.logs)
    assert all(p.alive() for p in workers.procs), workers.logs()
    return rec


@pytest.mark.timeout(300)
def test_a_redis_restart_mid_ingest_loses_no_document(pg_cluster, fleet, tmp_path: Path) -> None:
    from indexflow import Indexflow

    redis = RedisServer(tmp_path / "redis")
    try:
        redis.start()
    except ServiceError as exc:
        pytest.fail(f"cannot start a private Redis: {exc}", pytrace=False)
    try:
        env = scale_out_env(new_database(pg_cluster, "redis"), redis.url, tmp_path / "home")
        workers = fleet(env)
        workers.start(1, threads=2)
        docs = write_docs(tmp_path / "docs", 12, paragraphs=8)
        with Indexflow(settings_for(env)) as ix:
            workers.wait_listening(ix)
            rec = _ingest_through_a_restart(ix, workers, redis, docs, downtime=2.0)
            # the messages Redis lost were sent again (by the sweeper: sent, unclaimed, worker idle)
            assert rec.max_resends >= 1, "no unit was re-sent: did the restart lose nothing?"
            assert_invariants(ix, dict.fromkeys(docs, "EMBEDDED"))
            rec.assert_never_backwards()
    finally:
        redis.close()


@pytest.mark.timeout(300)
def test_a_rabbitmq_restart_mid_ingest_loses_no_document(pg_cluster, fleet, tmp_path: Path) -> None:
    from indexflow import Indexflow

    rabbit = RabbitNode(tmp_path / "rabbit")
    try:
        rabbit.start()
    except ServiceError as exc:
        pytest.fail(f"cannot start a private RabbitMQ node: {exc}", pytrace=False)
    try:
        env = scale_out_env(new_database(pg_cluster, "rabbit"), rabbit.url, tmp_path / "home")
        workers = fleet(env)
        workers.start(1, threads=2)
        docs = write_docs(tmp_path / "docs", 12, paragraphs=8)
        with Indexflow(settings_for(env)) as ix:
            workers.wait_listening(ix)
            rec = _ingest_through_a_restart(ix, workers, rabbit, docs, downtime=1.0)
            assert_invariants(ix, dict.fromkeys(docs, "EMBEDDED"))
            rec.assert_never_backwards()
    finally:
        rabbit.close()
