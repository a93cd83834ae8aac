"""API keys (``ix.keys``) and the facade's ``datasets=`` scope: what an HTTP API key is checked by."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update

from indexflow.db.models import ApiKey, Chunk, ChunkPlan, as_utc, utcnow
from indexflow.errors import ConflictError, InvalidRequest, NotFound
from tests.lifecycle_support import BEES, TRAINS, ingest_one, write_doc

if TYPE_CHECKING:
    from indexflow.service import Indexflow


def _row(ix: Indexflow, name: str) -> ApiKey:
    with ix.rt.sessions() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.name == name))
        assert row is not None
        return row


def test_a_created_key_shows_its_secret_once_and_only_its_hash_is_stored(ix: Indexflow) -> None:
    # given no key
    assert ix.keys.any_active() is False
    # when one is created
    created = ix.keys.create("ci", datasets=["docs", "docs", "wiki"], role="write")
    # then its secret is ixk_ + 43 URL-safe characters, shown in the creation view only
    assert created.secret.startswith("ixk_") and len(created.secret) == 4 + 43
    assert created.datasets == ["docs", "wiki"] and created.role == "write" and created.active
    assert created.prefix == created.secret[:12]
    listed = ix.keys.list()
    assert [k.name for k in listed] == ["ci"]
    assert "secret" not in listed[0].to_dict() and "key_hash" not in listed[0].to_dict()
    assert created.secret not in repr(listed)
    # and the database holds its sha256, never the secret
    row = _row(ix, "ci")
    assert row.key_hash == hashlib.sha256(created.secret.encode()).hexdigest()
    with ix.rt.sessions() as s:
        columns = s.execute(select(ApiKey.__table__)).one()
    assert all(created.secret not in str(v) for v in columns)
    assert ix.keys.any_active() is True


def test_authenticate_accepts_the_secret_and_refuses_unknown_altered_and_revoked_ones(ix: Indexflow) -> None:
    # given a read key on one dataset and an admin key on all
    reader = ix.keys.create("reader", datasets=["docs"])
    admin = ix.keys.create("boss", role="admin")
    # when they authenticate, each gets its principal
    who = ix.keys.authenticate(reader.secret)
    assert who is not None and (who.name, who.role, who.datasets) == ("reader", "read", ["docs"])
    assert who.scope == frozenset({"docs"}) and who.allows("read") and not who.allows("write")
    boss = ix.keys.authenticate(admin.secret)
    assert boss is not None and boss.scope is None and boss.allows("admin") and boss.sees("anything")
    # then anything else is refused: unknown, one character changed, not ours, empty
    altered = reader.secret[:-1] + ("A" if reader.secret[-1] != "A" else "B")
    for bad in ("ixk_" + "x" * 43, altered, "hunter2", "", "ixk_" + "x" * 500):
        assert ix.keys.authenticate(bad) is None, bad
    # and a revoked key is refused from then on (revoking twice keeps the first time)
    revoked = ix.keys.revoke("reader")
    assert revoked.revoked_at is not None and not revoked.active
    assert ix.keys.revoke("reader").revoked_at == revoked.revoked_at
    assert ix.keys.authenticate(reader.secret) is None
    assert ix.keys.any_active() is True  # the admin key still is
    ix.keys.revoke("boss")
    assert ix.keys.any_active() is False


def test_last_used_is_written_at_most_once_a_minute(ix: Indexflow) -> None:
    # given a key never used
    key = ix.keys.create("poller")
    assert _row(ix, "poller").last_used_at is None
    # when it authenticates twice in a row, the first use is recorded and the second is not
    ix.keys.authenticate(key.secret)
    first = _row(ix, "poller").last_used_at
    assert first is not None
    ix.keys.authenticate(key.secret)
    assert _row(ix, "poller").last_used_at == first
    # then a use more than a minute after the recorded one is recorded again
    with ix.rt.sessions.begin() as s:
        s.execute(update(ApiKey).values(last_used_at=utcnow() - timedelta(minutes=2)))
    ix.keys.authenticate(key.secret)
    later = _row(ix, "poller").last_used_at
    assert later is not None and as_utc(later) > utcnow() - timedelta(minutes=1)
    assert ix.keys.list()[0].last_used_at is not None


@pytest.mark.parametrize(
    ("name", "kwargs", "words"),
    [
        ("has space", {}, "key name"),
        ("", {}, "key name"),
        ("ok", {"role": "root"}, "role 'root'"),
        ("ok", {"datasets": []}, "one or more dataset"),
        ("ok", {"datasets": [" "]}, "one or more dataset"),
        ("ok", {"datasets": ["docs"], "role": "admin"}, "admin key covers every dataset"),
    ],
)
def test_a_malformed_key_request_is_refused_with_a_reason(ix: Indexflow, name, kwargs, words) -> None:
    with pytest.raises(InvalidRequest, match=words):
        ix.keys.create(name, **kwargs)
    assert ix.keys.list() == []


def test_names_are_unique_even_after_revocation_and_unknown_names_are_not_found(ix: Indexflow) -> None:
    ix.keys.create("ci")
    with pytest.raises(ConflictError, match="already exists"):
        ix.keys.create("ci", role="write")
    ix.keys.revoke("ci")
    with pytest.raises(ConflictError):
        ix.keys.create("ci")
    with pytest.raises(NotFound, match="'nope'"):
        ix.keys.revoke("nope")
    # a single dataset given as a string means that dataset, not its letters
    assert ix.keys.create("one", datasets="docs").datasets == ["docs"]


def test_outside_its_datasets_a_scope_finds_nothing_exactly_like_a_missing_id(
    ix: Indexflow, docs_dir: Path
) -> None:
    # given a document in dataset "a" and one in "b"
    doc_a, plan_a = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=2), dataset="a")
    doc_b, plan_b = ingest_one(ix, write_doc(docs_dir / "trains.txt", TRAINS, paragraphs=2), dataset="b")
    with ix.rt.sessions() as s:
        chunk_b = s.scalar(select(Chunk.id).where(Chunk.plan_id == plan_b).limit(1))
        chunk_a = s.scalar(select(Chunk.id).where(Chunk.plan_id == plan_a).limit(1))
    assert chunk_a is not None and chunk_b is not None
    only_a = {"a"}

    def message(call) -> str:
        with pytest.raises(NotFound) as exc:
            call()
        return str(exc.value)

    # when b's objects are asked for within a's scope, then they are missing, worded like missing ids
    assert message(lambda: ix.documents.get(doc_b, datasets=only_a)) == message(
        lambda: ix.documents.get(999_999)
    ).replace("999999", str(doc_b))
    assert message(lambda: ix.plans.get(plan_b, datasets=only_a)) == f"plan {plan_b} does not exist"
    assert message(lambda: ix.chunks.list(plan_b, datasets=only_a)) == f"plan {plan_b} does not exist"
    assert message(lambda: ix.chunks.disable(chunk_b, datasets=only_a)) == f"chunk {chunk_b} does not exist"
    assert message(lambda: ix.plans.rerun(plan_b, datasets=only_a)) == f"plan {plan_b} does not exist"
    assert message(lambda: ix.plans.activate(plan_b, datasets=only_a)) == f"plan {plan_b} does not exist"
    assert (
        message(lambda: ix.documents.deactivate(doc_b, datasets=only_a)) == f"document {doc_b} does not exist"
    )
    assert message(lambda: ix.documents.delete(doc_b, datasets=only_a)) == f"document {doc_b} does not exist"
    assert message(lambda: ix.documents.list(dataset="b", datasets=only_a)) == "dataset 'b' does not exist"
    assert message(lambda: ix.plans.list(dataset="b", datasets=only_a)) == "dataset 'b' does not exist"
    # and nothing of b changed
    b = ix.documents.get(doc_b)
    assert b.is_active and [p.status for p in b.plans] == ["EMBEDDED"]
    assert all(c.enabled for c in ix.chunks.list(plan_b))

    # while a's objects are found within a's scope, and listings show a's only
    assert ix.documents.get(doc_a, datasets=only_a).dataset == "a"
    assert ix.plans.get(plan_a, datasets=only_a).plan_id == plan_a
    assert ix.chunks.disable(chunk_a, datasets=only_a).enabled is False
    assert ix.chunks.enable(chunk_a, datasets=only_a).enabled is True
    assert [d.document_id for d in ix.documents.list(datasets=only_a)] == [doc_a]
    assert [p.plan_id for p in ix.plans.list(datasets=only_a)] == [plan_a]
    assert {d.document_id for d in ix.documents.list()} == {doc_a, doc_b}

    # and the event feed shows a's plans only, even when asked for b's document or dataset
    epoch = (utcnow() - timedelta(days=1), 0)
    assert [p.plan_id for p in ix.plans.changed_after(epoch, datasets=only_a).plans] == [plan_a]
    assert ix.plans.changed_after(epoch, document_id=doc_b, datasets=only_a).plans == []
    assert ix.plans.changed_after(epoch, dataset="b", datasets=only_a).plans == []
    assert {p.plan_id for p in ix.plans.changed_after(epoch).plans} == {plan_a, plan_b}
    with ix.rt.sessions() as s:
        assert s.scalar(select(ChunkPlan.is_active).where(ChunkPlan.id == plan_b)) is True


def test_the_api_stays_keyed_when_every_key_is_revoked_until_every_key_is_deleted(ix: Indexflow) -> None:
    # given no key: nothing is enforced
    assert ix.keys.enforced() is False
    # when a key is created and then revoked, then keys stay enforced (a revocation never opens up)
    first = ix.keys.create("first", role="admin")
    assert ix.keys.enforced() and ix.keys.any_active()
    ix.keys.revoke("first")
    assert ix.keys.enforced() and not ix.keys.any_active()
    # and only deleting it lifts them; its name is free again, its secret stays refused
    assert ix.keys.delete("first").name == "first"
    assert ix.keys.enforced() is False and ix.keys.list() == []
    with pytest.raises(NotFound):
        ix.keys.delete("first")
    again = ix.keys.create("first")
    assert ix.keys.authenticate(first.secret) is None
    assert ix.keys.authenticate(again.secret) is not None
