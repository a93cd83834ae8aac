"""Lost messages, dead workers, transient and permanent failures: work is delayed, never lost."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from indexflow.db.models import Chunk, ChunkPlan, ChunkStatus, PlanStatus, utcnow
from indexflow.errors import StoreUnavailable
from indexflow.pipeline.register import register_source
from indexflow.pipeline.sweeper import sweep


def _plan(ix, plan_id: int) -> ChunkPlan:  # type: ignore[no-untyped-def]
    with ix.rt.sessions() as s:
        return s.get(ChunkPlan, plan_id)


def test_a_lost_message_is_resumed_by_the_sweeper_once_its_lease_runs_out(ix, corpus: Path) -> None:
    # given a registered document whose parse message was never sent (lost)
    data = (corpus / "composting.txt").read_bytes()
    reg = register_source(ix.rt, dataset="d", source="lost.txt", data=data, filename="lost.txt")
    [plan_id] = reg.plan_ids
    assert reg.work and _plan(ix, plan_id).status == PlanStatus.PENDING
    # when the lease has not run out, the sweeper leaves it alone
    assert sweep(ix.rt) == []
    # when it has, the sweeper resumes it and the plan completes
    with ix.rt.sessions.begin() as s:
        s.execute(update(ChunkPlan).values(lease_until=utcnow() - timedelta(seconds=1)))
    work = sweep(ix.rt)
    assert [w.stage for w in work] == ["parse"]
    ix.tasks.send_all(work)
    ix.wait([plan_id], timeout=300)
    assert _plan(ix, plan_id).status == PlanStatus.EMBEDDED


def test_a_plan_left_embedding_by_a_dead_worker_finishes_after_a_sweep(ix, corpus: Path) -> None:
    report = ix.ingest([str(corpus / "git_guide.md")], dataset="d", wait=True, timeout=300)
    plan_id = report.documents[0].plans[0]["plan_id"]
    # given a worker that died mid-plan: half the chunks QUEUED long ago, the plan EMBEDDING, the
    # plan not active yet
    with ix.rt.sessions.begin() as s:
        ids = list(s.scalars(select(Chunk.id).where(Chunk.plan_id == plan_id).order_by(Chunk.seq)))
        half = ids[: max(1, len(ids) // 2)]
        s.execute(
            update(Chunk)
            .where(Chunk.id.in_(half))
            .values(status=ChunkStatus.QUEUED, queued_at=utcnow() - timedelta(hours=1))
        )
        s.execute(
            update(ChunkPlan)
            .where(ChunkPlan.id == plan_id)
            .values(status=PlanStatus.EMBEDDING, lease_until=utcnow() - timedelta(seconds=1), is_active=False)
        )
    work = sweep(ix.rt)
    assert [w.stage for w in work] == ["embed"] * len(work) and work
    assert sorted(i for w in work for i in w.args[2]) == sorted(half)
    ix.tasks.send_all(work)
    ix.wait([plan_id], timeout=300)
    plan = _plan(ix, plan_id)
    assert plan.status == PlanStatus.EMBEDDED and plan.is_active and plan.embedded_count == len(ids)


class FlakyStore:
    """The real store, whose upserts fail ``failures`` times first (a store restart)."""

    def __init__(self, inner, failures: int) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.failures, self.calls = inner, failures, 0

    def upsert(self, collection, points, **kw):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls <= self.failures:
            raise StoreUnavailable("connection refused (test)")
        return self.inner.upsert(collection, points, **kw)

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_a_transient_store_failure_is_retried_with_backoff_and_the_plan_completes(ix, corpus: Path) -> None:
    flaky = FlakyStore(ix.rt.store, failures=2)
    ix.rt._store = flaky
    report = ix.ingest([str(corpus / "composting.txt")], dataset="d", wait=True, timeout=300)
    assert report.ok and report.documents[0].status == "EMBEDDED"
    assert flaky.calls >= 3


@pytest.fixture
def few_retries(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"max_embed_retries": 1})


def test_retries_are_bounded_then_the_plan_fails_with_the_reason(few_retries, corpus: Path) -> None:
    from indexflow import Indexflow

    with Indexflow(few_retries) as ix:
        ix.rt._store = FlakyStore(ix.rt.store, failures=10_000)
        report = ix.ingest([str(corpus / "composting.txt")], dataset="d", wait=True, timeout=300)
        [doc] = report.documents
        assert doc.status == "FAILED"
        assert "gave up after 1 retries" in doc.error and "connection refused" in doc.error


def test_a_permanent_error_fails_the_plan_at_once_without_retrying(ix, corpus: Path) -> None:
    from indexflow.db.models import IndexProfile

    # a profile that declares the wrong dimension: retrying cannot help
    with ix.rt.sessions.begin() as s:
        from indexflow.pipeline.profiles import ensure_default_profile

        ensure_default_profile(s)
        s.execute(update(IndexProfile).values(dimension=128))
    calls = []
    real = ix.rt.encoder

    def counting(profile):  # type: ignore[no-untyped-def]
        calls.append(profile.id)
        return real(profile)

    ix.rt.encoder = counting
    report = ix.ingest([str(corpus / "composting.txt")], dataset="d", wait=True, timeout=300)
    [doc] = report.documents
    assert doc.status == "FAILED" and "384-d vectors" in doc.error and "declares 128" in doc.error
    with ix.rt.sessions() as s:
        batches = s.scalar(select(ChunkPlan.chunk_count)) // ix.settings.embed_batch_size + 1
    assert len(calls) <= batches  # each batch tried once: no retries


def test_an_ingest_killed_midway_is_finished_by_the_next_ingest_of_the_same_files(
    settings, corpus: Path
) -> None:
    from indexflow import Indexflow

    # given a first process that registered the documents and died before any worker ran
    with Indexflow(settings) as first:
        sent: list[object] = []
        first.tasks.send_all = sent.extend  # type: ignore[method-assign]
        first.tasks.start_worker = lambda *a, **k: None  # type: ignore[method-assign]
        report = first.ingest(
            [str(corpus / "composting.txt"), str(corpus / "git_guide.md")], dataset="d", wait=False
        )
        assert sent and {d.status for d in report.documents} == {"PENDING"}
    # when the same files are ingested again by a new process (unchanged, leases still running)
    with Indexflow(settings) as second:
        again = second.ingest(
            [str(corpus / "composting.txt"), str(corpus / "git_guide.md")],
            dataset="d",
            wait=True,
            timeout=300,
        )
    # then the leftover plans were resumed at start-up and finished
    assert {d.status for d in again.documents} == {"EMBEDDED"}
