"""``indexflow worker --metrics-port``: a real fleet on PostgreSQL and Redis, scraped over HTTP.

Two worker processes serve their metrics on one port (prometheus_client's multiprocess mode in
a folder the worker makes for its run and removes at exit); their log lines are JSON.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from tests.conftest import REDIS_URL, require_port
from tests.texts import BEES, TRAINS

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.timeout(600)
def test_a_two_process_worker_serves_all_its_metrics_on_one_port_and_logs_json(
    pg_database: str, tmp_path: Path
) -> None:
    require_port("Redis", 6379)
    from indexflow import Indexflow
    from indexflow.db.models import Chunk
    from indexflow.settings import Settings

    tag = uuid.uuid4().hex[:8]
    env = {
        "INDEXFLOW_DATABASE_URL": pg_database,
        "INDEXFLOW_BROKER_URL": REDIS_URL,
        "INDEXFLOW_VECTOR_STORE": "pgvector",
        "INDEXFLOW_HOME": str(tmp_path / "home"),
        "INDEXING_PLAN_QUEUE": f"plan-{tag}",
        "INDEXING_EMBED_QUEUE": f"embed-{tag}",
        "INDEXING_EMBED_BATCH_SIZE": "8",
    }
    settings = Settings(
        database_url=pg_database,
        broker_url=REDIS_URL,
        vector_store="pgvector",
        home=tmp_path / "home",
        plan_queue=env["INDEXING_PLAN_QUEUE"],
        embed_queue=env["INDEXING_EMBED_QUEUE"],
        embed_batch_size=8,
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate([BEES * 12, TRAINS * 12, (BEES + TRAINS) * 6]):
        (docs / f"doc{i}.txt").write_text(f"Note {i}.\n\n{text}\n")
    port = _free_port()
    log_path = tmp_path / "worker.log"

    with Indexflow(settings) as ix:
        # given three documents registered while no worker runs: their parses wait in the plan queue
        report = ix.ingest([str(docs)], dataset="m", wait=False, require_workers=False)
        plan_ids = [p.plan_id for d in report.documents for p in d.plans]
        waiting = _samples(ix.metrics.exposition().text)
        assert _value(waiting, "indexflow_queue_depth", queue=settings.plan_queue) == 3
        assert _value(waiting, "indexflow_queue_depth", queue=settings.embed_queue) == 0
        assert _value(waiting, "indexflow_plans", dataset="m", profile="default", status="PENDING") == 3

        # when a worker of two processes starts with --metrics-port and --log-format json
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "indexflow.cli.main", "worker", "-p", "2", "-t", "1"),
                    *("--metrics-port", str(port), "--log-format", "json"),
                ],
                env=os.environ | env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            ix.wait(plan_ids, timeout=480)
            with ix.rt.sessions() as s:
                chunks = int(s.scalar(select(func.count()).select_from(Chunk)) or 0)
                tokens = int(s.scalar(select(func.sum(Chunk.token_count))) or 0)
            assert [p.status for p in ix.plans.list(dataset="m")] == ["EMBEDDED"] * 3, log_path.read_text()
            assert len(ix.maintenance.workers()) == 2
            # then the one port serves what both processes did (the last batch's count lands
            # just after its commit: read again until it is there)
            deadline = time.monotonic() + 30
            while True:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
                got = _samples(text)
                if _value(got, "indexflow_chunks_embedded_total", profile="default") == chunks:
                    break
                assert time.monotonic() < deadline, text
                time.sleep(0.5)
            assert chunks > 3
            assert _value(got, "indexflow_tokens_embedded_total", profile="default") == tokens > 0
            count = "indexflow_stage_duration_seconds_count"
            assert _value(got, count, stage="parse", outcome="ok") == 3
            assert _value(got, count, stage="bundle", outcome="ok") == 3
            embeds = _value(got, count, stage="embed", outcome="ok")
            assert embeds >= 3
            embed_queue = {"queue": settings.embed_queue, "actor": "indexflow.embed_unit"}
            assert _value(got, "indexflow_dramatiq_messages_total", **embed_queue) == embeds
            assert _value(got, "indexflow_upsert_duration_seconds_count", store="pgvector") == embeds
            # and every name is indexflow's; the database's gauges are serve's, not the workers'
            assert all(name.startswith("indexflow_") for name, _ in got)
            assert not any(name == "indexflow_plans" for name, _ in got)
            found = re.search(r"the processes' values in (\S+)\)", log_path.read_text())
            assert found is not None, log_path.read_text()
            folder = Path(found.group(1))
            assert folder.is_dir() and any(folder.glob("*.db"))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            # A graceful stop drains each process (Dramatiq up to 30 s, webhooks 15 s) and, on a
            # loaded 2-core CI machine, may wait for a child still importing torch: allow for it.
            proc.wait(timeout=300)
    # and the metrics folder of the run is gone once the worker stopped
    assert not folder.exists()
    # and every line the processes wrote is JSON; each stage run is one event with its fields
    lines: list[dict[str, Any]] = [
        json.loads(line) for line in log_path.read_text().splitlines() if line.strip()
    ]
    stages = [x for x in lines if x.get("event") == "stage"]
    assert {(x["stage"], x["outcome"]) for x in stages} == {
        ("parse", "ok"),
        ("bundle", "ok"),
        ("embed", "ok"),
    }
    assert len([x for x in stages if x["stage"] == "parse"]) == 3
    documents = {d.document_id for d in report.documents}
    for event in stages:
        assert event["dataset"] == "m" and event["document_id"] in documents, event
        assert isinstance(event["duration_ms"], float) and event["duration_ms"] >= 0
        assert (event["plan_id"] in plan_ids) == (event["stage"] != "parse"), event
        assert event["profile"] == (None if event["stage"] == "parse" else "default"), event
