"""The sweeper: re-enqueue plans whose lease ran out, so lost work is delayed, never lost."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db.models import ChunkPlan, PlanStatus, utcnow
from indexflow.db.session import transaction
from indexflow.pipeline.runtime import Runtime, Work

log = logging.getLogger(__name__)

MAX_RESUMES = 8


def resume_work(rt: Runtime, s: Session, plan: ChunkPlan) -> list[Work]:
    """The message that moves ``plan`` on from where it stands (caller holds its row)."""
    plan.lease_until = utcnow() + timedelta(seconds=rt.settings.lease_seconds)
    if plan.status in (PlanStatus.PENDING, PlanStatus.BUNDLING):
        version = docs_repo.get_version(s, plan.version_id)
        if version.parsed_at is None:
            return [Work("parse", (plan.version_id,))]
        if plan.status == PlanStatus.BUNDLING:
            plan.status = PlanStatus.PENDING
        return [Work("bundle", (plan.id, plan.generation))]
    if plan.status in (PlanStatus.READY, PlanStatus.EMBEDDING):
        stale_before = utcnow() - timedelta(seconds=rt.settings.lease_seconds)
        plan.status = PlanStatus.EMBEDDING
        batches = plans_repo.queue_batches(
            s, plan.id, rt.settings.embed_batch_size, stale_before=stale_before
        )
        if not batches:
            return [Work("embed", (plan.id, plan.generation, []))]
        return [Work("embed", (plan.id, plan.generation, ids)) for ids in batches]
    return []


def sweep(rt: Runtime, *, untouched_since: datetime | None = None) -> list[Work]:
    """One pass: every plan past its lease is resumed (or failed after ``MAX_RESUMES``).

    ``untouched_since`` resumes every unfinished plan not updated since then, whatever its lease:
    the embedded default's start-up, where no other process can be working on plans left over
    from an earlier run (its vector store is single-process).
    """
    work: list[Work] = []
    with transaction(rt.sessions) as s:
        for plan in plans_repo.expired(s, utcnow(), untouched_since=untouched_since):
            plan.attempts += 1
            if plan.attempts > MAX_RESUMES:
                plans_repo.fail(
                    s,
                    plan,
                    f"stalled in {plan.status.value}: no worker finished it after {MAX_RESUMES} tries",
                )
                continue
            log.info("resuming plan %s stuck in %s", plan.id, plan.status.value)
            work.extend(resume_work(rt, s, plan))
    return work


class SweeperThread(threading.Thread):
    """Runs ``sweep`` every ``interval`` seconds and hands the work to ``send``."""

    def __init__(self, rt: Runtime, send, interval: float) -> None:  # type: ignore[no-untyped-def]
        super().__init__(name="indexflow-sweeper", daemon=True)
        self.rt, self.send, self.interval = rt, send, interval
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                for item in sweep(self.rt):
                    self.send(item)
            except Exception:  # the sweeper must outlive a database hiccup
                log.exception("sweep failed")

    def stop(self) -> None:
        self._stop.set()
