"""Webhooks from outside: the ``indexflow webhooks`` commands (real subprocesses, embedded
default) and ``/v1/webhooks`` over HTTP (TestClient on the doubles), each delivering to a real
HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.texts import BEES
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-0123456789-abcdef"
PRIVATE_OK = {"INDEXFLOW_WEBHOOK_ALLOW_PRIVATE": "true", "INDEXFLOW_WEBHOOK_POLL_SECONDS": "0.2"}


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = os.environ | {"INDEXFLOW_HOME": str(home), "COLUMNS": "250"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "indexflow.cli.main", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=600,
    )


def ok(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = run(home, *args, env=env)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


# -- the CLI ----------------------------------------------------------------------------------------
def test_webhooks_commands_print_a_generated_secret_once_and_never_list_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    home = tmp_path / "home"
    # when a webhook is added without --secret
    added = ok(
        home,
        *("webhooks", "add", receiver.url(), "--event", "plan.embedded", "--event", "plan.failed"),
        *("--dataset", "docs"),
        env=PRIVATE_OK,
    )
    # then the generated secret is stdout's only line; stderr says to store it
    secret = added.stdout.strip()
    assert len(secret) == 43 and "\n" not in secret
    assert "not shown again" in added.stderr and "added webhook" in added.stderr
    # and listing never shows it, as JSON or as a table: the secret column is masked
    listed = json.loads(ok(home, "webhooks", "list", "--json").stdout)
    assert [(w["url"], w["events"], w["dataset"], w["secret"]) for w in listed] == [
        (receiver.url(), ["plan.embedded", "plan.failed"], "docs", "********")
    ]
    table = ok(home, "webhooks", "list")
    assert secret not in table.stdout + table.stderr and "********" in table.stdout
    assert receiver.url() in table.stdout

    # when one is added with --secret, then nothing is printed to stdout (the caller has it)
    given = ok(home, "webhooks", "add", receiver.url("/two"), "--secret", SECRET, env=PRIVATE_OK)
    assert given.stdout == "" and SECRET not in given.stderr
    assert len(json.loads(ok(home, "webhooks", "list", "--json").stdout)) == 2

    # when one is removed, then it is gone; removing it again fails cleanly
    first = listed[0]["webhook_id"]
    removed = ok(home, "webhooks", "remove", str(first))
    assert f"removed webhook {first}" in removed.stderr
    assert [w["url"] for w in json.loads(ok(home, "webhooks", "list", "--json").stdout)] == [
        receiver.url("/two")
    ]
    again = run(home, "webhooks", "remove", str(first))
    assert again.returncode == 1 and "does not exist" in again.stderr and "Traceback" not in again.stderr

    # and without INDEXFLOW_WEBHOOK_ALLOW_PRIVATE a loopback receiver is refused, naming it
    refused = run(home, "webhooks", "add", receiver.url())
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "INDEXFLOW_WEBHOOK_ALLOW_PRIVATE" in refused.stderr.replace("\n", "")
    bad_event = run(home, "webhooks", "add", receiver.url(), "--event", "nope", env=PRIVATE_OK)
    assert bad_event.returncode == 1 and "unknown nope" in bad_event.stderr


def test_a_cli_ingest_delivers_its_events_before_the_command_exits(
    tmp_path: Path, receiver: Receiver
) -> None:
    # given a webhook, then a document ingested by the CLI (embedded default, real model)
    home = tmp_path / "home"
    ok(home, "webhooks", "add", receiver.url(), "--secret", SECRET, env=PRIVATE_OK)
    doc = tmp_path / "bees.txt"
    doc.write_text(BEES + "\n")
    report = json.loads(ok(home, "ingest", str(doc), "-d", "docs", "--json", env=PRIVATE_OK).stdout)
    [entry] = report["documents"]
    # then, as soon as the command has exited, its events have arrived, signed
    got = receiver.got(ok=True)
    assert sorted(r.event["type"] for r in got) == ["document.activated", "plan.embedded"]
    assert all(r.signed_by(SECRET) for r in got)
    assert {r.event["document_id"] for r in got} == {entry["document_id"]}
    assert {r.event["plan_id"] for r in got} == {entry["plans"][0]["plan_id"]}
    listed = json.loads(ok(home, "webhooks", "list", "--json").stdout)
    assert (listed[0]["pending"], listed[0]["delivered"]) == (0, 2)


# -- the HTTP API -----------------------------------------------------------------------------------
@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    from indexflow.api.app import create_app
    from indexflow.settings import Settings
    from indexflow.testing import HashEncoder, MemoryStore

    settings = Settings(home=home, webhook_allow_private=True, webhook_poll_seconds=0.1)
    with TestClient(create_app(settings, store=MemoryStore(), encoder=HashEncoder())) as c:
        yield c


def _auth(client: TestClient) -> dict[str, str]:
    secret = client.app.state.ix.keys.create("admin", role="admin").secret  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {secret}"}


def test_the_webhooks_routes_add_list_and_remove_with_the_secret_shown_once(
    client: TestClient, receiver: Receiver
) -> None:
    headers = _auth(client)
    # when a webhook is added without a secret
    r = client.post(
        "/v1/webhooks", json={"url": receiver.url(), "events": ["plan.embedded"]}, headers=headers
    )
    # then 201 with the generated secret
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    assert created["generated"] is True and len(created["secret"]) == 43
    assert created["events"] == ["plan.embedded"] and created["dataset"] is None
    # and the listing masks it
    listed = client.get("/v1/webhooks", headers=headers).json()["webhooks"]
    assert [(w["webhook_id"], w["secret"]) for w in listed] == [(created["webhook_id"], "********")]
    assert created["secret"] not in json.dumps(listed)
    # when one is added with a secret, then it is echoed to its caller only
    r = client.post("/v1/webhooks", json={"url": receiver.url("/b"), "secret": SECRET}, headers=headers)
    assert r.status_code == 201 and r.json()["secret"] == SECRET and r.json()["generated"] is False
    # refusals are 422 naming the reason
    for body, why in [
        ({"url": "ftp://example.com/x"}, "http"),
        ({"url": "http://169.254.169.254/"}, "metadata"),
        ({"url": receiver.url(), "events": ["plan.exploded"]}, "unknown plan.exploded"),
        ({"url": receiver.url(), "secret": "short"}, "secret"),
        ({"url": receiver.url(), "hmac": "x"}, "hmac"),
    ]:
        r = client.post("/v1/webhooks", json=body, headers=headers)
        assert r.status_code == 422 and why in r.json()["error"]["message"], (body, r.json())
    # when one is removed, then it is gone; again is 404
    r = client.delete(f"/v1/webhooks/{created['webhook_id']}", headers=headers)
    assert r.status_code == 200 and r.json()["webhook_id"] == created["webhook_id"]
    assert r.json()["secret"] == "********"
    assert len(client.get("/v1/webhooks", headers=headers).json()["webhooks"]) == 1
    r = client.delete(f"/v1/webhooks/{created['webhook_id']}", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_a_document_uploaded_over_http_is_announced_to_the_webhook(
    client: TestClient, receiver: Receiver
) -> None:
    headers = _auth(client)
    client.post("/v1/webhooks", json={"url": receiver.url(), "secret": SECRET}, headers=headers)
    # when a document is uploaded
    r = client.post(
        "/v1/datasets/docs/documents", files={"file": ("bees.txt", BEES.encode())}, headers=headers
    )
    assert r.status_code == 202, r.text
    accepted = r.json()
    # then the API's worker delivers its plan.embedded and document.activated, signed
    got = receiver.wait_for(lambda g: len(g) >= 2)
    assert sorted(x.event["type"] for x in got) == ["document.activated", "plan.embedded"]
    assert all(x.signed_by(SECRET) for x in got)
    assert {(x.event["document_id"], x.event["plan_id"]) for x in got} == {
        (accepted["document_id"], accepted["plan_ids"][0])
    }
