"""The vector store is unreachable for a while: plans wait (and say why), none fails, all finish.

In-process (embedded default, Qdrant Edge) with the store wrapped so that every upsert raises
``StoreUnavailable`` until the outage is over: 2 minutes, with the backoff capped at 5 s, so
each embed unit goes through many failed attempts, far more than ``max_embed_retries=1``:
transient errors are never counted against that bound.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from indexflow.errors import StoreUnavailable
from indexflow.views import PlanView
from tests.faults.conftest import (
    assert_invariants,
    plan_ids_of,
    plan_rows,
    record_statuses,
    wait_plans,
    write_docs,
)

OUTAGE = 120.0


class StoreOutage:
    """The real store; its upserts are refused from the first one until ``duration`` has passed."""

    def __init__(self, inner, duration: float) -> None:
        self.inner, self.duration = inner, duration
        self.started: float | None = None
        self.refused = 0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self.started is None or time.monotonic() < self.started + self.duration

    def upsert(self, collection, points, **kw):
        with self._lock:
            if self.started is None:
                self.started = time.monotonic()
            if self.down:
                self.refused += 1
                raise StoreUnavailable("connection refused (test outage)")
        return self.inner.upsert(collection, points, **kw)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.timeout(300)
def test_a_store_outage_fails_no_plan_and_every_plan_finishes_when_it_is_back(
    make_ix, tmp_path: Path
) -> None:
    ix = make_ix(max_embed_retries=1, retry_max_backoff_seconds=5)
    outage = StoreOutage(ix.rt.store, OUTAGE)
    ix.rt._store = outage
    docs = write_docs(tmp_path / "docs", 3, paragraphs=8)
    views: list[PlanView] = []
    with record_statuses(ix) as rec:
        report = ix.ingest([str(p) for p in docs], dataset="d", wait=False)
        plans = plan_ids_of(report)
        # while the store is down, every plan is waiting, none has failed, and each says why
        while outage.started is None or outage.down:
            rows = plan_rows(ix, plans)
            assert not [p for p, (st, _, _) in rows.items() if st == "FAILED"], rows
            views += [ix.plans.get(p) for p in plans]
            time.sleep(0.5)
        wait_plans(ix, plans, timeout=60)
    assert outage.refused > 3 * len(plans), outage.refused
    # transient failures are not bounded by max_embed_retries (1): a unit failed many times
    assert rec.max_failures > ix.settings.max_embed_retries + 1, rec.max_failures
    waiting = {v.plan_id for v in views if v.retrying and "store unavailable" in v.retrying}
    assert waiting == set(plans), [v.retrying for v in views]
    assert not rec.seen("FAILED")
    assert all(ix.plans.get(p).retrying is None for p in plans)  # cleared once embedded
    assert_invariants(ix, dict.fromkeys(docs, "EMBEDDED"))
    rec.assert_never_backwards()
