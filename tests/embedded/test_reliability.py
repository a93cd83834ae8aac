"""Lost messages, dead workers, transient and permanent failures: work is delayed, never lost."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update

from indexflow.db import units as units_repo
from indexflow.db.models import ChunkPlan, IndexProfile, PlanStatus, UnitKind, WorkUnit, utcnow
from indexflow.db.session import transaction
from indexflow.errors import StoreUnavailable
from indexflow.pipeline.register import register_source
from indexflow.tasks.sweeper import sweep
from tests.manual_worker import ManualWorker, units

if TYPE_CHECKING:
    from indexflow.service import Indexflow
    from indexflow.settings import Settings


def _plan(ix: Indexflow, plan_id: int) -> ChunkPlan:
    with ix.rt.sessions() as s:
        plan = s.get(ChunkPlan, plan_id)
        assert plan is not None, plan_id
        return plan


def test_work_committed_but_never_sent_is_sent_by_the_relay(ix, corpus: Path) -> None:
    # given a document registered by a process that crashed between commit and send
    data = (corpus / "composting.txt").read_bytes()
    reg = register_source(ix.rt, dataset="d", source="lost.txt", data=data, filename="lost.txt")
    [plan_id] = reg.plan_ids
    [unit] = units(ix)
    assert (unit.kind, unit.sent_at, _plan(ix, plan_id).status) == (UnitKind.PARSE, None, PlanStatus.PENDING)
    # when a worker starts, its relay sends the unsent unit and the plan completes
    ix.tasks.start_worker(1)
    ix.wait([plan_id], timeout=300)
    assert _plan(ix, plan_id).status == PlanStatus.EMBEDDED
    assert units(ix) == []  # nothing left queued or claimed


def test_a_unit_waiting_in_the_queue_is_never_resent_however_long_it_waits(ix, corpus: Path) -> None:
    # given a sent message that no worker has taken yet (a backlog), its plan long untouched
    manual = ManualWorker(ix)
    report = ix.ingest([str(corpus / "composting.txt")], dataset="d", wait=False)
    [sent] = manual.take()
    with ix.rt.sessions.begin() as s:
        old = utcnow() - timedelta(hours=3)
        s.execute(update(WorkUnit).values(sent_at=old, created_at=old))
        s.execute(update(ChunkPlan).values(updated_at=old))
    # when the sweeper runs (no worker is idle on the queue: none is running)
    swept = sweep(ix.rt)
    # then it re-sends nothing, and the queued message still runs the plan to the end
    assert swept.ran and swept.resends == 0 and swept.units == []
    manual.run(sent)
    manual.drain()
    assert ix.plans.get(report.documents[0].plans[0].plan_id).status == "EMBEDDED"


def test_an_expired_claim_is_taken_over_and_a_live_one_is_left_alone(settings, corpus: Path) -> None:
    from indexflow import Indexflow

    with Indexflow(settings.model_copy(update={"embed_batch_size": 2})) as ix:
        _expired_and_live_claims(ix, corpus)


def _expired_and_live_claims(ix: Indexflow, corpus: Path) -> None:
    # given a plan whose embed units were claimed by two workers: one alive, one dead
    manual = ManualWorker(ix)
    ix.ingest([str(corpus / "git_guide.md")], dataset="d", wait=False)
    manual.run(manual.take(UnitKind.PARSE)[0])
    manual.run(manual.take(UnitKind.BUNDLE)[0])
    embeds = manual.take(UnitKind.EMBED)
    assert len(embeds) >= 2
    with transaction(ix.rt.sessions) as s:
        alive = units_repo.claim(s, embeds[0], "alive-worker", 60)
        dead = units_repo.claim(s, embeds[1], "dead-worker", 60)
        assert alive and dead
        s.execute(
            update(WorkUnit)
            .where(WorkUnit.id == embeds[1])
            .values(claim_until=utcnow() - timedelta(seconds=1))
        )
    # when the sweeper runs
    swept = sweep(ix.rt)
    # then only the dead worker's unit is released (to be sent again); the live claim holds
    assert swept.expired_claims == [embeds[1]]
    with ix.rt.sessions() as s:
        rows = {u.id: u for u in s.scalars(select(WorkUnit).where(WorkUnit.id.in_(embeds[:2])))}
    assert rows[embeds[0]].claimed_by == "alive-worker"
    assert rows[embeds[1]].claimed_by is None and rows[embeds[1]].sent_at is None
    # and a duplicate message for the live unit does not run it a second time
    manual.run(embeds[0])
    with ix.rt.sessions() as s:
        live = s.get(WorkUnit, embeds[0])
        assert live is not None and live.executions == 1


def test_the_embedded_default_resumes_at_once_what_a_dead_process_left(settings, corpus: Path) -> None:
    from indexflow import Indexflow

    # given a first process that registered two documents, sent their messages, and died
    with Indexflow(settings) as first:
        ManualWorker(first)
        report = first.ingest(
            [str(corpus / "composting.txt"), str(corpus / "git_guide.md")], dataset="d", wait=False
        )
        assert {d.status for d in report.documents} == {"PENDING"}
        assert all(u.sent_at is not None for u in units(first))
    # when the same files are ingested again by a new process (unchanged: nothing new to send)
    with Indexflow(settings) as second:
        again = second.ingest(
            [str(corpus / "composting.txt"), str(corpus / "git_guide.md")],
            dataset="d",
            wait=True,
            timeout=300,
        )
        # then the leftover plans were resumed at start-up (not after a lease) and finished
        assert {d.status for d in again.documents} == {"EMBEDDED"}
        assert second.tasks.sweeps and second.tasks.sweeps[0].lost_messages
        assert units(second) == []


class FlakyStore:
    """The real store, whose upserts fail ``failures`` times first (a store restart)."""

    def __init__(self, inner, failures: int, error: Exception | None = None) -> None:
        self.inner, self.failures, self.calls = inner, failures, 0
        self.error = error or StoreUnavailable("connection refused (test)")

    def upsert(self, collection, points, **kw):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.inner.upsert(collection, points, **kw)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_store_outage_never_fails_the_plan_status_says_why_and_it_finishes_when_the_store_returns(
    few_retries, corpus: Path
) -> None:
    from indexflow import Indexflow

    with Indexflow(few_retries) as ix:
        # given a store that refuses far more often than the retry limit of unknown errors (1)
        flaky = FlakyStore(ix.rt.store, failures=4)
        ix.rt._store = flaky
        report = ix.ingest([str(corpus / "composting.txt")], dataset="d", wait=False)
        plan_id = report.documents[0].plans[0].plan_id
        # when it is down, the plan waits (never FAILED) and says why and until when
        seen: set[str] = set()
        prog = ix.wait(
            [plan_id], timeout=300, on_progress=lambda _p: seen.add(str(ix.plans.get(plan_id).retrying))
        )
        # then once the store answers again the plan finishes by itself
        assert prog.plans_failed == 0 and ix.plans.get(plan_id).status == "EMBEDDED"
        assert flaky.calls >= 5
        assert any("store unavailable: connection refused" in s and "next try" in s for s in seen)
        assert ix.plans.get(plan_id).retrying is None


@pytest.fixture
def few_retries(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_embed_retries": 1, "retry_max_backoff_seconds": 1.0})


def test_an_unknown_error_is_retried_a_bounded_number_of_times_then_fails_with_the_reason(
    few_retries, corpus: Path
) -> None:
    from indexflow import Indexflow

    with Indexflow(few_retries) as ix:
        ix.rt._store = FlakyStore(ix.rt.store, failures=10_000, error=RuntimeError("disk on fire (test)"))
        report = ix.ingest([str(corpus / "composting.txt")], dataset="d", wait=True, timeout=300)
        [doc] = report.documents
        assert doc.status == "FAILED"
        assert doc.error is not None
        assert "gave up after 1 retries" in doc.error and "disk on fire" in doc.error
        assert units(ix) == []


def test_a_permanent_error_fails_the_plan_at_once_without_retrying(ix, corpus: Path) -> None:
    # a profile that declares the wrong dimension: retrying cannot help
    with ix.rt.sessions.begin() as s:
        from indexflow.db.profiles import ensure_default_profile

        ensure_default_profile(s)
        s.execute(update(IndexProfile).values(dimension=128))
    calls = []
    real = ix.rt.encoder

    def counting(profile):
        calls.append(profile.id)
        return real(profile)

    ix.rt.encoder = counting
    report = ix.ingest([str(corpus / "composting.txt")], dataset="d", wait=True, timeout=300)
    [doc] = report.documents
    assert doc.status == "FAILED" and "384-d vectors" in doc.error and "declares 128" in doc.error
    with ix.rt.sessions() as s:
        batches = s.scalar(select(ChunkPlan.chunk_count)) // ix.settings.embed_batch_size + 1
    assert len(calls) <= batches  # each batch tried once: no retries
    assert units(ix) == []


def test_a_message_whose_rows_were_deleted_ends_quietly(ix, corpus: Path) -> None:
    # given a parse message for a document deleted before any worker ran it
    manual = ManualWorker(ix)
    report = ix.ingest([str(corpus / "composting.txt")], dataset="d", wait=False)
    [parse] = manual.take()
    ix.documents.delete(report.documents[0].document_id)
    # when the message is delivered, it ends at once: no retry, no error, nothing left
    manual.run(parse)
    assert units(ix) == [] and manual.sent == []


def test_a_configuration_error_such_as_a_missing_extension_fails_at_once(ix, corpus: Path) -> None:
    from indexflow.errors import ConfigurationError

    # given a store that cannot work as configured (pgvector's extension missing, say)
    flaky = FlakyStore(ix.rt.store, failures=10_000, error=ConfigurationError("pgvector is not installed"))
    ix.rt._store = flaky
    # when a document is ingested, then its plan fails at once with the reason: no retries
    report = ix.ingest([str(corpus / "composting.txt")], dataset="d", wait=True, timeout=300)
    [doc] = report.documents
    assert doc.status == "FAILED" and "pgvector is not installed" in doc.error
    assert flaky.calls <= ix.settings.in_process_threads  # at most the batches already running
    assert units(ix) == []
