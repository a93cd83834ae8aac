"""PostgreSQL restarts in the middle of an ingest: every document is still indexed.

Scale-out: one ``indexflow worker`` process (2 threads), a private Redis, and a PostgreSQL
cluster of the test's own that holds both the state database and the pgvector store. It is
restarted (fast shutdown: every connection is cut, in-flight transactions roll back) while
units are being run. Workers see ``DatabaseUnavailable``: the message is retried with backoff
(capped at 2 s here), heartbeats fail so claims may lapse and be taken over; nothing is lost and
nothing is doubled once the database is back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import (
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
from tests.faults.services import PostgresCluster, ServiceError

DOWNTIME = 3.0


@pytest.mark.timeout(300)
def test_a_postgres_restart_mid_ingest_loses_no_document(redis_server, fleet, tmp_path: Path) -> None:
    from indexflow import Indexflow

    pg = PostgresCluster(tmp_path / "pg")
    try:
        pg.start()
    except (ServiceError, OSError, KeyError) as exc:
        pytest.fail(f"cannot start a private PostgreSQL cluster: {exc}", pytrace=False)
    try:
        env = scale_out_env(new_database(pg, "pgrestart"), redis_server.url, tmp_path / "home")
        workers = fleet(env)
        workers.start(1, threads=2)
        docs = write_docs(tmp_path / "docs", 10, paragraphs=8)
        with Indexflow(settings_for(env)) as ix:
            workers.wait_listening(ix)
            with record_statuses(ix) as rec:
                report = ix.ingest([str(p) for p in docs], dataset="d", wait=False)
                plans = plan_ids_of(report)

                # mid-ingest: chunks are being embedded, units are claimed, more are waiting
                def busy() -> bool:
                    units = unit_rows(ix)
                    embedded = sum(e for _, _, e in plan_rows(ix).values())
                    return embedded >= 2 and any(u["claimed_by"] for u in units) and len(units) >= 6

                wait_for(busy, timeout=120, interval=0.05, what="units in flight", diag=workers.logs)
                pg.restart(downtime=DOWNTIME)
                wait_plans(ix, plans, timeout=180, diag=workers.logs)
            assert rec.failed_polls >= 1, "the recorder never saw the database down"
            assert all(p.alive() for p in workers.procs), workers.logs()
            assert_invariants(ix, dict.fromkeys(docs, "EMBEDDED"))
            rec.assert_never_backwards()
    finally:
        pg.close()
