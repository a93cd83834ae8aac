"""Validation at the HTTP edge: unknown fields, bogus statuses, wrong types and over-long values
are a 422 whose message names the field, in the error body, never a 500 nor a raw pydantic dump."""

from __future__ import annotations

import json
import time
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

if TYPE_CHECKING:
    from indexflow.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from indexflow.api.app import create_app
    from indexflow.testing import HashEncoder, MemoryStore

    app = create_app(settings, store=MemoryStore(), encoder=HashEncoder())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _error(resp: Any, status: int, *words: str) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    message: str = body["error"]["message"]
    for word in words:
        assert word in message, (word, message)
    for raw in ("validation error for", "errors.pydantic.dev", "input_value", "Traceback"):
        assert raw not in message, (raw, message)
    return message


def test_an_unknown_field_in_a_search_body_is_a_422_naming_it_not_an_unfiltered_search(
    client: TestClient,
) -> None:
    # when a search misspells "filters"
    resp = client.post("/v1/search", json={"query": "trains", "filter": {"document_ids": [1]}})
    # then it is refused, naming the field, instead of searching everything
    _error(resp, 422, "body.filter", "Extra inputs are not permitted")
    resp = client.post("/v1/search", json={"query": "x", "filters": {"document_id": [1]}})
    _error(resp, 422, "body.filters.document_id")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/profiles", {"name": "p", "chunk_sise": 64}),
        ("/v1/profiles/default/clone", {"name": "p", "overlap": 8}),
        ("/v1/datasets/docs/documents", {"uri": "s3://b/k", "profile": ["default"]}),
    ],
)
def test_every_body_refuses_unknown_fields(client: TestClient, path: str, body: dict[str, Any]) -> None:
    _error(client.post(path, json=body), 422, "Extra inputs are not permitted")


def test_a_bogus_status_filter_is_a_422_listing_the_statuses_and_any_case_of_a_real_one_works(
    client: TestClient,
) -> None:
    message = _error(client.get("/v1/documents", params={"status": "BOGUS"}), 422, "query.status")
    assert "EMBEDDED" in message and "INACTIVE" in message
    for status in ("embedded", "Failed", "INACTIVE"):
        assert client.get("/v1/documents", params={"status": status}).status_code == 200


def test_the_api_statuses_are_the_plan_statuses() -> None:
    # the API cannot import db/: its Literal copies the enum, and this keeps the copy honest
    from indexflow.api.schemas import DocumentStatusName, PlanStatusName
    from indexflow.db.models import PlanStatus

    assert list(typing.get_args(PlanStatusName)) == [s.value for s in PlanStatus]
    assert list(typing.get_args(DocumentStatusName)) == [*(s.value for s in PlanStatus), "INACTIVE"]


def test_a_uri_that_is_not_a_string_is_a_422_with_a_clean_message(client: TestClient) -> None:
    resp = client.post("/v1/datasets/docs/documents", json={"uri": 123})
    message = _error(resp, 422, "uri: Input should be a valid string")
    assert "\n" not in message
    _error(client.post("/v1/datasets/docs/documents", json=[1]), 422, "Input should be an object")


@pytest.mark.parametrize(
    ("body", "search_says"),
    [(b"not json", "body: invalid JSON"), (b"{bad", "body: invalid JSON"), (b"", "body: Field required")],
    ids=["text", "broken object", "empty"],
)
def test_a_body_that_is_not_json_is_a_422_saying_so(
    client: TestClient, body: bytes, search_says: str
) -> None:
    headers = {"content-type": "application/json"}
    _error(client.post("/v1/datasets/docs/documents", content=body, headers=headers), 422, "invalid JSON")
    _error(client.post("/v1/search", content=body, headers=headers), 422, search_says)


