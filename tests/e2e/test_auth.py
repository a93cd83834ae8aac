"""API keys over HTTP: every route's rule (401 → 403 → 404 → 2xx), scoped listings and events,
keys stored hashed, the ``keys`` commands and ``serve --host`` refusing an exposed keyless API.

The app runs on the test doubles (``MemoryStore``, ``HashEncoder``); SQLite, the chunker and the
in-process worker are real.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.texts import BEES, TRAINS

if TYPE_CHECKING:
    from indexflow.service import Indexflow
    from indexflow.settings import Settings

pytestmark = pytest.mark.e2e

EPOCH = "1970-01-01T00:00:00+00:00"
PUBLIC = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


# -- the app, its keys and what they look at ----------------------------------------------------------
@dataclass(frozen=True)
class Target:
    dataset: str
    document_id: int
    plan_id: int
    chunk_id: int


@dataclass
class Call:
    method: str
    url: str
    params: dict[str, Any] | None = None
    json: Any = None
    files: Any = None
    stream: bool = False


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Env:
    client: TestClient
    ix: Indexflow
    keys: dict[str, str] = field(default_factory=dict)
    serial: Iterator[int] = field(default_factory=count)

    def send(self, call: Call, key: str | None) -> Reply:
        """The call with ``key``'s secret (a label of ``keys``, or a raw secret), or none."""
        secret = self.keys.get(key, key) if key else None
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        if call.stream:
            with self.client.stream(call.method, call.url, params=call.params, headers=headers) as r:
                if r.status_code != 200:
                    r.read()
                    return Reply(r.status_code, dict(r.headers), r.json())
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        return Reply(200, dict(r.headers), json.loads(line[5:]))
                return Reply(200, dict(r.headers), None)
        r = self.client.request(
            call.method, call.url, params=call.params, json=call.json, files=call.files, headers=headers
        )
        is_json = r.headers.get("content-type", "").startswith("application/json")
        return Reply(r.status_code, dict(r.headers), r.json() if is_json else r.text)  # /metrics: text

    def upload(self, dataset: str, text: str) -> Target:
        """A new document in ``dataset`` (uploaded with the admin key), embedded."""
        n = next(self.serial)
        data = (f"Note {n}.\n\n" + text * 2 + "\n").encode()
        resp = self.client.post(
            f"/v1/datasets/{dataset}/documents",
            files={"file": (f"doc{n}.txt", data, "text/plain")},
            headers=self.auth("admin"),
        )
        assert resp.status_code == 202, resp.text
        body = resp.json()
        [plan_id] = body["plan_ids"]
        deadline = time.monotonic() + 120
        while (plan := self.client.get(f"/v1/plans/{plan_id}", headers=self.auth("admin")).json())[
            "status"
        ] != "EMBEDDED":
            assert plan["status"] != "FAILED" and time.monotonic() < deadline, plan
            time.sleep(0.05)
        chunks = self.client.get(f"/v1/plans/{plan_id}/chunks", headers=self.auth("admin")).json()["chunks"]
        return Target(dataset, body["document_id"], plan_id, chunks[0]["chunk_id"])

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[key]}"}

    def unique(self, stem: str) -> str:
        return f"{stem}{next(self.serial)}"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from indexflow.api.app import create_app
    from indexflow.testing import HashEncoder, MemoryStore

    app = create_app(settings, store=MemoryStore(), encoder=HashEncoder())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def env(client: TestClient) -> Env:
    """Keys of every kind; dataset "a" and "b" with one embedded document each."""
    ix: Indexflow = client.app.state.ix  # type: ignore[attr-defined]
    e = Env(client, ix)
    for label, role, datasets in [
        ("admin", "admin", None),
        ("write_all", "write", None),
        ("read_all", "read", None),
        ("write_a", "write", ["a"]),
        ("read_a", "read", ["a"]),
        ("revoked", "admin", None),
    ]:
        e.keys[label] = ix.keys.create(label, role=role, datasets=datasets).secret
    ix.keys.revoke("revoked")
    e.keys["unknown"] = "ixk_" + secrets.token_urlsafe(32)
    return e


