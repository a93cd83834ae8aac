"""Index profiles: immutable once used, cloned to change, activated in the background."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from indexflow.errors import ConflictError, InvalidRequest
from tests.lifecycle_support import BEES, TRAINS, ingest_one, points, write_doc
from tests.texts import BEE_QUERY

if TYPE_CHECKING:
    from indexflow.service import Indexflow
    from indexflow.views import PlanView


def _plans_of(ix: Indexflow, profile: str) -> list[PlanView]:
    return [p for p in ix.plans.list() if p.profile == profile]


def test_a_profile_with_plans_is_immutable_and_the_error_says_to_clone_it(ix, docs_dir: Path) -> None:
    # given the default profile, used by one document
    ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES))
    before = next(p for p in ix.profiles.list() if p.name == "default")

    # when its chunking is changed, then that is refused with a message that says to clone it
    with pytest.raises(ConflictError) as exc:
        ix.profiles.update("default", chunk_size=64)
    message = str(exc.value)
    assert "immutable" in message and "clone" in message and "default" in message
    assert next(p for p in ix.profiles.list() if p.name == "default") == before

    # while a profile without plans can still be changed
    ix.profiles.create("draft", chunk_size=128)
    assert ix.profiles.update("draft", chunk_size=96).chunk_size == 96


def test_profiles_with_parameters_that_cannot_work_are_refused_with_a_reason(ix) -> None:
    with pytest.raises(InvalidRequest, match="does not fit the model"):
        ix.profiles.create("too-big", chunk_size=400)
    with pytest.raises(InvalidRequest, match="chunk_overlap"):
        ix.profiles.create("bad-overlap", chunk_size=64, chunk_overlap=64)
    ix.profiles.create("ok", chunk_size=64, chunk_overlap=8)
    with pytest.raises(ConflictError, match="already exists"):
        ix.profiles.clone("default", "ok")
    assert [p.name for p in ix.profiles.list()] == ["default", "ok"]


def test_activating_a_cloned_profile_builds_every_active_document_while_the_old_one_serves(
    ix, docs_dir: Path
) -> None:
    # given two searchable documents and a third that was deactivated, on the default profile
    bees, bees_plan = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=8))
    trains, trains_plan = ingest_one(ix, write_doc(docs_dir / "trains.txt", TRAINS, paragraphs=8))
    gone, _ = ingest_one(ix, write_doc(docs_dir / "gone.txt", BEES + TRAINS, paragraphs=2))
    ix.documents.deactivate(gone)
    default_plans = {bees_plan, trains_plan}
    baseline = [(h.chunk.id, h.plan_id) for h in ix.search(BEE_QUERY, dataset="docs", k=5)]

    # when the default profile is cloned with smaller chunks (the clone is inactive, unused)
    clone = ix.profiles.clone("default", "small", chunk_size=64, chunk_overlap=8)
    assert clone.chunk_size == 64 and not clone.is_active and clone.collection != "indexflow_p1"
    assert _plans_of(ix, "small") == []
    # and activated while another thread keeps searching on the default profile
    seen: list[set[int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_default() -> None:
        try:
            while not stop.is_set():
                seen.append({h.plan_id for h in ix.search(BEE_QUERY, dataset="docs", k=5)})
        except BaseException as exc:  # noqa: BLE001 - collected, surfaced below
            errors.append(exc)

    searcher = threading.Thread(target=search_default)
    searcher.start()
    try:
        out = ix.profiles.activate("small")
        assert out.is_active and out.plans_enqueued == 2
        small = _plans_of(ix, "small")
        assert sorted(p.document_id for p in small) == [bees, trains]  # none for the inactive one
        ix.wait([p.plan_id for p in small], timeout=300)
    finally:
        stop.set()
        searcher.join(timeout=60)

    # then the default profile answered every search meanwhile, from its own plans only
    assert not errors, errors
    assert seen and all(plans and plans <= default_plans for plans in seen)
    assert [(h.chunk.id, h.plan_id) for h in ix.search(BEE_QUERY, dataset="docs", k=5)] == baseline
    # and the clone now serves too, from its own collection, with its smaller chunks
    small = _plans_of(ix, "small")
    assert {p.status for p in small} == {"EMBEDDED"} and all(p.is_active for p in small)
    chunk_counts = [p.chunk_count for p in small if p.chunk_count is not None]
    assert len(chunk_counts) == len(small)
    assert points(ix, profile="small") == sum(chunk_counts)
    hits = ix.search(BEE_QUERY, dataset="docs", k=5, profile="small")
    assert hits and hits[0].document.id == bees
    assert {h.plan_id for h in hits} <= {p.plan_id for p in small}
    assert all(h.chunk.token_count <= 64 for h in hits)


def test_new_documents_get_a_plan_of_each_active_profile_and_none_of_an_inactive_one(
    ix, docs_dir: Path
) -> None:
    # given two active profiles
    ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES))
    ix.profiles.create("small", chunk_size=64, chunk_overlap=8, activate=True)
    ix.wait([p.plan_id for p in _plans_of(ix, "small")], timeout=300)

    # when a document is ingested, then it gets one plan per active profile
    report = ix.ingest([str(write_doc(docs_dir / "trains.txt", TRAINS))], dataset="docs", wait=True)
    assert sorted(p.profile for p in report.documents[0].plans) == ["default", "small"]

    # when "small" is deactivated, new documents get no plan of it, but its index still answers
    assert not ix.profiles.deactivate("small").is_active
    report = ix.ingest([str(write_doc(docs_dir / "more.txt", BEES + TRAINS))], dataset="docs", wait=True)
    assert [p.profile for p in report.documents[0].plans] == ["default"]
    assert ix.search("railway signals", dataset="docs", k=3, profile="small")

    # and the last active profile cannot be deactivated
    with pytest.raises(ConflictError, match="at least one profile"):
        ix.profiles.deactivate("default")
    assert next(p for p in ix.profiles.list() if p.name == "default").is_active


def test_plans_of_an_activated_profile_are_built_even_if_their_messages_are_lost(
    ix, docs_dir: Path, monkeypatch
) -> None:
    # given a document, and a process that dies right after activating a profile (no message sent)
    doc_id, _ = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES))
    ix.profiles.create("small", chunk_size=64, chunk_overlap=8)
    with monkeypatch.context() as m:
        m.setattr(ix.tasks.outbox, "send", lambda unit_ids: 0)
        ix.profiles.activate("small")
    [plan] = _plans_of(ix, "small")
    assert plan.status == "PENDING"

    # when the relay runs (the sweeper's next tick), it sends what was committed but never sent
    assert ix.tasks.sweep_once().ran

    # then the plan gets built and serves
    ix.wait([plan.plan_id], timeout=300)
    assert ix.plans.get(plan.plan_id).status == "EMBEDDED"
    assert ix.search(BEE_QUERY, dataset="docs", k=1, profile="small")[0].document.id == doc_id


def test_search_on_a_profile_that_does_not_exist_is_a_clear_error(ix, docs_dir: Path) -> None:
    from indexflow.errors import NotFound

    ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES))
    with pytest.raises(NotFound, match="nope"):
        ix.search("bees", dataset="docs", profile="nope")
    started = time.monotonic()
    assert ix.search("bees", dataset="docs", k=1, profile="default")
    assert time.monotonic() - started < 30
