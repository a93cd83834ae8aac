"""The lifecycle over HTTP: versions swapped in, plans rerun/activated, documents deactivated and
deleted, chunks disabled, profiles cloned and activated; bad input is a JSON error, never a 500."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from tests.texts import BEE_QUERY, BEES, TRAINS

if TYPE_CHECKING:
    from indexflow.settings import Settings

pytestmark = pytest.mark.e2e


def _text(body: str, paragraphs: int) -> bytes:
    return ("\n\n".join(f"Section {i + 1}. {body}" for i in range(paragraphs)) + "\n").encode()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from indexflow.api.app import create_app

    # Server errors come back as responses (not raised) so a 500 is seen as a status code.
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _upload(client: TestClient, name: str, data: bytes, dataset: str = "docs") -> dict[str, Any]:
    resp = client.post(f"/v1/datasets/{dataset}/documents", files={"file": (name, data, "text/plain")})
    assert resp.status_code == 202, resp.text
    return resp.json()


def _wait_plan(client: TestClient, plan_id: int, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        plan = client.get(f"/v1/plans/{plan_id}").json()
        if plan["status"] in ("EMBEDDED", "FAILED"):
            return plan
        time.sleep(0.1)
    raise AssertionError(f"plan {plan_id} did not finish: {plan}")


def _search(client: TestClient, query: str, **body: Any) -> list[dict[str, Any]]:
    resp = client.post("/v1/search", json={"query": query, "dataset": "docs", "k": 5} | body)
    assert resp.status_code == 200, resp.text
    return resp.json()["hits"]


def _assert_error(resp: Any, status: int, code: str, *words: str) -> None:
    assert resp.status_code == status, (resp.status_code, resp.text)
    error = resp.json()["error"]
    assert error["code"] == code and error["message"], error
    for word in words:
        assert word in error["message"], (word, error["message"])


def test_a_changed_upload_is_swapped_in_and_search_never_sees_both_versions_or_neither(
    client: TestClient,
) -> None:
    # given v1 of a document (about bees) uploaded and embedded
    v1 = _upload(client, "handbook.txt", _text(BEES, 8))
    assert v1["outcome"] == "new" and v1["status_url"] == f"/v1/documents/{v1['document_id']}"
    [v1_plan] = v1["plan_ids"]
    assert _wait_plan(client, v1_plan)["status"] == "EMBEDDED"
    doc_id = v1["document_id"]

    # when v2 (about trains) is uploaded under the same name and search runs while it builds
    v2 = _upload(client, "handbook.txt", _text(TRAINS, 40))
    assert v2["outcome"] == "changed" and v2["document_id"] == doc_id
    [v2_plan] = v2["plan_ids"]
    seen: list[set[int]] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done = client.get(f"/v1/plans/{v2_plan}").json()["status"] == "EMBEDDED"
        hits = _search(client, "bees or trains", filters={"document_ids": [doc_id]})
        seen.append({h["plan_id"] for h in hits})
        if done:
            break

    # then every search saw exactly one version: v1, then v2 once it was EMBEDDED
    assert all(len(plans) == 1 for plans in seen), seen
    order = [next(iter(plans)) for plans in seen]
    # (whether any search landed before the swap is timing; that none saw both or neither is not)
    assert order[-1] == v2_plan and set(order) <= {v1_plan, v2_plan}
    first_v2 = order.index(v2_plan)
    assert set(order[:first_v2]) <= {v1_plan} and set(order[first_v2:]) == {v2_plan}
    # and the document shows both plans: the old one retired, the new one active
    plans = {p["plan_id"]: p for p in client.get(f"/v1/documents/{doc_id}").json()["plans"]}
    assert plans[v1_plan]["status"] == "READY" and not plans[v1_plan]["is_active"]
    assert plans[v2_plan]["status"] == "EMBEDDED" and plans[v2_plan]["is_active"]
    # the same bytes again are a lookup
    again = _upload(client, "handbook.txt", _text(TRAINS, 40))
    assert again["outcome"] == "unchanged" and again["plan_ids"] == [v2_plan]


def test_plans_rerun_and_activate_over_http(client: TestClient) -> None:
    # given a document with a retired plan (v1) and a serving one (v2)
    v1 = _upload(client, "handbook.txt", _text(BEES, 2))
    _wait_plan(client, v1["plan_ids"][0])
    v2 = _upload(client, "handbook.txt", _text(TRAINS, 2))
    _wait_plan(client, v2["plan_ids"][0])
    [v1_plan], [v2_plan] = v1["plan_ids"], v2["plan_ids"]

    # when the retired plan is activated without force, then 409 and nothing changes
    _assert_error(client.post(f"/v1/plans/{v1_plan}/activate"), 409, "conflict", "not EMBEDDED", "force")
    assert client.get(f"/v1/plans/{v2_plan}").json()["is_active"]
    assert {h["plan_id"] for h in _search(client, "railway signals")} == {v2_plan}

    # when the serving plan is rerun, then 202, a new generation, and it serves again once embedded
    resp = client.post(f"/v1/plans/{v2_plan}/rerun")
    assert resp.status_code == 202 and resp.json()["generation"] == 1
    plan = _wait_plan(client, v2_plan)
    assert plan["status"] == "EMBEDDED" and plan["is_active"] and plan["generation"] == 1
    assert {h["plan_id"] for h in _search(client, "railway signals")} == {v2_plan}

    # when the retired plan is activated with force, then it serves alone once rebuilt
    resp = client.post(f"/v1/plans/{v1_plan}/activate", params={"force": "true"})
    assert resp.status_code == 200 and resp.json()["is_active"]
    assert not client.get(f"/v1/plans/{v2_plan}").json()["is_active"]
    _wait_plan(client, v1_plan)
    hits = _search(client, BEE_QUERY)
    assert hits and {h["plan_id"] for h in hits} == {v1_plan}


def test_deactivate_disable_a_chunk_and_delete_over_http(client: TestClient) -> None:
    # given two documents
    bees = _upload(client, "bees.txt", _text(BEES, 8))
    trains = _upload(client, "trains.txt", _text(TRAINS, 4))
    for up in (bees, trains):
        _wait_plan(client, up["plan_ids"][0])
    listed = client.get("/v1/documents", params={"dataset": "docs", "status": "EMBEDDED"}).json()
    assert sorted(d["document_id"] for d in listed["documents"]) == sorted(
        [bees["document_id"], trains["document_id"]]
    )

    # when the best chunk for a bee question is disabled, then search skips it; enabled, it is back
    top = _search(client, BEE_QUERY)[0]
    chunk_id = top["chunk"]["id"]
    assert client.post(f"/v1/chunks/{chunk_id}/disable").json() == {"chunk_id": chunk_id, "enabled": False}
    assert chunk_id not in {h["chunk"]["id"] for h in _search(client, BEE_QUERY, k=20)}
    # and the plan's chunk listing shows it disabled, the others enabled, in order
    listing = client.get(f"/v1/plans/{top['plan_id']}/chunks").json()["chunks"]
    assert [c["seq"] for c in listing] == sorted(c["seq"] for c in listing) and len(listing) >= 2
    assert {c["chunk_id"]: c["enabled"] for c in listing}[chunk_id] is False
    assert all(c["enabled"] for c in listing if c["chunk_id"] != chunk_id)
    client.post(f"/v1/chunks/{chunk_id}/enable")
    back = _search(client, BEE_QUERY)[0]
    assert back["chunk"]["id"] == chunk_id and back["score"] == pytest.approx(top["score"], abs=1e-6)

    # when the bee document is deactivated, then search no longer returns it and it lists INACTIVE
    resp = client.post(f"/v1/documents/{bees['document_id']}/deactivate")
    assert resp.status_code == 200
    assert bees["document_id"] not in {h["document"]["id"] for h in _search(client, BEE_QUERY, k=20)}
    inactive = client.get("/v1/documents", params={"dataset": "docs", "status": "inactive"}).json()
    assert [d["document_id"] for d in inactive["documents"]] == [bees["document_id"]]

    # when the train document is deleted, then it is gone (404) and so are its hits
    resp = client.delete(f"/v1/documents/{trains['document_id']}")
    assert resp.status_code == 200 and resp.json()["plans"] == trains["plan_ids"]
    _assert_error(client.get(f"/v1/documents/{trains['document_id']}"), 404, "not_found")
    assert _search(client, "railway signals", k=20) == []
    _assert_error(client.delete(f"/v1/documents/{trains['document_id']}"), 404, "not_found")


def test_profiles_clone_and_activate_over_http_while_the_old_profile_serves(client: TestClient) -> None:
    # given a document on the default profile
    up = _upload(client, "bees.txt", _text(BEES, 8))
    _wait_plan(client, up["plan_ids"][0])
    names = [p["name"] for p in client.get("/v1/profiles").json()["profiles"]]
    assert names == ["default"]

    # when it is cloned with smaller chunks and the clone activated
    clone = {"name": "small", "chunk_size": 64, "chunk_overlap": 8}
    resp = client.post("/v1/profiles/default/clone", json=clone)
    assert resp.status_code == 201 and resp.json()["chunk_size"] == 64 and not resp.json()["is_active"]
    resp = client.post("/v1/profiles/small/activate")
    assert resp.status_code == 200 and resp.json()["plans_enqueued"] == 1
    [small_plan] = resp.json()["plan_ids"]
    # then the default profile answers while the clone builds, and the clone answers once built
    assert _search(client, BEE_QUERY)[0]["plan_id"] == up["plan_ids"][0]
    assert _wait_plan(client, small_plan)["status"] == "EMBEDDED"
    hits = _search(client, BEE_QUERY, profile="small")
    assert hits and {h["plan_id"] for h in hits} == {small_plan}
    assert all(h["chunk"]["token_count"] <= 64 for h in hits)
    assert _search(client, BEE_QUERY)[0]["plan_id"] == up["plan_ids"][0]
    # and a profile can be deactivated, but not the last active one
    assert client.post("/v1/profiles/small/deactivate").json()["is_active"] is False
    _assert_error(client.post("/v1/profiles/default/deactivate"), 409, "conflict", "at least one")


def test_events_follow_a_rerun_to_embedded(client: TestClient) -> None:
    up = _upload(client, "bees.txt", _text(BEES, 2))
    [plan_id] = up["plan_ids"]
    _wait_plan(client, plan_id)
    assert client.post(f"/v1/plans/{plan_id}/rerun").status_code == 202
    events = []
    with client.stream("GET", "/v1/events", params={"document_id": up["document_id"]}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1]["status"] == "EMBEDDED" and events[-1]["generation"] == 1:
                    break
    assert events[-1]["plan_id"] == plan_id


def test_bad_input_is_a_json_error_with_a_stable_code_never_a_500(client: TestClient) -> None:
    _upload(client, "bees.txt", _text(BEES, 1))
    cases = [
        (client.get("/v1/documents/not-a-number"), 422, "invalid_request"),
        (client.get("/v1/documents/424242"), 404, "not_found"),
        (client.get("/v1/documents", params={"dataset": "nope"}), 404, "not_found"),
        (client.delete("/v1/documents/424242"), 404, "not_found"),
        (client.post("/v1/documents/424242/deactivate"), 404, "not_found"),
        (client.get("/v1/plans/424242"), 404, "not_found"),
        (client.post("/v1/plans/424242/rerun"), 404, "not_found"),
        (client.post("/v1/plans/424242/activate"), 404, "not_found"),
        (client.post("/v1/chunks/424242/disable"), 404, "not_found"),
        (client.get("/v1/plans/424242/chunks"), 404, "not_found"),
        (client.post("/v1/profiles", json={"name": "big", "chunk_size": 400}), 422, "invalid_request"),
        (client.post("/v1/profiles", json={"name": "has space"}), 422, "invalid_request"),
        (client.post("/v1/profiles", json={"name": "d", "distance": "manhattan"}), 422, "invalid_request"),
        (client.post("/v1/profiles", json={"name": "default"}), 409, "conflict"),
        (client.post("/v1/profiles/nope/clone", json={"name": "x"}), 404, "not_found"),
        (client.post("/v1/profiles/nope/activate"), 404, "not_found"),
        (
            client.post("/v1/search", json={"query": "bees", "dataset": "docs", "profile": "nope"}),
            404,
            "not_found",
        ),
        (client.post("/v1/search", json={"query": "bees", "k": 0}), 422, "invalid_request"),
        (
            client.post("/v1/search", content=b"{", headers={"content-type": "application/json"}),
            422,
            "invalid_request",
        ),
        (client.post("/v1/datasets/docs/documents", json=[1, 2]), 422, "invalid_request"),
        (
            client.post("/v1/datasets/docs/documents", json={"uri": "s3://bucket/key.txt"}),
            400,
            "configuration_error",
        ),
        (
            client.post("/v1/datasets/docs/documents", json={"uri": "zzz://host/file.txt"}),
            422,
            "invalid_request",
        ),
        (
            client.post(
                "/v1/datasets/docs/documents", content=b"x", headers={"content-type": "multipart/form-data"}
            ),
            422,
            "invalid_request",
        ),
        (
            client.post("/v1/datasets/docs/documents", files={"upload": ("a.txt", b"hi")}),
            422,
            "invalid_request",
        ),
        (client.get("/v1/events", params={"since": "yesterday-ish"}), 422, "invalid_request"),
    ]
    for resp, status, code in cases:
        _assert_error(resp, status, code)
