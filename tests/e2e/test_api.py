"""The HTTP API end to end over the facade (embedded default, in-process worker)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

if TYPE_CHECKING:
    from indexflow.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from indexflow.api.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c


def _wait_embedded(client: TestClient, document_id: int, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/documents/{document_id}").json()
        statuses = {p["status"] for p in doc["plans"]}
        if statuses and statuses <= {"EMBEDDED", "FAILED"}:
            return doc
        time.sleep(0.2)
    raise AssertionError(f"document {document_id} did not finish: {doc}")


def test_upload_follow_status_and_search(client: TestClient, fixtures_dir: Path) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    data = (fixtures_dir / "composting.txt").read_bytes()
    resp = client.post(
        "/v1/datasets/garden/documents", files={"file": ("composting.txt", data, "text/plain")}
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["plan_ids"] and body["outcome"] == "new"
    doc = _wait_embedded(client, body["document_id"])
    [plan] = doc["plans"]
    assert (
        plan["status"] == "EMBEDDED" and plan["is_active"] and plan["chunk_count"] == plan["embedded_count"]
    )
    listed = client.get("/v1/documents", params={"dataset": "garden", "status": "embedded"}).json()
    assert [d["document_id"] for d in listed["documents"]] == [body["document_id"]]
    hits = client.post(
        "/v1/search", json={"query": "which materials count as browns?", "dataset": "garden", "k": 2}
    ).json()["hits"]
    assert hits and "autumn leaves" in hits[0]["bundle"]["text"]
    assert hits[0]["document"]["source"] == "upload://garden/composting.txt"
    # the same bytes again: unchanged, a lookup
    again = client.post("/v1/datasets/garden/documents", files={"file": ("composting.txt", data)}).json()
    assert again["outcome"] == "unchanged" and again["document_id"] == body["document_id"]


def test_bad_input_gets_json_errors_never_500(client: TestClient, fixtures_dir: Path) -> None:
    r = client.get("/v1/documents/999999")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.post("/v1/search", json={"query": ""})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = client.post(
        "/v1/datasets/x/documents", content=b"not json", headers={"content-type": "application/json"}
    )
    assert r.status_code in (400, 409, 422) and "error" in r.json()
    r = client.post("/v1/datasets/x/documents", json={"uri": "/etc/passwd"})
    assert r.status_code == 422 and "not allowed" in r.json()["error"]["message"]
    r = client.post("/v1/plans/12345/activate")
    assert r.status_code == 404
    # a malformed upload is accepted, then fails its own plan with a readable error
    resp = client.post(
        "/v1/datasets/x/documents",
        files={"file": ("broken.pdf", (fixtures_dir / "truncated.pdf").read_bytes())},
    )
    assert resp.status_code == 202
    doc = _wait_embedded(client, resp.json()["document_id"])
    assert doc["plans"][0]["status"] == "FAILED" and doc["plans"][0]["last_error"]


def test_events_stream_reports_plan_progress(client: TestClient, fixtures_dir: Path) -> None:
    data = (fixtures_dir / "git_guide.md").read_bytes()
    resp = client.post("/v1/datasets/ev/documents", files={"file": ("git_guide.md", data)})
    document_id = resp.json()["document_id"]
    _wait_embedded(client, document_id)
    events = []
    with client.stream("GET", "/v1/events", params={"document_id": document_id}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1]["status"] == "EMBEDDED":
                    break
    assert events[-1]["document_id"] == document_id and events[-1]["status"] == "EMBEDDED"


def test_the_events_feed_delivers_every_plan_when_hundreds_change_within_the_same_instant(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import update

    from indexflow import Indexflow
    from indexflow.db.models import ChunkPlan
    from indexflow.pipeline.register import register_source
    from indexflow.settings import Settings

    with Indexflow(Settings(home=tmp_path / "state")) as ix:
        # given 1,200 plans that all changed at one and the same timestamp (more than a page)
        for n in range(1200):
            register_source(ix.rt, dataset="d", source=f"s{n}.txt", data=b"x %d" % n, filename="s.txt")
        instant = datetime(2026, 12, 1, 10, 42, tzinfo=UTC)
        with ix.rt.sessions.begin() as s:
            s.execute(
                update(ChunkPlan).values(updated_at=instant).execution_options(synchronize_session=False)
            )
        # when the feed is followed from before that instant
        cursor, polls = (datetime(2026, 12, 1, tzinfo=UTC), 0), 0
        seen: set[int] = set()
        while len(seen) < 1200 and polls < 20:
            page = ix.plans.changed_after(cursor)
            cursor = page.cursor
            seen |= {p.plan_id for p in page.plans}
            polls += 1
        # then every plan was delivered, page by page, without stalling
        assert len(seen) == 1200 and polls <= 4
