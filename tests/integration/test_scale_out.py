"""Scale-out: PostgreSQL state, a real broker, worker processes, a real vector engine.

Given the same code as the embedded default, only settings change: every plan ends EMBEDDED and
the store holds exactly one point per chunk.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
from sqlalchemy import func, select

from tests.conftest import AMQP_URL, REDIS_URL, require_port

if TYPE_CHECKING:
    from indexflow.service import Indexflow
    from indexflow.settings import Settings, StoreKind

pytestmark = pytest.mark.integration


def _env(db_url: str, broker: str, store: str, home: Path, **extra: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        "INDEXFLOW_DATABASE_URL": db_url,
        "INDEXFLOW_BROKER_URL": broker,
        "INDEXFLOW_VECTOR_STORE": store,
        "INDEXFLOW_HOME": str(home),
        "INDEXING_PLAN_QUEUE": f"plan-{tag}",
        "INDEXING_EMBED_QUEUE": f"embed-{tag}",
        "INDEXING_EMBED_BATCH_SIZE": "16",
    } | extra


def _settings(env: dict[str, str]) -> Settings:
    from indexflow.settings import Settings

    return Settings(
        database_url=env["INDEXFLOW_DATABASE_URL"],
        broker_url=env["INDEXFLOW_BROKER_URL"],
        vector_store=cast("StoreKind", env["INDEXFLOW_VECTOR_STORE"]),  # validated by Settings
        home=Path(env["INDEXFLOW_HOME"]),
        plan_queue=env["INDEXING_PLAN_QUEUE"],
        embed_queue=env["INDEXING_EMBED_QUEUE"],
        embed_batch_size=16,
        qdrant_url=env.get("QDRANT_URL"),
        worker_wait_seconds=120,  # the fleet was just started: give its processes time to beat
    )


def _chunks_and_plans(ix: Indexflow):
    from indexflow.db.models import Chunk, ChunkPlan

    with ix.rt.sessions() as s:
        chunks = s.scalar(select(func.count()).select_from(Chunk))
        plans = list(s.scalars(select(ChunkPlan)))
        return chunks, [(p.status.value, p.is_active, p.profile.collection) for p in plans]


def test_postgres_redis_pgvector_with_two_worker_processes(pg_database, workers, corpus, tmp_path) -> None:
    require_port("Redis", 6379)
    from indexflow import Indexflow

    env = _env(pg_database, REDIS_URL, "pgvector", tmp_path / "home")
    fleet = workers(env)
    fleet.start(processes=2, threads=1)
    with Indexflow(_settings(env)) as ix:
        assert not ix.tasks.in_process
        report = ix.ingest([str(corpus)], dataset="docs", wait=True, timeout=600)
        assert report.ok, (report.to_dict(), fleet.logs())
        chunks, plans = _chunks_and_plans(ix)
        assert len(plans) == 6 and all(st == "EMBEDDED" and active for st, active, _ in plans)
        assert ix.rt.store.count(plans[0][2]) == chunks > 0
        hits = ix.search("greens and browns in a compost heap", dataset="docs", k=3)
        assert hits and hits[0].document.source.endswith("composting.txt")


def test_postgres_rabbitmq_qdrant_local_mode_with_a_worker_process(
    pg_database, workers, corpus, tmp_path
) -> None:
    require_port("RabbitMQ", 5672)
    from indexflow import Indexflow

    # qdrant-client's local mode locks its folder to one process: the worker writes, the test reads after.
    qdrant_path = tmp_path / "qdrant"
    env = _env(pg_database, AMQP_URL, "qdrant", tmp_path / "home", QDRANT_URL=f"path:{qdrant_path}")
    fleet = workers(env)
    fleet.start(processes=1, threads=2)
    with Indexflow(_settings(env)) as ix:
        report = ix.ingest([str(corpus)], dataset="docs", wait=True, timeout=600)
        assert report.ok, (report.to_dict(), fleet.logs())
        chunks, plans = _chunks_and_plans(ix)
        assert len(plans) == 6 and all(st == "EMBEDDED" and active for st, active, _ in plans)
        fleet.stop()
        assert ix.rt.store.count(plans[0][2]) == chunks > 0


def test_ingest_with_a_broker_and_no_live_worker_says_so_within_seconds_and_registers_nothing(
    pg_database, corpus, tmp_path
) -> None:
    require_port("Redis", 6379)
    import time

    from indexflow import Indexflow
    from indexflow.errors import NoWorkers

    env = _env(pg_database, REDIS_URL, "pgvector", tmp_path / "home")
    settings = _settings(env).model_copy(update={"worker_wait_seconds": 2.0})
    with Indexflow(settings) as ix:
        # given a broker and no worker process at all
        started = time.monotonic()
        # when a user ingests, then it says which queue has no worker and how to start one
        with pytest.raises(NoWorkers, match=r"no worker is listening on plan-\w+, embed-\w+; start one"):
            ix.ingest([str(corpus)], dataset="docs", wait=True)
        assert time.monotonic() - started < 30
        # and nothing was registered
        assert ix.documents.list() == [] and ix.maintenance.workers() == []
        # unless asked to register anyway and wait for a worker later
        report = ix.ingest(
            [str(corpus / "composting.txt")], dataset="docs", wait=False, require_workers=False
        )
        assert [d.status for d in report.documents] == ["PENDING"]