# -- one rule per route: its role, what it looks at, and a call ---------------------------------------
Build = Callable[[Env, Target], Call]


@dataclass(frozen=True)
class Rule:
    role: str  # read | write | admin
    kind: str  # object (a document, plan, chunk), dataset (named in the path/body/query), global
    build: Build
    changes: bool = False  # the 2xx call changes its target: give it a fresh one


WEBHOOK_URL = "https://93.184.215.14/indexflow-hook"


def _remove_a_spare_webhook(e: Env, _: Target) -> Call:
    hook = e.ix.webhooks.add(WEBHOOK_URL, dataset="nowhere")
    return Call("DELETE", f"/v1/webhooks/{hook.webhook_id}")


def _deactivate_a_spare_profile(e: Env, _: Target) -> Call:
    name = e.unique("spare")
    e.ix.profiles.create(name)
    return Call("POST", f"/v1/profiles/{name}/deactivate")


RULES: dict[tuple[str, str], Rule] = {
    ("POST", "/v1/datasets/{dataset}/documents"): Rule(
        "write",
        "dataset",
        lambda e, t: Call(
            "POST",
            f"/v1/datasets/{t.dataset}/documents",
            files={"file": (e.unique("up") + ".txt", BEES.encode())},
        ),
    ),
    ("GET", "/v1/documents"): Rule(
        "read", "dataset", lambda e, t: Call("GET", "/v1/documents", params={"dataset": t.dataset})
    ),
    ("GET", "/v1/documents/{document_id}"): Rule(
        "read", "object", lambda e, t: Call("GET", f"/v1/documents/{t.document_id}")
    ),
    ("DELETE", "/v1/documents/{document_id}"): Rule(
        "write", "object", lambda e, t: Call("DELETE", f"/v1/documents/{t.document_id}"), changes=True
    ),
    ("POST", "/v1/documents/{document_id}/deactivate"): Rule(
        "write",
        "object",
        lambda e, t: Call("POST", f"/v1/documents/{t.document_id}/deactivate"),
        changes=True,
    ),
    ("GET", "/v1/plans/{plan_id}"): Rule(
        "read", "object", lambda e, t: Call("GET", f"/v1/plans/{t.plan_id}")
    ),
    ("POST", "/v1/plans/{plan_id}/rerun"): Rule(
        "write", "object", lambda e, t: Call("POST", f"/v1/plans/{t.plan_id}/rerun"), changes=True
    ),
    ("POST", "/v1/plans/{plan_id}/activate"): Rule(
        "write",
        "object",
        lambda e, t: Call("POST", f"/v1/plans/{t.plan_id}/activate", params={"force": True}),
        changes=True,
    ),
    ("GET", "/v1/plans/{plan_id}/chunks"): Rule(
        "read", "object", lambda e, t: Call("GET", f"/v1/plans/{t.plan_id}/chunks")
    ),
    ("POST", "/v1/chunks/{chunk_id}/disable"): Rule(
        "write", "object", lambda e, t: Call("POST", f"/v1/chunks/{t.chunk_id}/disable"), changes=True
    ),
    ("POST", "/v1/chunks/{chunk_id}/enable"): Rule(
        "write", "object", lambda e, t: Call("POST", f"/v1/chunks/{t.chunk_id}/enable"), changes=True
    ),
    ("GET", "/v1/profiles"): Rule("read", "global", lambda e, t: Call("GET", "/v1/profiles")),
    ("POST", "/v1/profiles"): Rule(
        "admin", "global", lambda e, t: Call("POST", "/v1/profiles", json={"name": e.unique("p")})
    ),
    ("POST", "/v1/profiles/{name}/clone"): Rule(
        "admin",
        "global",
        lambda e, t: Call(
            "POST", "/v1/profiles/default/clone", json={"name": e.unique("c"), "chunk_size": 64}
        ),
    ),
    ("POST", "/v1/profiles/{name}/activate"): Rule(
        "admin", "global", lambda e, t: Call("POST", "/v1/profiles/default/activate")
    ),
    ("POST", "/v1/profiles/{name}/deactivate"): Rule("admin", "global", _deactivate_a_spare_profile),
    ("POST", "/v1/profiles/{name}/default"): Rule(
        "admin", "global", lambda e, t: Call("POST", "/v1/profiles/default/default", json={})
    ),
    ("POST", "/v1/eval"): Rule(
        "read",
        "dataset",
        lambda e, t: Call(
            "POST",
            "/v1/eval",
            json={"queries": [{"query": "bees", "relevant": ["x.txt"]}], "dataset": t.dataset},
        ),
    ),
    ("POST", "/v1/search"): Rule(
        "read",
        "dataset",
        lambda e, t: Call("POST", "/v1/search", json={"query": "bees", "dataset": t.dataset}),
    ),
    ("GET", "/metrics"): Rule("admin", "global", lambda e, t: Call("GET", "/metrics")),
    ("GET", "/v1/events"): Rule(
        "read",
        "dataset",
        lambda e, t: Call("GET", "/v1/events", params={"dataset": t.dataset, "since": EPOCH}, stream=True),
    ),
    # A public address literal (nothing resolved) for a dataset without documents: never contacted.
    ("POST", "/v1/webhooks"): Rule(
        "admin",
        "global",
        lambda e, t: Call("POST", "/v1/webhooks", json={"url": WEBHOOK_URL, "dataset": "nowhere"}),
    ),
    ("GET", "/v1/webhooks"): Rule("admin", "global", lambda e, t: Call("GET", "/v1/webhooks")),
    ("DELETE", "/v1/webhooks/{webhook_id}"): Rule("admin", "global", _remove_a_spare_webhook),
}
WEAKER = {"write": "read_all", "admin": "write_all"}  # an unscoped key one role short
SCOPED = {"read": "read_a", "write": "write_a"}  # the role exactly, on dataset "a" only
RIGHT = {"read": "read_a", "write": "write_a", "admin": "admin"}


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every API route of the app, included routers' too, but the public ones."""
    from indexflow.api.auth import api_routes

    assert isinstance(client.app, FastAPI)
    return [
        (m, path) for path, route in api_routes(client.app) if path not in PUBLIC for m in route.methods or ()
    ]


