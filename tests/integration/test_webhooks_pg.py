"""Webhooks on the scale-out stack: PostgreSQL claims (``FOR UPDATE SKIP LOCKED``) and worker
processes on Redis delivering to a real HTTP receiver."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REDIS_URL, require_port
from tests.texts import BEES, TRAINS
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration

SECRET = "pg-secret-0123456789-abcdef"


def test_concurrent_senders_on_postgres_never_claim_the_same_delivery(pg_database: str) -> None:
    from indexflow.db import webhooks as webhooks_repo
    from indexflow.db.models import Webhook, WebhookDelivery, utcnow
    from indexflow.db.session import transaction
    from indexflow.runtime import Runtime
    from indexflow.settings import Settings

    settings = Settings(database_url=pg_database)
    rt = Runtime(settings)
    rt.ensure_schema()
    # given 300 pending deliveries
    with transaction(rt.sessions) as s:
        hook = Webhook(url="http://127.0.0.1:9/x", secret=SECRET, failures=0)
        s.add(hook)
        s.flush()
        for _ in range(300):
            s.add(
                WebhookDelivery(
                    webhook_id=hook.id, event_id=str(uuid.uuid4()), event_type="plan.embedded", body="{}"
                )
            )
    # when six senders, each on its own engine, claim small batches at once until none is left
    claimed: list[list[int]] = [[] for _ in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def sender(i: int) -> None:
        own = Runtime(settings)
        try:
            start.wait()
            while True:
                with transaction(own.sessions) as s:
                    got = webhooks_repo.claim_due(s, utcnow(), lease_seconds=60, limit=7)
                if not got:
                    return
                claimed[i] += [d.delivery_id for d in got]
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    rt.close()
    # then every delivery was claimed exactly once, and the work was shared
    assert errors == []
    every = [d for c in claimed for d in c]
    assert len(every) == len(set(every)) == 300
    assert sum(1 for c in claimed if c) >= 2


def test_worker_processes_deliver_every_event_exactly_once_when_nothing_fails(
    pg_database: str, workers: Any, tmp_path: Path
) -> None:
    require_port("Redis", 6379)
    from indexflow import Indexflow
    from indexflow.settings import Settings

    tag = uuid.uuid4().hex[:8]
    env = {
        "INDEXFLOW_DATABASE_URL": pg_database,
        "INDEXFLOW_BROKER_URL": REDIS_URL,
        "INDEXFLOW_VECTOR_STORE": "pgvector",
        "INDEXFLOW_HOME": str(tmp_path / "home"),
        "INDEXING_PLAN_QUEUE": f"plan-{tag}",
        "INDEXING_EMBED_QUEUE": f"embed-{tag}",
        "INDEXFLOW_WEBHOOK_ALLOW_PRIVATE": "true",
        "INDEXFLOW_WEBHOOK_POLL_SECONDS": "0.2",
    }
    settings = Settings(
        database_url=pg_database,
        broker_url=REDIS_URL,
        vector_store="pgvector",
        home=tmp_path / "home",
        plan_queue=env["INDEXING_PLAN_QUEUE"],
        embed_queue=env["INDEXING_EMBED_QUEUE"],
        worker_wait_seconds=120,
        webhook_allow_private=True,
    )
    receiver = Receiver().start()
    try:
        # given a webhook, and two worker processes (each with its delivery loop)
        with Indexflow(settings) as ix:
            ix.webhooks.add(receiver.url(), secret=SECRET)
            fleet = workers(env)
            fleet.start(processes=2, threads=1)
            # when three documents are ingested through the broker
            docs = tmp_path / "docs"
            docs.mkdir()
            for i, text in enumerate((BEES, TRAINS, BEES + " Queens rule.")):
                (docs / f"doc{i}.txt").write_text(text + "\n")
            report = ix.ingest([str(docs)], dataset="docs", wait=True, timeout=600)
            assert report.ok, (report.to_dict(), fleet.logs())
            plans = {p.plan_id for d in report.documents for p in d.plans}
            # then the workers deliver a plan.embedded and a document.activated per plan, signed
            got = receiver.wait_for(lambda g: len(g) >= 6, timeout=120)
            assert ix.tasks.in_process is False
            assert sorted((r.event["type"], r.event["plan_id"]) for r in got) == sorted(
                (t, p) for p in plans for t in ("plan.embedded", "document.activated")
            )
            assert all(r.signed_by(SECRET) for r in got)
            # and, no attempt having failed, none was sent twice
            assert len({r.event["id"] for r in receiver.got()}) == len(receiver.got()) == 6
            deadline = time.monotonic() + 30  # the receiver answered; the sender marks it next
            while ix.webhooks.pending() and time.monotonic() < deadline:
                time.sleep(0.05)
            [w] = ix.webhooks.list()
            assert (w.pending, w.delivered, w.failures) == (0, 6, 0)
    finally:
        receiver.stop()
