"""Documents and chunks: deactivate, delete, disable/enable one chunk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from indexflow.db.models import Bundle, Chunk, ChunkPlan, Component, DocumentVersion
from indexflow.errors import NotFound
from indexflow.settings import Settings
from tests.lifecycle_support import BEES, TRAINS, chunk_rows, ingest_one, points, write_doc
from tests.texts import BEE_QUERY

if TYPE_CHECKING:
    from indexflow.service import Indexflow


def _two_documents(ix: Indexflow, docs_dir: Path) -> tuple[int, int, int, int]:
    # eight paragraphs of bees: several chunks, so one can be disabled while the others answer
    bees, bees_plan = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=8))
    chunk_count = ix.plans.get(bees_plan).chunk_count
    assert chunk_count is not None and chunk_count >= 2
    trains, trains_plan = ingest_one(ix, write_doc(docs_dir / "trains.txt", TRAINS, paragraphs=3))
    return bees, bees_plan, trains, trains_plan


def test_deactivated_document_is_gone_from_search_when_the_call_returns(ix, docs_dir: Path) -> None:
    # given two documents, the bee one the best hit for a bee question
    bees, bees_plan, trains, trains_plan = _two_documents(ix, docs_dir)
    assert ix.search(BEE_QUERY, dataset="docs", k=1)[0].document.id == bees

    # when the bee document is deactivated (default: drop vectors, mark plans failed)
    out = ix.documents.deactivate(bees)

    # then no search returns it, its vectors are gone, and the other document is untouched
    assert out.plans == [bees_plan]
    hits = ix.search(BEE_QUERY, dataset="docs", k=10)
    assert hits and {h.document.id for h in hits} == {trains}
    assert ix.search(BEE_QUERY, dataset="docs", k=10, document_ids=[bees]) == []
    assert points(ix, [bees_plan]) == 0
    assert points(ix, [trains_plan]) == ix.plans.get(trains_plan).chunk_count
    doc = ix.documents.get(bees)
    assert not doc.is_active and doc.deactivated_at
    [plan] = doc.plans
    assert (plan.status, plan.last_error) == ("FAILED", "document deactivated")
    assert not plan.is_active
    assert {d.document_id: d.status for d in ix.documents.list(dataset="docs")}[bees] == "INACTIVE"


def test_deactivate_keeping_vectors_still_hides_the_document_and_reingest_brings_it_back(
    ix, docs_dir: Path
) -> None:
    # given two documents
    bees, bees_plan, _trains, _ = _two_documents(ix, docs_dir)
    chunk_count = ix.plans.get(bees_plan).chunk_count

    # when the bee document is deactivated but its vectors kept and its plan not failed
    ix.documents.deactivate(bees, drop_vectors=False, mark_failed=False)

    # then its points are still in the store yet search (which asks the database) hides them
    assert points(ix, [bees_plan]) == chunk_count
    assert ix.search(BEE_QUERY, dataset="docs", k=10, document_ids=[bees]) == []
    assert bees not in {h.document.id for h in ix.search(BEE_QUERY, dataset="docs", k=10)}

    # and ingesting the unchanged file again makes it searchable again
    report = ix.ingest([str(docs_dir / "bees.txt")], dataset="docs", wait=True, timeout=300)
    assert report.documents[0].status == "EMBEDDED" and report.documents[0].document_id == bees
    assert ix.documents.get(bees).is_active
    assert ix.search(BEE_QUERY, dataset="docs", k=1)[0].document.id == bees


def test_deactivating_a_document_while_it_embeds_leaves_no_vectors_behind(
    make_ix, tmp_path: Path, docs_dir: Path
) -> None:
    # given a long document being embedded in small batches
    settings = Settings(home=tmp_path / "state", lease_seconds=60, embed_batch_size=2)
    with make_ix(settings) as ix:
        report = ix.ingest(
            [str(write_doc(docs_dir / "trains.txt", TRAINS, paragraphs=40))], dataset="docs", wait=False
        )
        [plan_id] = [p.plan_id for p in report.documents[0].plans]
        document_id = report.documents[0].document_id

        # when it is deactivated mid-way and the in-flight work drains
        ix.documents.deactivate(document_id)
        ix.tasks.join()

        # then late batches undid their writes: no point of the plan is left, nothing is found
        assert ix.plans.get(plan_id).status == "FAILED"
        assert points(ix, [plan_id]) == 0
        assert ix.search("steam locomotive", dataset="docs", k=5) == []


def test_delete_removes_the_document_its_rows_and_its_points(ix, docs_dir: Path) -> None:
    # given two documents
    bees, bees_plan, _trains, trains_plan = _two_documents(ix, docs_dir)
    with ix.rt.sessions() as s:
        version_ids = list(s.scalars(select(DocumentVersion.id).where(DocumentVersion.document_id == bees)))

    # when the bee document is deleted
    out = ix.documents.delete(bees)

    # then it, its versions, components, plans, bundles, chunks and points are gone
    assert out.document_id == bees and out.plans == [bees_plan]
    with pytest.raises(NotFound):
        ix.documents.get(bees)
    with ix.rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ChunkPlan).where(ChunkPlan.id == bees_plan)) == 0
        assert s.scalar(select(func.count()).select_from(Chunk).where(Chunk.plan_id == bees_plan)) == 0
        assert s.scalar(select(func.count()).select_from(Bundle).where(Bundle.plan_id == bees_plan)) == 0
        assert (
            s.scalar(select(func.count()).select_from(Component).where(Component.version_id.in_(version_ids)))
            == 0
        )
    assert points(ix, [bees_plan]) == 0
    assert bees not in {h.document.id for h in ix.search(BEE_QUERY, dataset="docs", k=10)}
    # the other document is untouched
    assert points(ix, [trains_plan]) == ix.plans.get(trains_plan).chunk_count > 0
    with pytest.raises(NotFound):
        ix.documents.delete(bees)


def test_a_disabled_chunk_leaves_search_and_comes_back_when_enabled_without_re_embedding(
    ix, docs_dir: Path, encoder_calls: list[int]
) -> None:
    # given a document whose best chunk for a query is known
    bees, bees_plan, _, _ = _two_documents(ix, docs_dir)
    top = ix.search(BEE_QUERY, dataset="docs", k=3)
    chunk_id, score = top[0].chunk.id, top[0].score
    rows_before = {c.id: (c.status, c.embedded_at, c.point_id) for c in chunk_rows(ix, bees_plan)}
    points_before = points(ix)
    calls_before = len(encoder_calls)

    # when that chunk is disabled
    assert ix.chunks.set_enabled(chunk_id, False).to_dict() == {"chunk_id": chunk_id, "enabled": False}

    # then no search returns it, while the document's other chunks still answer
    assert len(encoder_calls) == calls_before  # disabling embeds nothing
    hits = ix.search(BEE_QUERY, dataset="docs", k=20)
    assert chunk_id not in {h.chunk.id for h in hits}
    assert bees in {h.document.id for h in hits}
    assert [c.enabled for c in ix.chunks.list(bees_plan) if c.chunk_id == chunk_id] == [False]

    # when it is enabled again, then it is the top hit again with the same score, not re-embedded
    calls_before = len(encoder_calls)
    ix.chunks.set_enabled(chunk_id, True)
    assert len(encoder_calls) == calls_before
    again = ix.search(BEE_QUERY, dataset="docs", k=3)
    assert again[0].chunk.id == chunk_id and again[0].score == pytest.approx(score, abs=1e-6)
    assert {c.id: (c.status, c.embedded_at, c.point_id) for c in chunk_rows(ix, bees_plan)} == rows_before
    assert points(ix) == points_before
    with pytest.raises(NotFound):
        ix.chunks.set_enabled(999_999, False)


def test_changing_one_document_leaves_the_others_plans_and_points_alone(ix, docs_dir: Path) -> None:
    # given two documents
    bees, _bees_plan, trains, trains_plan = _two_documents(ix, docs_dir)
    trains_points = points(ix, [trains_plan])
    # when the bee document changes
    write_doc(docs_dir / "bees.txt", TRAINS + BEES, paragraphs=2)
    report = ix.ingest([str(docs_dir)], dataset="docs", wait=True, timeout=300)
    # then only it got a new plan; the train document is an unchanged lookup
    outcomes = {d.document_id: d.outcome for d in report.documents}
    assert outcomes == {bees: "changed", trains: "unchanged"}
    assert points(ix, [trains_plan]) == trains_points
    assert ix.plans.get(trains_plan).is_active


def test_a_status_filter_that_is_no_status_is_an_invalid_request(ix: Indexflow, docs_dir: Path) -> None:
    # given one embedded document
    doc_id, plan_id = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES))
    # when listings are filtered by a real status (any case), then they answer
    assert [d.document_id for d in ix.documents.list(status="embedded")] == [doc_id]
    assert [p.plan_id for p in ix.plans.list(status="EMBEDDED")] == [plan_id]
    assert ix.documents.list(status="inactive") == []
    # and by something that is no status, then the error names the statuses there are
    from indexflow.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match=r"BOGUS.*EMBEDDED"):
        ix.documents.list(status="BOGUS")
    with pytest.raises(InvalidRequest, match="not one of"):
        ix.plans.list(status="bogus")