def _assert_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, (status, reply)
    assert reply.body["error"]["code"] == code and reply.body["error"]["message"], reply.body


def test_every_route_needs_a_key_of_its_role_and_sees_only_the_keys_datasets(env: Env) -> None:
    # given keys of every role (one revoked) and a document in each of datasets "a" and "b"
    a, b = env.upload("a", BEES), env.upload("b", TRAINS)
    routes = _routes(env.client)
    # every route has a rule here: a new route without one fails this test
    assert sorted(routes) == sorted(RULES), "a route has no auth rule in RULES (or a rule lost its route)"

    for key in routes:
        rule = RULES[key]
        where = f"{key[0]} {key[1]}"
        # when it is called without a key, with an unknown one or a revoked one: 401, a Bearer challenge
        for secret in (None, "unknown", "revoked", "not-even-a-key"):
            reply = env.send(rule.build(env, a), secret)
            _assert_error(reply, 401, "unauthorized")
            assert reply.headers.get("www-authenticate") == "Bearer", (where, reply.headers)
        # with a key one role short: 403
        if rule.role in WEAKER:
            _assert_error(env.send(rule.build(env, a), WEAKER[rule.role]), 403, "forbidden")
        # with the right role but on the other dataset: 404, as if it did not exist
        if rule.kind != "global":
            reply = env.send(rule.build(env, b), SCOPED[rule.role])
            _assert_error(reply, 404, "not_found")
            assert "does not exist" in reply.body["error"]["message"], (where, reply.body)
            assert "'b'" in reply.body["error"]["message"] or rule.kind == "object", reply.body
        # then with the right key on its own dataset: 2xx
        target = env.upload("a", BEES) if rule.changes else a
        reply = env.send(rule.build(env, target), RIGHT[rule.role])
        assert 200 <= reply.status < 300, (where, reply)

    # and nothing of dataset b changed through all the refused calls
    doc = env.client.get(f"/v1/documents/{b.document_id}", headers=env.auth("admin")).json()
    assert doc["is_active"] and [(p["status"], p["generation"]) for p in doc["plans"]] == [("EMBEDDED", 0)]
    chunks = env.client.get(f"/v1/plans/{b.plan_id}/chunks", headers=env.auth("admin")).json()["chunks"]
    assert all(c["enabled"] for c in chunks)


