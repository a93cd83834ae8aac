"""Purge (dry-run lists exactly what goes) and reconcile (store vs database)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from indexflow.errors import InvalidRequest, NotFound
from indexflow.stores.base import VectorPoint
from tests.lifecycle_support import (
    BEES,
    TRAINS,
    chunk_rows,
    collection,
    ingest_one,
    point_ids,
    points,
    row_counts,
    write_doc,
)
from tests.texts import BEE_QUERY

if TYPE_CHECKING:
    from indexflow.service import Indexflow


def _corpus(ix: Indexflow, docs_dir: Path) -> dict[str, int]:
    """bees (two versions: a retired plan and an active one), trains, and one doc in dataset "other"."""
    path = write_doc(docs_dir / "bees.txt", TRAINS, paragraphs=2)
    bees, bees_v1 = ingest_one(ix, path)
    write_doc(path, BEES, paragraphs=6)
    _, bees_v2 = ingest_one(ix, path)
    trains, trains_plan = ingest_one(ix, write_doc(docs_dir / "trains.txt", TRAINS, paragraphs=4))
    other, other_plan = ingest_one(ix, write_doc(docs_dir / "x" / "other.txt", BEES), dataset="other")
    return {
        "bees": bees,
        "bees_v1": bees_v1,
        "bees_v2": bees_v2,
        "trains": trains,
        "trains_plan": trains_plan,
        "other": other,
        "other_plan": other_plan,
    }


def test_purge_dry_run_lists_exactly_what_the_real_purge_removes_and_changes_nothing(
    ix, docs_dir: Path
) -> None:
    # given a document with two plans (one retired, one serving) among others
    c = _corpus(ix, docs_dir)
    bee_chunks = len(chunk_rows(ix, c["bees_v1"])) + len(chunk_rows(ix, c["bees_v2"]))
    bee_points = points(ix, [c["bees_v1"], c["bees_v2"]])
    assert bee_points == ix.plans.get(c["bees_v2"]).chunk_count > 0  # the retired plan has none
    rows, ids = row_counts(ix), point_ids(ix)

    # when a purge of it is dry-run
    dry = ix.maintenance.purge(document_id=c["bees"], dry_run=True)

    # then it lists both plans, all their chunks and the points, and changes nothing at all
    assert dry.dry_run and dry.documents == [c["bees"]]
    assert dry.plans == [c["bees_v1"], c["bees_v2"]]
    assert (dry.chunks, dry.points) == (bee_chunks, bee_points)
    assert row_counts(ix) == rows and point_ids(ix) == ids
    assert ix.documents.get(c["bees"]).is_active
    assert ix.search(BEE_QUERY, dataset="docs", k=1)[0].document.id == c["bees"]

    # when it is purged for real, then exactly what the dry run listed is gone
    real = ix.maintenance.purge(document_id=c["bees"])
    assert real.to_dict() == dry.to_dict() | {"dry_run": False}
    after = row_counts(ix)
    assert after["plans"] == rows["plans"] - 2 and after["chunks"] == rows["chunks"] - bee_chunks
    assert len(point_ids(ix)) == len(ids) - bee_points
    with pytest.raises(NotFound):
        ix.documents.get(c["bees"])
    assert c["bees"] not in {h.document.id for h in ix.search(BEE_QUERY, dataset="docs", k=10)}
    # and the rest is untouched
    assert points(ix, [c["trains_plan"]]) == ix.plans.get(c["trains_plan"]).chunk_count
    assert ix.search(BEE_QUERY, dataset="other", k=1)[0].document.id == c["other"]


def test_purge_preserving_vectors_leaves_the_points_which_reconcile_then_reports_as_orphans(
    ix, docs_dir: Path
) -> None:
    # given two documents
    c = _corpus(ix, docs_dir)
    trains_points = {ch.point_id for ch in chunk_rows(ix, c["trains_plan"])}

    # when one is purged with --preserve-vectors
    report = ix.maintenance.purge(document_id=c["trains"], preserve_vectors=True)

    # then its rows are gone but every one of its points is still in the store, invisible to search
    assert report.preserve_vectors and report.points == len(trains_points) > 0
    with pytest.raises(NotFound):
        ix.documents.get(c["trains"])
    assert trains_points <= point_ids(ix)
    assert c["trains"] not in {h.document.id for h in ix.search("railway", dataset="docs", k=10)}
    # and reconcile names exactly those points as orphans; --fix removes them
    found = ix.maintenance.reconcile()
    assert {k: set(v) for k, v in found.orphan_points.items()} == {collection(ix): trains_points}
    assert found.plans_missing_points == []
    assert trains_points <= point_ids(ix)  # reporting changes nothing
    fixed = ix.maintenance.reconcile(fix=True)
    assert fixed.fixed and fixed.to_dict()["orphan_count"] == len(trains_points)
    assert not trains_points & point_ids(ix)
    assert ix.maintenance.reconcile().to_dict()["orphan_count"] == 0


def test_purge_a_dataset_removes_its_documents_and_nothing_else(ix, docs_dir: Path) -> None:
    c = _corpus(ix, docs_dir)
    before = len(point_ids(ix))
    dry = ix.maintenance.purge(dataset="other", dry_run=True)
    assert (dry.datasets, dry.documents, dry.plans) == (["other"], [c["other"]], [c["other_plan"]])
    assert len(point_ids(ix)) == before

    report = ix.maintenance.purge(dataset="other")

    assert report.points == dry.points > 0
    assert len(point_ids(ix)) == before - report.points
    with pytest.raises(NotFound):
        ix.documents.list(dataset="other")
    assert ix.search(BEE_QUERY, dataset="other", k=3) == []
    assert {d.document_id for d in ix.documents.list(dataset="docs")} == {c["bees"], c["trains"]}
    assert ix.search(BEE_QUERY, dataset="docs", k=1)[0].document.id == c["bees"]


def test_purge_a_profile_drops_its_plans_and_collection_and_the_default_keeps_serving(
    ix, docs_dir: Path
) -> None:
    # given a second profile built over two documents
    bees, _ = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=4))
    ingest_one(ix, write_doc(docs_dir / "trains.txt", TRAINS, paragraphs=4))
    out = ix.profiles.create("small", chunk_size=64, chunk_overlap=8, activate=True)
    ix.wait(out.plan_ids, timeout=300)
    small_points = points(ix, profile="small")
    small_collection = collection(ix, "small")

    # when it is purged (dry run first)
    dry = ix.maintenance.purge(profile="small", dry_run=True)
    assert dry.plans == sorted(out.plan_ids) and dry.points == small_points > 0
    assert points(ix, profile="small") == small_points
    ix.maintenance.purge(profile="small")

    # then the profile and its vectors are gone and the default profile still answers
    assert [p.name for p in ix.profiles.list()] == ["default"]
    assert ix.rt.store.count(small_collection) == 0
    assert ix.search(BEE_QUERY, dataset="docs", k=1)[0].document.id == bees


def test_a_profile_created_after_a_purged_one_builds_in_the_same_process(ix, docs_dir: Path) -> None:
    # given a profile that was built and then purged (its collection dropped)
    bees, _ = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=4))
    first = ix.profiles.create("small", chunk_size=64, chunk_overlap=8, activate=True)
    ix.wait(first.plan_ids, timeout=300)
    ix.maintenance.purge(profile="small")

    # when a new profile is created and activated by the same process
    again = ix.profiles.create("small-again", chunk_size=64, chunk_overlap=8, activate=True)
    ix.wait(again.plan_ids, timeout=300)

    # then it is built and serves (it does not write into the dropped collection)
    [plan] = [ix.plans.get(p) for p in again.plan_ids]
    assert plan.status == "EMBEDDED", plan.last_error
    assert ix.search(BEE_QUERY, dataset="docs", k=1, profile="small-again")[0].document.id == bees


def test_purge_needs_exactly_one_target(ix) -> None:
    with pytest.raises(InvalidRequest, match="exactly one"):
        ix.maintenance.purge()
    with pytest.raises(InvalidRequest, match="exactly one"):
        ix.maintenance.purge(document_id=1, dataset="docs")
    with pytest.raises(NotFound):
        ix.maintenance.purge(document_id=12345, dry_run=True)


def test_reconcile_finds_a_planted_orphan_point_and_fix_removes_only_it(ix, docs_dir: Path) -> None:
    # given an index that is consistent
    bees, _ = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=4))
    clean = ix.maintenance.reconcile()
    assert clean.orphan_points == {} and clean.plans_missing_points == []
    legit = point_ids(ix)

    # when a point that no chunk owns is planted in the profile's collection
    orphan = str(uuid.uuid4())
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    ix.rt.store.upsert(
        collection(ix),
        [VectorPoint(orphan, vector, {"plan_id": 424242, "document_id": bees, "enabled": True})],
    )

    # then reconcile reports it (and only it) without touching it
    found = ix.maintenance.reconcile()
    assert found.orphan_points == {collection(ix): [orphan]} and found.plans_missing_points == []
    assert not found.fixed and orphan in point_ids(ix)
    # and with fix it is removed, the legitimate points stay, and the next run is clean
    assert ix.maintenance.reconcile(fix=True).orphan_points == {collection(ix): [orphan]}
    assert point_ids(ix) == legit
    assert ix.maintenance.reconcile().to_dict()["orphan_count"] == 0


def test_reconcile_reports_a_plan_whose_points_were_deleted_and_fix_rebuilds_it(ix, docs_dir: Path) -> None:
    # given two documents, and the points of one deleted behind the database's back
    bees, bees_plan = ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=4))
    _trains, trains_plan = ingest_one(ix, write_doc(docs_dir / "trains.txt", TRAINS, paragraphs=4))
    ix.rt.store.delete_by_plan(collection(ix), bees_plan)
    # and a single point of the other
    one = chunk_rows(ix, trains_plan)[0].point_id
    ix.rt.store.delete_points(collection(ix), [one])
    assert ix.search(BEE_QUERY, dataset="docs", k=5, document_ids=[bees]) == []

    # when reconciling, then both plans are reported as missing points, and no orphans
    found = ix.maintenance.reconcile()
    assert found.plans_missing_points == sorted([bees_plan, trains_plan]) and found.orphan_points == {}

    # when fixing, then the plans are rebuilt and serve again, and the index is consistent
    ix.maintenance.reconcile(fix=True)
    ix.wait([bees_plan, trains_plan], timeout=300)
    for plan_id in (bees_plan, trains_plan):
        view = ix.plans.get(plan_id)
        assert view.status == "EMBEDDED" and view.is_active
        assert points(ix, [plan_id]) == view.chunk_count
    # (a rebuild is a new generation: its points have new ids, and all of them are there)
    assert one not in point_ids(ix)
    assert {c.point_id for c in chunk_rows(ix, trains_plan)} <= point_ids(ix)
    assert ix.search(BEE_QUERY, dataset="docs", k=1)[0].document.id == bees
    after = ix.maintenance.reconcile()
    assert after.plans_missing_points == [] and after.orphan_points == {}


def test_reconcile_never_deletes_points_of_a_document_embedded_while_it_scans(ix, docs_dir: Path) -> None:
    # given one embedded document, and a store scan during which a second document gets embedded
    ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=2))
    store = ix.rt.store
    real_iter = store.iter_points
    late: dict[str, int] = {}

    def scan_while_ingesting(coll, batch_size=1000):
        first = True
        for point in real_iter(coll, batch_size):
            yield point
            if first:
                first = False
                late["doc"], late["plan"] = ingest_one(ix, write_doc(docs_dir / "trains.txt", TRAINS))

    store.iter_points = scan_while_ingesting
    try:
        fixed = ix.maintenance.reconcile(fix=True)
    finally:
        store.iter_points = real_iter

    # then nothing of the late document was taken for an orphan; it is searchable
    assert late and fixed.to_dict()["orphan_count"] == 0
    assert points(ix, [late["plan"]]) == len(chunk_rows(ix, late["plan"])) > 0
    assert ix.search("steam locomotive boiler", dataset="docs", k=1)[0].document.id == late["doc"]


def test_a_profile_purged_with_preserved_vectors_shows_up_as_a_detached_collection(
    ix, docs_dir: Path
) -> None:
    # given a second profile built for a document, then purged with --preserve-vectors
    ingest_one(ix, write_doc(docs_dir / "bees.txt", BEES, paragraphs=2))
    ix.profiles.create("v2", chunk_size=64, chunk_overlap=8)
    view = ix.profiles.activate("v2")
    ix.wait(view.plan_ids, timeout=300)
    kept = points(ix, profile="v2")
    assert kept > 0
    ix.maintenance.purge(profile="v2", preserve_vectors=True)

    # then reconcile lists its collection as detached, with its points; --fix drops it
    found = ix.maintenance.reconcile()
    assert found.detached_collections == {view.collection: kept}
    assert view.collection in ix.rt.store.collections()  # reporting changes nothing
    ix.maintenance.reconcile(fix=True)
    assert view.collection not in ix.rt.store.collections()
    assert ix.maintenance.reconcile().detached_collections == {}
