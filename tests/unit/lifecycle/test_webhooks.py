"""Webhooks (``ix.webhooks``): signed events from the outbox to a real HTTP receiver.

The receiver is a threading ``http.server`` on 127.0.0.1 (``tests/webhook_receiver.py``); the
facade runs on the doubles with SQLite, the state machine and the in-process worker (whose
delivery loop posts the events) all real.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from indexflow.db import plans as plans_repo
from indexflow.db import webhooks as webhooks_repo
from indexflow.db.models import WebhookDelivery, utcnow
from indexflow.db.session import transaction
from indexflow.domain.webhooks import EVENT_TYPES, sign, verify
from indexflow.errors import InvalidRequest, NotFound
from indexflow.pipeline import machine
from indexflow.settings import Settings
from tests.lifecycle_support import BEES, TRAINS, ingest_one, write_doc
from tests.webhook_receiver import Received, Receiver, free_port

if TYPE_CHECKING:
    from indexflow.service import Indexflow

SECRET = "test-secret-0123456789-abcdef"


@pytest.fixture
def settings(home: Path) -> Settings:
    # A receiver on loopback needs webhook_allow_private; short polls and backoff keep tests quick.
    return Settings(
        home=home,
        lease_seconds=60,
        embed_batch_size=32,
        webhook_allow_private=True,
        webhook_poll_seconds=0.1,
        webhook_max_backoff_seconds=0.5,
        webhook_timeout_seconds=2.0,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _by_type(got: list[Received]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in got:
        out.setdefault(r.event["type"], []).append(r.event)
    return out


def _types(got: list[Received]) -> list[str]:
    return sorted(r.event["type"] for r in got)


def _settled(ix: Indexflow, timeout: float = 30.0) -> None:
    """Wait until no delivery is pending (every event reached a 2xx or its webhook was removed)."""
    deadline = time.monotonic() + timeout
    while ix.webhooks.pending():
        assert time.monotonic() < deadline, ix.webhooks.list()
        time.sleep(0.05)


# -- adding, listing, removing ----------------------------------------------------------------------
def test_an_added_webhook_shows_its_generated_secret_once_and_lists_it_masked(
    ix: Indexflow, receiver: Receiver
) -> None:
    # when a webhook is added without a secret
    created = ix.webhooks.add(receiver.url(), events=["plan.failed", "plan.embedded"], dataset="docs")
    # then a random URL-safe secret was generated and is returned this once
    assert created.generated and len(created.secret) == 43
    assert created.events == ["plan.embedded", "plan.failed"] and created.dataset == "docs"
    # and the listing never holds it: masked
    [listed] = ix.webhooks.list()
    assert listed.webhook_id == created.webhook_id and listed.secret == "********"
    assert created.secret not in repr(ix.webhooks.list())
    assert created.secret not in repr(ix.webhooks.get(created.webhook_id))
    # when one is added with a secret, then that one is kept (not generated)
    given = ix.webhooks.add(receiver.url("/other"), secret=SECRET)
    assert not given.generated and given.secret == SECRET and given.events is None
    # when a webhook is removed, then it is gone; removing it again is NotFound
    removed = ix.webhooks.remove(created.webhook_id)
    assert removed.webhook_id == created.webhook_id
    assert [w.webhook_id for w in ix.webhooks.list()] == [given.webhook_id]
    with pytest.raises(NotFound, match="does not exist"):
        ix.webhooks.remove(created.webhook_id)


def test_webhook_urls_events_and_secrets_are_checked_before_anything_is_stored(
    ix: Indexflow, receiver: Receiver, tmp_path: Path
) -> None:
    from indexflow import Indexflow as Facade
    from indexflow.testing import HashEncoder, MemoryStore

    # given the default settings (no private addresses allowed)
    with Facade(Settings(home=tmp_path / "strict"), store=MemoryStore(), encoder=HashEncoder()) as strict:
        # then a loopback, private or metadata receiver is refused, naming the setting
        for url in (receiver.url(), "http://10.1.2.3/hook", "http://localhost:8080/hook"):
            with pytest.raises(InvalidRequest, match="INDEXFLOW_WEBHOOK_ALLOW_PRIVATE"):
                strict.webhooks.add(url)
        # and a public address is fine (a literal: nothing is resolved or contacted)
        assert strict.webhooks.add("https://93.184.215.14/indexflow").url == "https://93.184.215.14/indexflow"
    # even with private addresses allowed, cloud metadata stays refused
    with pytest.raises(InvalidRequest, match="metadata"):
        ix.webhooks.add("http://169.254.169.254/latest")
    for url, why in [
        ("ftp://example.com/hook", "http"),
        ("file:///etc/passwd", "http"),
        ("http://user:pw@127.0.0.1/hook", "credentials"),
        ("http:///nohost", "host"),
        ("", "empty"),
    ]:
        with pytest.raises(InvalidRequest, match=why):
            ix.webhooks.add(url)
    with pytest.raises(InvalidRequest, match=r"unknown plan\.exploded"):
        ix.webhooks.add(receiver.url(), events=["plan.embedded", "plan.exploded"])
    with pytest.raises(InvalidRequest, match="16-200 characters"):
        ix.webhooks.add(receiver.url(), secret="short")
    with pytest.raises(InvalidRequest, match="no spaces"):
        ix.webhooks.add(receiver.url(), secret="a secret with spaces in it")
    with pytest.raises(InvalidRequest, match="dataset"):
        ix.webhooks.add(receiver.url(), dataset="no/slashes")
    # and nothing was stored
    assert ix.webhooks.list() == []


# -- deliveries -------------------------------------------------------------------------------------
def test_ingested_documents_send_signed_plan_embedded_and_document_activated_events(
    ix: Indexflow, receiver: Receiver, docs_dir: Path
) -> None:
    # given a webhook for every event
    hook = ix.webhooks.add(receiver.url(), secret=SECRET)
    # when two documents are ingested
    bees_doc, bees_plan = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, 3))
    trains_doc, trains_plan = ingest_one(ix, write_doc(docs_dir / "trains.txt", TRAINS, 2))
    # then each plan's plan.embedded and document.activated arrive
    got = receiver.wait_for(lambda g: len(g) >= 4)
    assert _types(got) == ["document.activated"] * 2 + ["plan.embedded"] * 2
    for r in got:
        # signed with the secret (HMAC-SHA256 of the raw body), headers naming the event
        assert r.signed_by(SECRET) and not r.signed_by(SECRET + "x")
        assert verify(SECRET, r.body, r.headers["x-indexflow-signature"])
        assert r.headers["x-indexflow-event"] == r.event["type"]
        assert r.headers["x-indexflow-delivery"] == r.event["id"]
        assert r.headers["content-type"] == "application/json"
        when = datetime.fromisoformat(r.event["time"])
        assert when.utcoffset() == timedelta(0) and abs(utcnow() - when) < timedelta(minutes=5)
        assert r.event["dataset"] == "docs" and r.event["profile"] == "default"
    # with the ids involved
    by_type = _by_type(got)
    assert {(e["document_id"], e["plan_id"]) for e in by_type["plan.embedded"]} == {
        (bees_doc, bees_plan),
        (trains_doc, trains_plan),
    }
    assert all(e["status"] == "EMBEDDED" and e["chunk_count"] > 0 for e in by_type["plan.embedded"])
    activated = {e["plan_id"]: e for e in by_type["document.activated"]}
    assert set(activated) == {bees_plan, trains_plan}
    assert activated[bees_plan]["previous_plan_id"] is None
    assert activated[bees_plan]["source"].endswith("bees.txt")
    # and every event has its own id; the webhook shows them delivered, none pending
    assert len({r.event["id"] for r in got}) == 4
    _settled(ix)
    [listed] = ix.webhooks.list()
    assert listed.webhook_id == hook.webhook_id
    assert (listed.delivered, listed.pending, listed.failures) == (4, 0, 0)

    # when a new version of a document replaces the old one
    write_doc(docs_dir / "bees.txt", BEES + " Drones do not sting.", 3)
    report = ix.ingest([str(docs_dir / "bees.txt")], dataset="docs", wait=True, timeout=120)
    [new_plan] = report.documents[0].plans
    # then its activation names the plan it replaced
    got = receiver.wait_for(lambda g: len(g) >= 6)
    [swap] = [e for e in _by_type(got)["document.activated"] if e["plan_id"] == new_plan.plan_id]
    assert swap["previous_plan_id"] == bees_plan and swap["document_id"] == bees_doc


def test_a_failing_document_sends_plan_failed_with_its_last_error(
    ix: Indexflow, receiver: Receiver, docs_dir: Path, fixtures_dir: Path
) -> None:
    # given a webhook for failures only
    ix.webhooks.add(receiver.url(), events=["plan.failed"], secret=SECRET)
    # when a malformed PDF is ingested along with a good document
    (docs_dir / "broken.pdf").write_bytes((fixtures_dir / "truncated.pdf").read_bytes())
    write_doc(docs_dir / "bees.txt", BEES, 2)
    report = ix.ingest([str(docs_dir)], dataset="docs", wait=True, timeout=120)
    [failed] = report.failed
    # then one plan.failed arrives, for the broken one, with the plan's last_error
    [r] = receiver.wait_for(lambda g: len(g) >= 1)
    event = r.event
    assert r.signed_by(SECRET) and event["type"] == "plan.failed"
    assert event["document_id"] == failed.document_id and event["plan_id"] == failed.plans[0].plan_id
    assert event["status"] == "FAILED" and event["last_error"] == failed.plans[0].last_error
    assert event["last_error"]
    _settled(ix)
    assert len(receiver.got()) == 1  # the good document's events were not subscribed


def test_deactivating_and_deleting_documents_send_their_events(
    ix: Indexflow, receiver: Receiver, docs_dir: Path
) -> None:
    # given three embedded documents (one in dataset "old") and a webhook for what happens next
    bees_doc, bees_plan = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, 2))
    trains_doc, _ = ingest_one(ix, write_doc(docs_dir / "trains.txt", TRAINS, 2))
    old_doc, _ = ingest_one(ix, write_doc(docs_dir / "old" / "bees.txt", BEES, 1), dataset="old")
    ix.webhooks.add(
        receiver.url(), events=["document.deactivated", "document.deleted", "plan.cancelled"], secret=SECRET
    )
    # when one is deactivated, one deleted, and dataset "old" purged
    ix.documents.deactivate(bees_doc)
    ix.documents.delete(trains_doc)
    ix.maintenance.purge(dataset="old")
    # then document.deactivated (with its plan's plan.cancelled) and document.deleted arrive
    got = receiver.wait_for(lambda g: len(g) >= 4)
    by_type = _by_type(got)
    [cancelled] = by_type["plan.cancelled"]
    assert (cancelled["plan_id"], cancelled["last_error"]) == (bees_plan, "document deactivated")
    [deactivated] = by_type["document.deactivated"]
    assert deactivated["document_id"] == bees_doc and deactivated["plan_ids"] == [bees_plan]
    deleted = {e["document_id"]: e for e in by_type["document.deleted"]}
    assert set(deleted) == {trains_doc, old_doc}
    assert deleted[trains_doc]["source"].endswith("trains.txt") and deleted[trains_doc]["dataset"] == "docs"
    assert deleted[old_doc]["dataset"] == "old" and deleted[old_doc]["purged"] is True
    assert all(r.signed_by(SECRET) for r in got)


def test_the_event_is_recorded_in_the_status_changes_transaction_and_never_sent_if_it_rolls_back(
    ix: Indexflow, receiver: Receiver, docs_dir: Path
) -> None:
    # given an embedded plan and a webhook
    _, plan_id = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, 2))
    ix.webhooks.add(receiver.url(), events=["plan.cancelled"], secret=SECRET)

    # when a status change is applied and its transaction rolls back
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction(ix.rt.sessions) as s:
        plan = plans_repo.find(s, plan_id, for_update=True)
        assert plan is not None
        machine.apply(s, plan, machine.Deactivate(), ix.rt.queues)
        # the delivery row exists inside that transaction
        assert s.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
        raise Boom
    # then no delivery exists, the plan is unchanged, and nothing is ever sent
    assert ix.webhooks.pending() == 0 and ix.plans.get(plan_id).status == "EMBEDDED"
    ix.tasks.webhooks.deliver()
    assert receiver.got() == []

    # when the same change commits, then its event is delivered
    ix.documents.deactivate(ix.plans.get(plan_id).document_id)
    [r] = receiver.wait_for(lambda g: len(g) >= 1)
    assert r.event["type"] == "plan.cancelled" and r.event["plan_id"] == plan_id


def test_a_receiver_that_is_down_then_back_gets_every_event_at_least_once(
    ix: Indexflow, docs_dir: Path
) -> None:
    # given a webhook whose receiver is not listening at all
    receiver = Receiver(free_port())
    ix.webhooks.add(receiver.url(), secret=SECRET)
    # when documents are ingested while it is down
    plans = [
        ingest_one(ix, write_doc(docs_dir / f"doc{i}.txt", BEES + f" Note {i}.", 2))[1] for i in range(3)
    ]
    # then the deliveries wait, the webhook shows the failure and backs off
    deadline = time.monotonic() + 30
    while (w := ix.webhooks.list()[0]).failures < 2:
        assert time.monotonic() < deadline, w
        time.sleep(0.05)
    assert w.pending == 6 and w.delivered == 0 and w.last_error and w.retry_at is not None
    # when it listens again but answers 503 for a while
    receiver.status = 503
    receiver.start()
    try:
        deadline = time.monotonic() + 30
        while len(receiver.got(ok=False)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert "503" in (ix.webhooks.list()[0].last_error or "")
        # and then recovers
        receiver.status = 200
        got = receiver.wait_for(lambda g: len({r.event["id"] for r in g}) >= 6)
        _settled(ix)
    finally:
        receiver.stop()
    # then every event arrived (a plan.embedded and a document.activated per plan), signed
    assert sorted((e["type"], e["plan_id"]) for e in (r.event for r in got)) == sorted(
        (t, p) for p in plans for t in ("plan.embedded", "document.activated")
    )
    assert all(r.signed_by(SECRET) for r in receiver.got())
    # and a refused attempt repeated its event exactly: same id, same body, same signature
    delivered = {r.event["id"]: r for r in got}
    for refused in receiver.got(ok=False):
        again = delivered[refused.event["id"]]
        assert refused.body == again.body
        assert refused.headers["x-indexflow-signature"] == again.headers["x-indexflow-signature"]
        assert refused.headers["x-indexflow-delivery"] == again.headers["x-indexflow-delivery"]
    [w] = ix.webhooks.list()
    assert (w.pending, w.delivered, w.failures, w.last_error) == (0, 6, 0, None)


def test_a_receiver_that_hangs_is_given_up_on_after_the_timeout_and_tried_again(
    ix: Indexflow, receiver: Receiver, docs_dir: Path
) -> None:
    # given a receiver that answers only after 4 s (the attempt timeout is 2 s)
    receiver.hang_seconds = 4.0
    ix.webhooks.add(receiver.url(), events=["plan.embedded"], secret=SECRET)
    _, plan_id = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, 2))
    # then the attempt fails as timed out
    deadline = time.monotonic() + 30
    while "timed out" not in (ix.webhooks.list()[0].last_error or ""):
        assert time.monotonic() < deadline, ix.webhooks.list()
        time.sleep(0.05)
    # and when the receiver answers promptly again, the event arrives
    receiver.hang_seconds = 0.0
    got = receiver.wait_for(lambda g: any(r.event["plan_id"] == plan_id for r in g if r.status == 200))
    assert got[-1].event["type"] == "plan.embedded"


def test_a_sender_that_died_mid_delivery_leaves_the_event_to_be_sent_again_with_the_same_id(
    ix: Indexflow, receiver: Receiver, docs_dir: Path
) -> None:
    # given an event delivered
    hook = ix.webhooks.add(receiver.url(), events=["plan.embedded"], secret=SECRET)
    _, plan_id = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, 2))
    [first] = receiver.wait_for(lambda g: len(g) >= 1)
    _settled(ix)
    # when a sender had claimed it and died between the POST and marking it delivered (the row
    # is put back as such a sender leaves it: undelivered, under a claim that runs out in 0.5 s)
    with transaction(ix.rt.sessions) as s:
        row = s.scalar(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.webhook_id))
        assert row is not None
        row.delivered_at = None
        row.claim_token, row.claim_until = "a-dead-sender", utcnow() + timedelta(seconds=0.5)
    # then nobody sends it while the claim holds
    with transaction(ix.rt.sessions) as s:
        assert webhooks_repo.claim_due(s, utcnow(), lease_seconds=60) == []
    # and once it has run out, the loop sends it again: the same event, the same id and body
    again = receiver.wait_for(lambda g: len(g) >= 2)
    assert again[1].event["id"] == first.event["id"] and again[1].body == first.body
    assert again[1].signed_by(SECRET) and again[1].event["plan_id"] == plan_id


def test_a_removed_webhook_is_sent_nothing_more(ix: Indexflow, docs_dir: Path) -> None:
    # given two webhooks, one whose receiver is down, and one up (the witness)
    down, witness = Receiver(free_port()), Receiver().start()
    try:
        gone = ix.webhooks.add(down.url(), secret=SECRET)
        ix.webhooks.add(witness.url(), secret=SECRET)
        ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, 2))
        witness.wait_for(lambda g: len(g) >= 2)
        assert ix.webhooks.get(gone.webhook_id).pending == 2
        # when the first is removed, then its pending deliveries go with it
        assert ix.webhooks.remove(gone.webhook_id).pending == 2
        assert ix.webhooks.pending() == 0
        # and when its receiver comes back and more happens, it receives nothing
        down.start()
        ingest_one(ix, write_doc(docs_dir / "trains.txt", TRAINS, 2))
        witness.wait_for(lambda g: len(g) >= 4)
        _settled(ix)
        ix.tasks.webhooks.deliver()
        assert down.got() == []
    finally:
        down.stop()
        witness.stop()


def test_dataset_and_event_filters_choose_what_each_webhook_receives(
    ix: Indexflow, receiver: Receiver, docs_dir: Path, fixtures_dir: Path
) -> None:
    # given webhooks: every event, dataset "a" only, activations only, failures in "b" only
    ix.webhooks.add(receiver.url("/all"), secret=SECRET)
    ix.webhooks.add(receiver.url("/a"), dataset="a", secret=SECRET)
    ix.webhooks.add(receiver.url("/activated"), events=["document.activated"], secret=SECRET)
    ix.webhooks.add(receiver.url("/b-failed"), events=["plan.failed"], dataset="b", secret=SECRET)
    # when a document is ingested into "a", another into "b", and a broken one into "a"
    a_doc, _ = ingest_one(ix, write_doc(docs_dir / "a" / "bees.txt", BEES, 2), dataset="a")
    b_doc, _ = ingest_one(ix, write_doc(docs_dir / "b" / "trains.txt", TRAINS, 2), dataset="b")
    (docs_dir / "broken.pdf").write_bytes((fixtures_dir / "truncated.pdf").read_bytes())
    ix.ingest([str(docs_dir / "broken.pdf")], dataset="a", wait=True, timeout=120)
    receiver.wait_for(lambda g: len(g) >= 5, path="/all")
    _settled(ix)
    # then each got exactly what its filters let through
    everything = receiver.got(path="/all")
    assert _types(everything) == ["document.activated"] * 2 + ["plan.embedded"] * 2 + ["plan.failed"]
    only_a = receiver.got(path="/a")
    assert {r.event["dataset"] for r in only_a} == {"a"} and len(only_a) == 3
    activated = receiver.got(path="/activated")
    assert _types(activated) == ["document.activated"] * 2
    assert {r.event["document_id"] for r in activated} == {a_doc, b_doc}
    assert receiver.got(path="/b-failed") == []
    # and one event sent to several webhooks has one id everywhere
    ids = {r.event["id"] for r in receiver.got()}
    assert len(ids) == 5


def test_the_signature_helpers_match_a_plain_hmac() -> None:
    import hashlib
    import hmac

    body = b'{"id":"x","type":"plan.embedded"}'
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body) == expected
    assert verify(SECRET, body, expected) and not verify(SECRET, body + b" ", expected)
    assert not verify(SECRET, body, None) and not verify(SECRET, body, expected[7:])
    assert "plan.embedded" in EVENT_TYPES and "document.activated" in EVENT_TYPES
