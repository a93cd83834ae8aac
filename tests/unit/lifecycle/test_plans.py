"""Plans: rerun (with or without embedding) and activation (one transaction, one active plan)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from indexflow.db.models import ChunkPlan
from indexflow.errors import ConflictError, NotFound
from tests.lifecycle_support import BEES, TRAINS, chunk_rows, ingest_one, point_ids, points, write_doc

if TYPE_CHECKING:
    from indexflow.service import Indexflow
    from indexflow.views import PlanView


def _wait_status(ix: Indexflow, plan_id: int, status: str, timeout: float = 120) -> PlanView:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = ix.plans.get(plan_id)
        if view.status == status:
            return view
        time.sleep(0.1)
    raise AssertionError(f"plan {plan_id} never reached {status}: {ix.plans.get(plan_id)}")


def _active_plans(ix: Indexflow, document_id: int) -> list[int]:
    with ix.rt.sessions() as s:
        return list(
            s.scalars(select(ChunkPlan.id).where(ChunkPlan.document_id == document_id, ChunkPlan.is_active))
        )


def test_rerun_rebuilds_a_plan_under_a_new_generation_with_new_points(
    ix, docs_dir: Path, encoder_calls: list[int]
) -> None:
    # given an embedded plan
    doc_id, plan_id = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=3))
    before = ix.plans.get(plan_id)
    ids_before = point_ids(ix)
    texts_before = [c.text for c in chunk_rows(ix, plan_id)]
    encoder_calls.clear()

    # when it is rerun with embedding
    view = ix.plans.rerun(plan_id, embed=True)
    assert view.generation == before.generation + 1 and view.status == "PENDING"
    ix.wait([plan_id], timeout=300)

    # then it was re-embedded, is active again, and the old generation's points were replaced by
    # as many new ones (new ids: a late batch of the old generation cannot touch them)
    after = ix.plans.get(plan_id)
    assert after.status == "EMBEDDED" and after.is_active
    assert after.chunk_count == after.embedded_count == before.chunk_count
    assert sum(encoder_calls) == before.chunk_count
    # (the swapped-out generation's points are deleted just after the swap commits: search never
    # shows them, the database decides, but the store may hold them a moment longer)
    deadline = time.monotonic() + 30
    ids_after = point_ids(ix)
    while set(ids_after) & set(ids_before) and time.monotonic() < deadline:
        time.sleep(0.1)
        ids_after = point_ids(ix)
    assert len(ids_after) == len(ids_before) and not set(ids_after) & set(ids_before)
    assert [c.text for c in chunk_rows(ix, plan_id)] == texts_before
    assert _active_plans(ix, doc_id) == [plan_id]
    hits = ix.search("waggle dance of honey bees", dataset="docs", k=3)
    assert hits and {h.plan_id for h in hits} == {plan_id}


def test_rerun_without_embedding_stops_at_ready_while_the_old_generation_keeps_serving(
    ix, docs_dir: Path, encoder_calls: list[int]
) -> None:
    # given an embedded plan
    doc_id, plan_id = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=3))
    chunk_count = ix.plans.get(plan_id).chunk_count
    encoder_calls.clear()

    # when it is rerun without requeueing the embedding
    ix.plans.rerun(plan_id, embed=False)

    # then it is bundled and chunked again but stops at READY: nothing new embedded, while the
    # generation it had keeps serving (its points stay, search still finds the document)
    view = _wait_status(ix, plan_id, "READY")
    ix.tasks.join()
    assert view.chunk_count == chunk_count and view.embedded_count == 0
    assert encoder_calls == []
    assert points(ix, [plan_id]) == chunk_count
    assert ix.plans.get(plan_id).status == "READY" and ix.plans.get(plan_id).is_active
    hits = ix.search("waggle dance of honey bees", dataset="docs", k=3, document_ids=[doc_id])
    assert hits and {h.plan_id for h in hits} == {plan_id}


def test_activate_refuses_a_plan_that_is_not_embedded_and_changes_nothing(ix, docs_dir: Path) -> None:
    # given v1 replaced by v2: v1's plan is retired (READY, no vectors), v2's serves
    path = write_doc(docs_dir / "handbook.txt", BEES, paragraphs=2)
    doc_id, v1_plan = ingest_one(ix, path)
    write_doc(path, TRAINS, paragraphs=2)
    _, v2_plan = ingest_one(ix, path)
    assert ix.plans.get(v1_plan).status == "READY"

    # when v1's plan is activated without force
    with pytest.raises(ConflictError, match="not EMBEDDED") as exc:
        ix.plans.activate(v1_plan)

    # then the error says how to force it, and nothing changed: v2 still alone serves
    assert "force" in str(exc.value)
    assert _active_plans(ix, doc_id) == [v2_plan]
    assert ix.documents.get(doc_id).current_version_id == ix.plans.get(v2_plan).version_id
    assert points(ix, [v2_plan]) == ix.plans.get(v2_plan).chunk_count
    hits = ix.search("railway signals", dataset="docs", k=3, document_ids=[doc_id])
    assert hits and {h.plan_id for h in hits} == {v2_plan}
    with pytest.raises(NotFound):
        ix.plans.activate(999_999)


def test_forced_activation_swaps_in_one_transaction_and_rebuilds_the_plan(ix, docs_dir: Path) -> None:
    # given v1 replaced by v2
    path = write_doc(docs_dir / "handbook.txt", BEES, paragraphs=2)
    doc_id, v1_plan = ingest_one(ix, path)
    write_doc(path, TRAINS, paragraphs=2)
    _, v2_plan = ingest_one(ix, path)

    # when v1's plan is activated with force
    view = ix.plans.activate(v1_plan, force=True)

    # then at once v1's plan is the one active plan and v2's is retired with its vectors gone
    assert view.is_active
    assert _active_plans(ix, doc_id) == [v1_plan]
    assert not ix.plans.get(v2_plan).is_active and points(ix, [v2_plan]) == 0
    assert ix.documents.get(doc_id).current_version_id == ix.plans.get(v1_plan).version_id
    # and once v1 is re-embedded, search serves v1 only
    ix.wait([v1_plan], timeout=300)
    assert ix.plans.get(v1_plan).status == "EMBEDDED" and ix.plans.get(v1_plan).is_active
    hits = ix.search("bees or trains", dataset="docs", k=5, document_ids=[doc_id])
    assert hits and {h.plan_id for h in hits} == {v1_plan}


def test_the_database_allows_only_one_active_plan_per_document_and_profile(ix, docs_dir: Path) -> None:
    # given a document with two plans of the same profile (v1 retired, v2 active)
    path = write_doc(docs_dir / "handbook.txt", BEES, paragraphs=1)
    doc_id, v1_plan = ingest_one(ix, path)
    write_doc(path, TRAINS, paragraphs=1)
    _, v2_plan = ingest_one(ix, path)
    # when something tries to mark the retired one active as well, then the database refuses
    with pytest.raises(IntegrityError), ix.rt.sessions() as s, s.begin():
        s.execute(update(ChunkPlan).where(ChunkPlan.id == v1_plan).values(is_active=True))
    assert _active_plans(ix, doc_id) == [v2_plan]


def test_rerunning_an_active_plan_keeps_its_document_in_search_until_the_new_generation_swaps_in(
    ix, docs_dir: Path, monkeypatch
) -> None:
    import threading

    from indexflow.errors import EncoderError

    # given an embedded, serving plan
    doc_id, plan_id = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=3))
    query = "waggle dance of honey bees"
    assert ix.search(query, dataset="docs", k=1)[0].document.id == doc_id

    # when it is rerun and its rebuild fails (an encoder that refuses every batch)
    real = ix.rt.encoder

    class Refusing:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def encode(self, texts):
            if threading.current_thread() is threading.main_thread():
                return self.inner.encode(texts)  # the search's query
            raise EncoderError("model refused the batch (test)")

    monkeypatch.setattr(ix.rt, "encoder", lambda profile: Refusing(real(profile)))
    ix.plans.rerun(plan_id)
    ix.wait([plan_id], timeout=300)

    # then the plan says FAILED with the reason, yet the document is still found (old generation)
    failed = ix.plans.get(plan_id)
    assert failed.status == "FAILED" and "refused the batch" in failed.last_error
    hits = ix.search(query, dataset="docs", k=3)
    assert hits and {h.document.id for h in hits} == {doc_id}

    # when it is rerun again with a working encoder, while another thread keeps searching
    monkeypatch.setattr(ix.rt, "encoder", real)
    seen: list[bool] = []
    stop = threading.Event()

    def searcher() -> None:
        while not stop.is_set():
            seen.append(any(h.document.id == doc_id for h in ix.search(query, dataset="docs", k=3)))

    t = threading.Thread(target=searcher)
    t.start()
    try:
        ix.plans.rerun(plan_id)
        ix.wait([plan_id], timeout=300)
    finally:
        stop.set()
        t.join(timeout=60)

    # then every search during the rebuild found it, and the new generation serves alone
    assert seen and all(seen)
    after = ix.plans.get(plan_id)
    assert after.status == "EMBEDDED" and after.is_active and after.generation == failed.generation + 1
    assert points(ix, [plan_id]) == after.chunk_count == len(chunk_rows(ix, plan_id))