def test_a_body_that_is_not_utf8_is_a_client_error_in_the_error_body(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    resp = client.post("/v1/search", content=b'{"query": "\xff"}', headers=headers)
    assert resp.json()["error"]["code"] == "invalid_request"
    assert 400 <= resp.status_code < 500


def test_a_dataset_name_of_300_characters_is_a_422_naming_the_field(client: TestClient) -> None:
    name = "d" * 300
    upload = client.post(f"/v1/datasets/{name}/documents", files={"file": ("a.txt", b"some text")})
    _error(upload, 422, "path.dataset", "at most 200 characters")
    _error(client.post("/v1/search", json={"query": "x", "dataset": name}), 422, "body.dataset")
    _error(client.get("/v1/documents", params={"dataset": name}), 422, "query.dataset")
    # and a new dataset whose name is not plain is refused by the facade, naming the rule
    resp = client.post("/v1/datasets/My%20Docs/documents", files={"file": ("a.txt", b"some text")})
    _error(resp, 422, "dataset: 'My Docs' may hold only letters, digits")


def test_an_upload_whose_source_is_too_long_is_a_422_naming_the_field(client: TestClient) -> None:
    files = {"file": ("a.txt", b"some text")}
    resp = client.post("/v1/datasets/docs/documents", files=files, data={"source": "s" * 2001})
    _error(resp, 422, "source: 2001 characters is over the limit of 2000")


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/v1/documents/99999999999999999999", ("path.document_id", "less than or equal to")),
        ("/v1/plans/0", ("path.plan_id", "greater than or equal to 1")),
        ("/v1/plans/abc/chunks", ("path.plan_id", "valid integer")),
        (f"/v1/profiles/{'p' * 201}/activate", ("path.name", "at most 200 characters")),
    ],
)
def test_ids_and_names_out_of_range_are_422s(client: TestClient, path: str, words: tuple[str, ...]) -> None:
    method = client.post if path.endswith("activate") else client.get
    _error(method(path), 422, *words)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "p" * 201}, ("body.name", "at most 200 characters")),
        ({"name": "bad name"}, ("body.name", "should match pattern")),
        ({"name": "p", "dimension": 2**40}, ("body.dimension", "less than or equal to")),
        ({"name": "p", "encoder": "e" * 501}, ("body.encoder", "at most 500 characters")),
        ({"name": "p", "distance": "manhattan"}, ("body.distance", "'cosine', 'dot' or 'euclid'")),
    ],
)
def test_a_profile_body_that_does_not_fit_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], words: tuple[str, ...]
) -> None:
    _error(client.post("/v1/profiles", json=body), 422, *words)


def test_a_long_encoder_name_is_an_unknown_model_not_a_500(client: TestClient) -> None:
    # a name longer than a file name may be (255 bytes) once made the path lookup raise OSError
    resp = client.post("/v1/profiles", json={"name": "p", "encoder": "e" * 400})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "configuration_error"


def test_an_uploaded_json_tree_with_an_over_long_id_fails_its_plan_with_a_readable_error(
    client: TestClient,
) -> None:
    tree = json.dumps([{"id": "q" * 250, "text": "Question"}]).encode()
    resp = client.post("/v1/datasets/docs/documents", files={"file": ("exam.json", tree)})
    assert resp.status_code == 202, resp.text
    [plan_id] = resp.json()["plan_ids"]
    deadline = time.monotonic() + 60
    plan = client.get(f"/v1/plans/{plan_id}").json()
    while plan["status"] not in ("EMBEDDED", "FAILED") and time.monotonic() < deadline:
        time.sleep(0.05)
        plan = client.get(f"/v1/plans/{plan_id}").json()
    assert plan["status"] == "FAILED"
    assert "record #0: its id is 250 characters long, over the limit of 200" in plan["last_error"]


def test_a_bug_is_still_answered_in_the_error_body_without_internals(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a facade call that fails in a way nobody planned for
    ix = client.app.state.ix  # type: ignore[attr-defined]

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals: /srv/state/index.db")

    monkeypatch.setattr(ix.profiles, "list", broken)
    # then the answer is a 500 in the error body, naming the class and none of its text
    resp = client.get("/v1/profiles")
    assert resp.status_code == 500
    assert resp.json() == {
        "error": {"code": "internal_error", "message": "internal error (RuntimeError); see the server log"}
    }
