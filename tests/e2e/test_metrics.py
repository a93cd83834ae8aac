"""``GET /metrics`` and request ids over HTTP; ``indexflow serve --log-format json`` as a process.

The app runs on the test doubles (``MemoryStore``, ``HashEncoder``); SQLite, the chunker, the
in-process worker, the metrics and the logging are real. Counters are the process's own, shared
by every test in it: each test compares what it reads after its work with what it read before.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.texts import BEES, TRAINS

if TYPE_CHECKING:
    from indexflow.service import Indexflow
    from indexflow.settings import Settings

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
STATUSES = ("PENDING", "BUNDLING", "READY", "EMBEDDING", "EMBEDDED", "FAILED")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from indexflow.api.app import create_app
    from indexflow.testing import HashEncoder, MemoryStore

    app = create_app(settings, store=MemoryStore(), encoder=HashEncoder())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def scrape(client: TestClient, headers: dict[str, str] | None = None) -> Samples:
    resp = client.get("/metrics", headers=headers or {})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def upload(client: TestClient, dataset: str, name: str, data: bytes) -> int:
    resp = client.post(f"/v1/datasets/{dataset}/documents", files={"file": (name, data)})
    assert resp.status_code == 202, resp.text
    [plan_id] = resp.json()["plan_ids"]
    return int(plan_id)


def wait_finished(client: TestClient, plan_ids: list[int], timeout: float = 120) -> dict[int, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        plans = {pid: client.get(f"/v1/plans/{pid}").json() for pid in plan_ids}
        if all(p["status"] in ("EMBEDDED", "FAILED") for p in plans.values()):
            return plans
        assert time.monotonic() < deadline, plans
        time.sleep(0.05)


def test_after_ingesting_documents_metrics_count_plans_documents_chunks_tokens_and_stage_runs(
    client: TestClient,
) -> None:
    from indexflow.testing.hash_encoder import HASH_ENCODER_NAME

    before = scrape(client)
    # given two documents in dataset "a", one in "b", and one in "b" that cannot be parsed
    good = [
        upload(client, "a", "bees.txt", (BEES * 40).encode()),
        upload(client, "a", "trains.txt", (TRAINS * 40).encode()),
        upload(client, "b", "both.txt", (BEES + TRAINS).encode() * 20),
    ]
    broken = upload(client, "b", "broken.docx", b"this is not a zip archive")
    plans = wait_finished(client, [*good, broken])
    assert [plans[p]["status"] for p in good] == ["EMBEDDED"] * 3 and plans[broken]["status"] == "FAILED"

    # when /metrics is scraped
    after = scrape(client)

    # then every name is indexflow's
    assert all(name.startswith("indexflow_") for name, _ in after), sorted({n for n, _ in after})
    # and the plans and documents gauges count each status per dataset and profile (zeros too)
    expected = {("a", "EMBEDDED"): 2, ("b", "EMBEDDED"): 1, ("b", "FAILED"): 1}
    for gauge in ("indexflow_plans", "indexflow_documents"):
        for dataset in ("a", "b"):
            for status in STATUSES:
                got = value(after, gauge, dataset=dataset, profile="default", status=status)
                assert got == expected.get((dataset, status), 0), (gauge, dataset, status, got)
    assert value(after, "indexflow_state_up") == 1
    assert value(after, "indexflow_chunks_remaining", dataset="a", profile="default") == 0
    # and the chunks and tokens counters grew by exactly the chunks the database holds
    chunks = [c for p in good for c in client.get(f"/v1/plans/{p}/chunks").json()["chunks"]]
    assert len(chunks) == sum(plans[p]["chunk_count"] for p in good) > 3
    grew = {
        name: value(after, name, profile="default") - value(before, name, profile="default")
        for name in ("indexflow_chunks_embedded_total", "indexflow_tokens_embedded_total")
    }
    assert grew == {
        "indexflow_chunks_embedded_total": len(chunks),
        "indexflow_tokens_embedded_total": sum(c["token_count"] for c in chunks),
    }

    # and each stage's runs were timed: three parses and bundles ok, one parse failed
    def runs(stage: str, outcome: str) -> float:
        labels = {"stage": stage, "outcome": outcome}
        name = "indexflow_stage_duration_seconds_count"
        return value(after, name, **labels) - value(before, name, **labels)

    assert (runs("parse", "ok"), runs("bundle", "ok"), runs("parse", "failed")) == (3, 3, 1)
    embeds = runs("embed", "ok")
    assert embeds >= 3
    assert runs("embed", "failed") == runs("embed", "retry") == 0
    # the encoder's and the store's time per batch, labelled by encoder and store
    for name, labels in (
        ("indexflow_embed_batch_duration_seconds_count", {"encoder": HASH_ENCODER_NAME}),
        ("indexflow_upsert_duration_seconds_count", {"store": "MemoryStore"}),
    ):
        assert value(after, name, **labels) - value(before, name, **labels) == embeds, name
    # and the broken document's parse counts as one permanent failure
    labels = {"stage": "parse", "error_class": "permanent"}
    assert (
        value(after, "indexflow_failures_total", **labels)
        - value(before, "indexflow_failures_total", **labels)
        == 1
    )
    # and Dramatiq's messages were counted per queue and actor, none in progress now
    messages = "indexflow_dramatiq_messages_total"
    labels = {"queue": "indexing-embed", "actor": "indexflow.embed_unit"}
    assert value(after, messages, **labels) - value(before, messages, **labels) == embeds
    assert value(after, "indexflow_dramatiq_messages_inprogress", **labels) == 0
    # and no work is left in the queues
    for queue in ("indexing-plan", "indexing-embed"):
        assert value(after, "indexflow_queue_depth", queue=queue) == 0
        assert value(after, "indexflow_queue_claimed", queue=queue) == 0


def test_metrics_need_an_admin_key_once_keys_exist(client: TestClient) -> None:
    ix: Indexflow = client.app.state.ix  # type: ignore[attr-defined]
    # given documents in "a" and "b" and no key: the endpoint is open, like every route
    wait_finished(
        client, [upload(client, "a", "a.txt", BEES.encode()), upload(client, "b", "b.txt", TRAINS.encode())]
    )
    assert client.get("/metrics").status_code == 200
    # when keys exist
    admin = ix.keys.create("ops", role="admin").secret
    writer = ix.keys.create("writer", role="write").secret
    # then no key is 401, a write key 403 (the gauges name every dataset), an admin key 200
    assert client.get("/metrics").status_code == 401
    refused = client.get("/metrics", headers={"Authorization": f"Bearer {writer}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    everything = scrape(client, {"Authorization": f"Bearer {admin}"})
    assert {dict(labels).get("dataset") for name, labels in everything if name == "indexflow_plans"} == {
        "a",
        "b",
    }
    # and the facade's exposition restricted to "a" does not even name b
    only_a = ix.metrics.exposition(datasets=["a"]).text
    assert 'dataset="a"' in only_a and 'dataset="b"' not in only_a


def test_a_request_id_is_honoured_or_generated_returned_and_on_every_log_line_of_the_request(
    client: TestClient,
) -> None:
    from indexflow.observability.logs import JsonFormatter, RequestIdFilter

    app = client.app
    route_log = logging.getLogger("tests.e2e.route")

    def noisy() -> dict[str, str]:
        route_log.warning("inside the route", extra={"detail": "in a worker thread"})
        return {"ok": "yes"}

    def broken() -> None:
        raise RuntimeError("a bug")

    # (routes added after create_app's role check: test routes, real middleware and logging)
    app.add_api_route("/test/noisy", noisy)  # type: ignore[attr-defined]
    app.add_api_route("/test/broken", broken)  # type: ignore[attr-defined]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        # given a request that sends its id: the response returns it, errors too
        for url, status in (("/test/noisy", 200), ("/v1/documents/999999", 404), ("/test/broken", 500)):
            resp = client.get(url, headers={"X-Request-ID": f"req-{status}"})
            assert (resp.status_code, resp.headers.get("x-request-id")) == (status, f"req-{status}")
        # when none is sent, or one we do not accept: a fresh one each time
        generated = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}
        for bad in ("x" * 129, "has space", "semi;colon"):
            generated.add(client.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"])
        assert len(generated) == 6 and all(re.fullmatch(r"[0-9a-f]{32}", g) for g in generated)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_id.setdefault(line.get("request_id", ""), []).append(line)
    # then the route's own line (from its thread) and the access line carry the id
    noisy_lines = by_id["req-200"]
    assert {line["logger"] for line in noisy_lines} == {"tests.e2e.route", "indexflow.api.access"}
    assert next(x for x in noisy_lines if x["logger"] == "tests.e2e.route")["detail"] == "in a worker thread"
    access = next(x for x in noisy_lines if x["logger"] == "indexflow.api.access")
    assert (access["method"], access["path"], access["status"]) == ("GET", "/test/noisy", 200)
    assert access["duration_ms"] >= 0
    # and so does the bug's error line, with its traceback, and its access line says 500
    bug = by_id["req-500"]
    assert any("RuntimeError: a bug" in x.get("exc", "") for x in bug), bug
    assert [x["status"] for x in bug if x["logger"] == "indexflow.api.access"] == [500]
    assert [x["status"] for x in by_id["req-404"] if x["logger"] == "indexflow.api.access"] == [404]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(180)
def test_serve_with_log_format_json_writes_only_json_lines_with_the_request_id(tmp_path: Path) -> None:
    # given `indexflow serve --log-format json` on a free port
    port = _free_port()
    log_path = tmp_path / "serve.log"
    env = os.environ | {"INDEXFLOW_HOME": str(tmp_path / "home")}
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "indexflow.cli.main",
                "serve",
                "--port",
                str(port),
                "--log-format",
                "json",
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        # when a client sends a request id
        resp = httpx.get(f"http://127.0.0.1:{port}/v1/documents", headers={"X-Request-ID": "from-client-7"})
        assert resp.status_code == 200 and resp.headers["x-request-id"] == "from-client-7"
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert metrics.status_code == 200 and "indexflow_state_up 1.0" in metrics.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    # then every line the server wrote is a JSON object (uvicorn's own included)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger", "message"} <= set(x) for x in lines)
    assert any(x["logger"].startswith("uvicorn") for x in lines)
    # and the request's access line carries its id, and uvicorn's own access line is off
    [access] = [x for x in lines if x.get("request_id") == "from-client-7"]
    assert (access["logger"], access["path"], access["status"]) == (
        "indexflow.api.access",
        "/v1/documents",
        200,
    )
    assert not any(x["logger"] == "uvicorn.access" for x in lines)
