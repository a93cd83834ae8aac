"""A parse longer than the lease runs once (heartbeats keep its claim); one over the time limit fails.

In-process, lease 5 s. ``indexflow.parsers.parse`` is wrapped (the parse stage imports it inside
the function, so the module attribute is what it calls): ``slow*`` files take 3× the lease before
they are parsed for real; ``hang*`` files never finish on their own (the parse loops in Python, as
a runaway parser would, so an asynchronous exception can interrupt it).
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

LEASE = 5
SLOW_PARSE = 3 * LEASE + 0.5
PARSE_TIMEOUT = SLOW_PARSE + 3  # the slow parse fits, the hanging one does not
HANG_FOR = 40  # well beyond the time limit; the test fails if the parse ever ends this way


def _patch_parse(monkeypatch: pytest.MonkeyPatch, calls: dict[str, int]) -> None:
    import indexflow.parsers

    real = indexflow.parsers.parse

    def parse(data, filename=None, **kw):
        name = Path(filename or "").name
        calls[name] = calls.get(name, 0) + 1
        if name.startswith(("slow", "hang")):
            until = time.monotonic() + (SLOW_PARSE if name.startswith("slow") else HANG_FOR)
            while time.monotonic() < until:  # busy in Python, like a parser stuck in a loop
                time.sleep(0.05)
        return real(data, filename, **kw)

    monkeypatch.setattr(indexflow.parsers, "parse", parse)


@pytest.mark.timeout(150)
def test_a_parse_longer_than_the_lease_runs_once_and_one_over_the_time_limit_fails(
    make_ix, stage_runs, monkeypatch, tmp_path: Path
) -> None:
    calls: dict[str, int] = {}
    _patch_parse(monkeypatch, calls)
    ix = make_ix(lease_seconds=LEASE, parse_timeout_seconds=int(PARSE_TIMEOUT), in_process_threads=3)
    [slow] = write_docs(tmp_path / "docs", 1, prefix="slow")
    [hang] = write_docs(tmp_path / "docs", 1, prefix="hang")
    normal = write_docs(tmp_path / "docs", 2, prefix="normal")
    started = time.monotonic()
    with record_statuses(ix) as rec:
        report = ix.ingest([str(p) for p in (slow, hang, *normal)], dataset="d", wait=False)
        plans = plan_ids_of(report)
        wait_plans(ix, plans, timeout=HANG_FOR + 30)
    elapsed = time.monotonic() - started

    # the slow parse spanned 3 leases, yet it was never taken for dead: it ran exactly once
    assert calls[slow.name] == 1, calls
    assert set(stage_runs.of("parse").values()) == {1}, stage_runs.runs
    assert stage_runs.repeated() == {}
    assert sum(r.resends for r in ix.tasks.sweeps) == 0, ix.tasks.sweeps
    # the hanging parse was stopped by the time limit, not left to run (or to finish) on its own
    assert elapsed < HANG_FOR, f"the hanging parse was never stopped (took {elapsed:.0f} s)"
    assert_invariants(
        ix,
        {
            slow: "EMBEDDED",
            hang: ("FAILED", f"parse exceeded {int(PARSE_TIMEOUT)} s"),
            normal[0]: "EMBEDDED",
            normal[1]: "EMBEDDED",
        },
    )
    rec.assert_never_backwards()
