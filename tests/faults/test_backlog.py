"""A backlog far longer than the lease, behind a single worker thread: nothing is re-sent.

In-process, ``in_process_threads=1``, lease 2 s (the minimum; heartbeats every 0.67 s), an
encoder slowed to 1 s a batch, 80 batches: a backlog 40× the lease (asserted). Only a claimed
unit's lease can expire, and heartbeats renew it; waiting in the queue never counts. Units at its
tail wait 80 s in the queue, yet none is executed twice, the sweeper re-sends nothing, and no plan
fails.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.conftest import (
    assert_invariants,
    plan_ids_of,
    record_statuses,
    wait_plans,
    write_docs,
)

LEASE = 2
BATCH_DELAY = 1.0
MIN_BACKLOG = 40 * LEASE


class SlowEncoder:
    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def encode(self, texts):
        time.sleep(BATCH_DELAY)
        return self._inner.encode(texts)


@pytest.mark.timeout(240)
def test_a_backlog_many_leases_long_behind_one_thread_is_never_resent(
    make_ix, stage_runs, monkeypatch, tmp_path: Path
) -> None:
    ix = make_ix(lease_seconds=LEASE, in_process_threads=1)
    real = ix.rt.encoder
    monkeypatch.setattr(ix.rt, "encoder", lambda profile: SlowEncoder(real(profile)))
    # 40 documents of 3-4 chunks: 2 batches of 2 each, 80 batches of 1 s behind one thread
    docs = write_docs(tmp_path / "docs", 40, paragraphs=8)
    started = time.monotonic()
    with record_statuses(ix, interval=0.5) as rec:
        report = ix.ingest([str(p) for p in docs], dataset="d", wait=False)
        wait_plans(ix, plan_ids_of(report), timeout=200)
    elapsed = time.monotonic() - started
    embeds = stage_runs.of("embed")
    assert len(embeds) * BATCH_DELAY >= MIN_BACKLOG, f"only {len(embeds)} batches: backlog too short"
    assert elapsed >= MIN_BACKLOG, f"the backlog took {elapsed:.0f} s, not {MIN_BACKLOG} s (40 leases)"
    assert stage_runs.repeated() == {}, f"units executed more than once: {stage_runs.repeated()}"
    assert sum(r.resends for r in ix.tasks.sweeps) == 0, ix.tasks.sweeps
    assert rec.max_resends == 0
    assert not rec.seen("FAILED")
    assert_invariants(ix, dict.fromkeys(docs, "EMBEDDED"))
    rec.assert_never_backwards()
