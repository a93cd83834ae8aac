"""Deleting one document and deactivating another while their batches are being embedded.

In-process, with an encoder slowed down (0.4 s per batch) so both documents are caught with
chunks embedded and batches still running or queued. Batches in flight when the change commits
finish afterwards: they must notice (their plan is gone, or its generation moved on) and leave
nothing behind. The deleted document leaves no row and no point; the deactivated one is INACTIVE
with no point; the other documents are not held up.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from indexflow.db.models import Bundle, Chunk, WorkUnit
from tests.faults.conftest import (
    assert_invariants,
    plan_ids_of,
    plan_rows,
    record_statuses,
    unit_rows,
    wait_for,
    wait_plans,
    write_docs,
)

BATCH_DELAY = 0.4


class SlowEncoder:
    def __init__(self, inner, calls: list[float]) -> None:
        self._inner, self._calls = inner, calls

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def encode(self, texts):
        self._calls.append(time.monotonic())
        time.sleep(BATCH_DELAY)
        return self._inner.encode(texts)


@pytest.mark.timeout(180)
def test_delete_and_deactivate_while_indexing_leave_nothing_behind(
    make_ix, monkeypatch, tmp_path: Path
) -> None:
    ix = make_ix(in_process_threads=2)
    calls: list[float] = []
    real = ix.rt.encoder
    monkeypatch.setattr(ix.rt, "encoder", lambda profile: SlowEncoder(real(profile), calls))
    # two big documents first (7 batches each), then four small ones
    big = write_docs(tmp_path / "docs", 2, paragraphs=40, prefix="big")
    small = write_docs(tmp_path / "docs", 4, paragraphs=4, prefix="small")
    with record_statuses(ix) as rec:
        report = ix.ingest([str(p) for p in (*big, *small)], dataset="d", wait=False)
        by_source = {d.source: d for d in report.documents}
        doomed, paused = (by_source[str(p.resolve())] for p in big)
        doomed_plan, paused_plan = doomed.plans[0].plan_id, paused.plans[0].plan_id

        # when each big document has chunks embedded and batches still to go: delete the
        # first, deactivate the second (each as soon as it is caught so)
        actions = {
            doomed_plan: lambda: ix.documents.delete(doomed.document_id),
            paused_plan: lambda: ix.documents.deactivate(paused.document_id),
        }
        mid: dict[int, tuple[str, int, int]] = {}

        def act_when_caught() -> bool:
            for plan_id, (st, n, e) in plan_rows(ix, [p for p in actions if p not in mid]).items():
                if st == "EMBEDDING" and 0 < e < n:
                    mid[plan_id] = (st, n, e)
                    actions[plan_id]()
                elif st in ("EMBEDDED", "FAILED"):
                    pytest.fail(f"plan {plan_id} finished ({st}) before it was caught mid-embedding")
            return len(mid) == len(actions)

        wait_for(act_when_caught, timeout=90, interval=0.02, what="both big documents mid-embedding")
        # then the small documents finish, and the batches that were in flight end quietly
        small_plans = [p for p in plan_ids_of(report) if p not in (doomed_plan, paused_plan)]
        wait_plans(ix, small_plans, timeout=90)
        wait_for(lambda: not unit_rows(ix), timeout=30, what="the work units to drain")
        time.sleep(2 * BATCH_DELAY)  # a batch still encoding would write just after this
    assert all(n > e for _, n, e in mid.values()), mid
    assert_invariants(
        ix,
        {
            doomed.document_id: "DELETED",
            paused.document_id: ("INACTIVE", "document deactivated"),
            **dict.fromkeys(small, "EMBEDDED"),
        },
    )
    rec.assert_never_backwards()
    with ix.rt.readers() as s:
        left = {
            model.__name__: s.scalar(
                select(func.count()).select_from(model).where(model.plan_id == doomed_plan)
            )
            for model in (Chunk, Bundle, WorkUnit)
        }
    assert not any(left.values()), f"the deleted document's plan left rows: {left}"
