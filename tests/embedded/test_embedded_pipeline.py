"""The pipeline end to end on the embedded default (SQLite + Qdrant Edge + in-process worker)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from indexflow.db.models import Bundle, Chunk, ChunkPlan, ChunkStatus, Component, PlanStatus
from indexflow.stores.base import SearchFilter

if TYPE_CHECKING:
    from indexflow.service import Indexflow


def _counts(ix: Indexflow) -> dict[str, int]:
    with ix.rt.sessions() as s:
        return {
            "components": s.scalar(select(func.count()).select_from(Component)) or 0,
            "bundles": s.scalar(select(func.count()).select_from(Bundle)) or 0,
            "chunks": s.scalar(select(func.count()).select_from(Chunk)) or 0,
            "embedded": s.scalar(
                select(func.count()).select_from(Chunk).where(Chunk.status == ChunkStatus.EMBEDDED)
            )
            or 0,
        }


def _points(ix: Indexflow, plan_ids: Sequence[int] | None = None) -> int:
    with ix.rt.sessions() as s:
        plan = s.scalars(select(ChunkPlan)).first()
        assert plan is not None
        profile = plan.profile
    filters = SearchFilter(plan_ids=tuple(plan_ids), only_enabled=False) if plan_ids else None
    return ix.rt.store.count(profile.collection, filters)


def test_ingest_a_mixed_corpus_embeds_every_document_and_points_match_chunks(ix, corpus: Path) -> None:
    # given six documents in six formats, when they are ingested and waited for
    report = ix.ingest([str(corpus)], dataset="docs", wait=True, timeout=600)
    # then every document is EMBEDDED with an active plan, and the store holds one point per chunk
    assert report.ok, [(d.source, d.error) for d in report.failed]
    assert len(report.documents) == 6
    assert {d.status for d in report.documents} == {"EMBEDDED"}
    assert all(p.is_active for d in report.documents for p in d.plans)
    counts = _counts(ix)
    assert counts["chunks"] > 6 and counts["embedded"] == counts["chunks"]
    assert _points(ix) == counts["chunks"]


def test_search_finds_a_known_passage_by_a_paraphrased_query(ix, corpus: Path) -> None:
    ix.ingest([str(corpus)], dataset="docs", wait=True, timeout=600)
    hits = ix.search("how can I stop my compost pile from smelling like ammonia?", dataset="docs", k=3)
    assert hits, "no hits"
    top = hits[0]
    assert top.document.source.endswith("composting.txt")
    assert "ammonia" in top.bundle.text
    # the chunk's span points into its bundle's text exactly
    assert (
        top.bundle.text[
            top.chunk.char_start - top.bundle.text_start : top.chunk.char_end - top.bundle.text_start
        ]
        == top.text
    )
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_search_is_scoped_to_its_dataset(ix, corpus: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(corpus / "composting.txt", other / "composting.txt")
    ix.ingest([str(corpus / "git_guide.md")], dataset="a", wait=True, timeout=600)
    ix.ingest([str(other)], dataset="b", wait=True, timeout=600)
    hits = ix.search("compost heap greens and browns", dataset="a", k=5)
    assert all(h.document.dataset == "a" for h in hits)
    assert not any(h.document.source.endswith("composting.txt") for h in hits)
    assert ix.search("anything", dataset="does-not-exist") == []


def test_a_malformed_file_fails_its_own_plan_and_the_rest_carry_on(
    ix, corpus: Path, fixtures_dir: Path
) -> None:
    shutil.copy(fixtures_dir / "truncated.pdf", corpus / "broken.pdf")
    shutil.copy(fixtures_dir / "random.bin", corpus / "noise.txt")
    report = ix.ingest([str(corpus)], dataset="docs", wait=True, timeout=600)
    failed = {Path(d.source).name: d for d in report.failed}
    assert set(failed) == {"broken.pdf", "noise.txt"}
    for d in failed.values():
        assert d.error and len(d.error) < 1000 and "Traceback" not in d.error
        assert all(p.status == "FAILED" and not p.is_active for p in d.plans)
    assert sum(1 for d in report.documents if d.status == "EMBEDDED") == 6
    # nothing of a failed plan is visible
    failed_plans = [p.plan_id for d in failed.values() for p in d.plans]
    assert _points(ix, failed_plans) == 0


def test_running_every_stage_twice_gives_the_same_rows_and_points(ix, corpus: Path) -> None:
    from indexflow.db import units as units_repo
    from indexflow.db.models import UnitKind
    from indexflow.db.session import transaction
    from tests.manual_worker import ManualWorker, units

    report = ix.ingest([str(corpus / "git_guide.md")], dataset="docs", wait=True, timeout=600)
    plan_id = report.documents[0].plans[0].plan_id
    before = _counts(ix), _points(ix)
    with ix.rt.sessions() as s:
        plan = s.get(ChunkPlan, plan_id)
        version_id, generation = plan.version_id, plan.generation
        chunk_ids = list(s.scalars(select(Chunk.id).where(Chunk.plan_id == plan_id)))
    # parse and embed again (units a duplicate delivery would run): no-ops that change nothing
    with transaction(ix.rt.sessions) as s:
        again = units_repo.add_parse(s, version_id, "indexing-plan") + units_repo.add(
            s, UnitKind.EMBED, "indexing-embed", plan_id=plan_id, generation=generation, chunk_ids=chunk_ids
        )
    manual = ManualWorker(ix)
    for unit_id in again:
        manual.run(unit_id)
    assert manual.sent == [] and units(ix) == []
    assert (_counts(ix), _points(ix)) == before
    manual.restore()
    # rebuild the plan from scratch twice (bundle → embed); rows and points come out identical
    for _ in range(2):
        ix.plans.rerun(plan_id)
        ix.wait([plan_id], timeout=300)
        assert _counts(ix) == before[0]
        # The swapped-out generation's points are deleted just after the swap commits (search
        # never shows them: the database decides); wait for that delete, never longer than 30 s.
        deadline = time.monotonic() + 30
        while _points(ix) != before[1] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _points(ix) == before[1]
    with ix.rt.sessions() as s:
        assert s.get(ChunkPlan, plan_id).status == PlanStatus.EMBEDDED


def test_status_lists_documents_with_plan_counts(ix, corpus: Path) -> None:
    ix.ingest([str(corpus / "composting.txt")], dataset="docs", wait=True, timeout=600)
    [doc] = ix.documents.list(dataset="docs")
    assert doc.status == "EMBEDDED"
    [plan] = doc.plans
    assert plan.chunk_count == plan.embedded_count > 0
    assert plan.bundle_count >= 1 and plan.last_error is None