def test_another_datasets_object_is_missing_word_for_word_like_an_id_that_does_not_exist(env: Env) -> None:
    # given a document in "b"
    b = env.upload("b", TRAINS)
    missing = 10**9
    for kind, real, url in [
        ("document", b.document_id, "/v1/documents/{}"),
        ("plan", b.plan_id, "/v1/plans/{}"),
        ("plan", b.plan_id, "/v1/plans/{}/chunks"),
    ]:
        # when a key of "a" asks for it, and for an id that does not exist
        theirs = env.send(Call("GET", url.format(real)), "read_a")
        nothing = env.send(Call("GET", url.format(missing)), "read_a")
        # then both answers are the same but for the id
        assert theirs.status == nothing.status == 404
        assert theirs.body["error"]["message"] == f"{kind} {real} does not exist"
        assert json.dumps(nothing.body).replace(str(missing), str(real)) == json.dumps(theirs.body)
    toggled = env.send(Call("POST", f"/v1/chunks/{b.chunk_id}/disable"), "write_a")
    assert toggled.body == {"error": {"code": "not_found", "message": f"chunk {b.chunk_id} does not exist"}}


def test_listings_and_search_show_only_the_keys_datasets(env: Env) -> None:
    # given documents in "a" and "b"
    a, b = env.upload("a", BEES), env.upload("b", TRAINS)
    # when a key of "a" lists documents, then it sees a's only; an unscoped key sees both
    listed = env.send(Call("GET", "/v1/documents"), "read_a").body["documents"]
    assert [d["document_id"] for d in listed] == [a.document_id]
    everything = env.send(Call("GET", "/v1/documents"), "read_all").body["documents"]
    assert {d["document_id"] for d in everything} == {a.document_id, b.document_id}
    # and search on a dataset it does not see, or one that does not exist, is the same 404 naming "a"
    for dataset in ("b", "nope"):
        reply = env.send(Call("POST", "/v1/search", json={"query": "trains", "dataset": dataset}), "read_a")
        _assert_error(reply, 404, "not_found")
        assert reply.body["error"]["message"] == f"dataset {dataset!r} does not exist (datasets: a)"
    hits = env.send(Call("POST", "/v1/search", json={"query": "honey bees", "dataset": "a"}), "read_a").body
    assert hits["hits"] and {h["document"]["dataset"] for h in hits["hits"]} == {"a"}
    # and search filtered to b's document ids from a's dataset finds nothing of b
    body = {"query": "trains", "dataset": "a", "filters": {"document_ids": [b.document_id]}}
    assert env.send(Call("POST", "/v1/search", json=body), "read_a").body["hits"] == []


def test_the_events_stream_shows_only_the_keys_datasets(env: Env) -> None:
    # given b's document changed before a's, so an unfiltered stream would show it first
    b = env.upload("b", TRAINS)
    a = env.upload("a", BEES)
    # when a key of "a" follows every event since the epoch
    seen: list[dict[str, Any]] = []
    with env.client.stream(
        "GET", "/v1/events", params={"since": EPOCH}, headers=env.auth("read_a")
    ) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
                if seen[-1]["plan_id"] == a.plan_id and seen[-1]["status"] == "EMBEDDED":
                    break
    # then it saw a's plan and nothing of b
    assert {e["document_id"] for e in seen} == {a.document_id}
    # and asking for b's dataset is 404, as for a dataset the key does not see
    reply = env.send(Call("GET", "/v1/events", params={"dataset": "b"}, stream=True), "read_a")
    _assert_error(reply, 404, "not_found")
    assert b.document_id not in {e["document_id"] for e in seen}


@pytest.mark.timeout(120)
def test_an_open_event_stream_ends_when_its_key_is_revoked(env: Env, monkeypatch) -> None:
    import indexflow.api.app as api_app

    monkeypatch.setattr(api_app, "_RECHECK_SECONDS", 0.2)
    a = env.upload("a", BEES)
    # given a stream followed with a key of "a"
    with env.client.stream(
        "GET", "/v1/events", params={"since": EPOCH, "dataset": "a"}, headers=env.auth("read_a")
    ) as stream:
        lines = stream.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
        assert json.loads(first[5:])["document_id"] == a.document_id
        # when the key is revoked
        env.ix.keys.revoke("read_a")
        # then the stream ends by itself (the iterator runs out)
        rest = list(lines)
    assert not any(line.startswith("data:") for line in rest)


def test_without_any_key_the_api_is_open_and_revoking_keys_never_reopens_it(client: TestClient) -> None:
    ix: Indexflow = client.app.state.ix  # type: ignore[attr-defined]
    # given no key: every route answers without one, as before keys
    assert client.get("/v1/documents").status_code == 200
    assert client.get("/v1/profiles", headers={"Authorization": "Bearer whatever"}).status_code == 200
    assert client.get("/healthz").status_code == 200
    # when a key is created, then a request without one is refused
    secret = ix.keys.create("only", role="admin").secret
    assert client.get("/v1/documents").status_code == 401
    assert client.get("/healthz").status_code == 200  # health and the OpenAPI pages stay public
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/v1/documents", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert client.get("/v1/documents", headers={"Authorization": f"bearer {secret}"}).status_code == 200
    assert client.get("/v1/documents", headers={"Authorization": f"Basic {secret}"}).status_code == 401
    # and revoking the only key does not open the API: every request is refused
    ix.keys.revoke("only")
    reply = client.get("/v1/documents", headers={"Authorization": f"Bearer {secret}"})
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "unauthorized"
    assert client.get("/v1/documents").status_code == 401
    # only deleting every key does
    ix.keys.delete("only")
    assert client.get("/v1/documents").status_code == 200


def test_keys_are_stored_hashed_never_as_the_secret(env: Env, settings: Settings) -> None:
    # given keys created and used
    assert env.send(Call("GET", "/v1/profiles"), "read_a").status == 200
    # then no secret is in the database files (main file and write-ahead log), only their sha256
    import hashlib

    raw = b"".join(p.read_bytes() for p in Path(settings.home).glob("indexflow.db*"))
    for label in ("admin", "read_a", "revoked"):
        secret = env.keys[label]
        assert secret.encode() not in raw and secret[4:].encode() not in raw, label
        assert hashlib.sha256(secret.encode()).hexdigest().encode() in raw, label
    assert all("secret" not in k.to_dict() for k in env.ix.keys.list())


# -- the CLI ------------------------------------------------------------------------------------------
@pytest.fixture
def cli(home: Path, monkeypatch) -> Callable[..., Any]:
    from indexflow.cli.main import app

    monkeypatch.setenv("INDEXFLOW_HOME", str(home))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_keys_create_list_revoke_delete_from_the_command_line(cli, settings: Settings) -> None:
    from indexflow import Indexflow

    # when a key is created, its secret is printed once (stdout), the notice on stderr
    made = cli("keys", "create", "ci", "--dataset", "docs", "-d", "wiki", "--role", "write")
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("ixk_") and "not shown again" in made.stderr
    as_json = cli("keys", "create", "bot", "--json")
    assert as_json.exit_code == 0, as_json.output
    created = json.loads(as_json.stdout)
    assert created["secret"].startswith("ixk_") and created["role"] == "read" and created["datasets"] is None
    # then it authenticates with that secret
    with Indexflow(settings) as ix:
        who = ix.keys.authenticate(secret)
        assert who is not None and who.role == "write" and who.datasets == ["docs", "wiki"]
    # and the listing shows both, never a secret
    listed = cli("keys", "list", "--json")
    keys = json.loads(listed.stdout)
    assert [k["name"] for k in keys] == ["ci", "bot"] and all("secret" not in k for k in keys)
    table = cli("keys", "list")
    assert "ci" in table.stdout and "docs,wiki" in table.stdout and secret not in table.stdout
    # and a revoked key is refused from then on
    revoked = cli("keys", "revoke", "ci", "--json")
    assert revoked.exit_code == 0 and json.loads(revoked.stdout)["active"] is False
    with Indexflow(settings) as ix:
        assert ix.keys.authenticate(secret) is None
    # and bad requests exit 1 with the reason
    for args, words in [
        (("keys", "create", "bot"), "already exists"),
        (("keys", "create", "x", "--role", "root"), "role 'root'"),
        (("keys", "create", "x", "--role", "admin", "-d", "docs"), "admin key covers every dataset"),
        (("keys", "revoke", "nope"), "'nope'"),
    ]:
        out = cli(*args)
        assert out.exit_code == 1 and words in out.stderr, (args, out.output)
    # and deleting every key says the API is open again
    assert cli("keys", "delete", "ci").exit_code == 0
    last = cli("keys", "delete", "bot")
    assert last.exit_code == 0 and "needs none" in last.stderr


@pytest.fixture
def no_server(monkeypatch) -> list[dict[str, Any]]:
    """``uvicorn.run`` replaced: records where it would have listened, never binds anything."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    return calls


def test_serve_on_a_public_address_refuses_while_no_key_exists(cli, no_server, settings: Settings) -> None:
    from indexflow import Indexflow

    # given no key: serving on every interface is refused with exit 2 and how to make one
    for host in ("0.0.0.0", "::", "192.168.1.20", "example.org"):
        out = cli("serve", "--host", host)
        assert out.exit_code == 2, out.output
        assert "indexflow keys create" in out.stderr and "no API key exists" in out.stderr, out.stderr
    assert no_server == []
    # while loopback is served as before
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert cli("serve", "--host", host).exit_code == 0
    assert [c["host"] for c in no_server] == ["127.0.0.1", "localhost", "::1", "127.0.0.2"]
    # when a key exists, the public address is served; a revoked one alone does not count
    with Indexflow(settings) as ix:
        ix.keys.create("gone", role="admin")
        ix.keys.revoke("gone")
    assert cli("serve", "--host", "0.0.0.0").exit_code == 2
    with Indexflow(settings) as ix:
        ix.keys.create("ops", role="admin")
    out = cli("serve", "--host", "0.0.0.0", "--port", "8123")
    assert out.exit_code == 0, out.output
    assert {k: no_server[-1][k] for k in ("host", "port")} == {"host": "0.0.0.0", "port": 8123}


def test_the_exposure_check_allows_loopback_and_keyed_servers_only() -> None:
    from indexflow.api.auth import exposure_problem, is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "", "10.0.0.1", "localhost.example.org"))
    assert exposure_problem("127.0.0.1", False) is None
    assert exposure_problem("0.0.0.0", True) is None
    problem = exposure_problem("0.0.0.0", False)
    assert problem is not None and "indexflow keys create" in problem


def test_an_app_with_a_route_that_declares_no_role_is_refused(settings: Settings, monkeypatch) -> None:
    from fastapi import APIRouter

    from indexflow.api import routes
    from indexflow.api.app import create_app

    # given the routes plus one added without a Reader/Writer/Admin parameter
    with_a_gap = APIRouter()
    with_a_gap.include_router(routes.router)
    with_a_gap.add_api_route("/v1/oops", lambda: {"ok": True}, methods=["GET"])
    monkeypatch.setattr(routes, "router", with_a_gap)
    # when the app is built, then it is refused, naming the route
    with pytest.raises(RuntimeError, match="GET /v1/oops declares no role"):
        create_app(settings)
