"""A parse longer than the lease runs once (heartbeats keep its claim); one over the time limit fails.

In-process, lease 5 s. Parses run in the parse sandbox's child processes, so the slow and the
hanging parser are those of the toy format (:mod:`tests.sandbox_parsers`, registered for the
test; the children import it): the ``slow*`` document keeps its parser busy in Python for 3× the
lease before it is parsed for real; the ``hang*`` one would keep it busy far longer than the
time limit. Each parser call appends the document's name to a log, so the test counts the calls
the parser itself saw, in whichever process it ran.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from indexflow.parsers import registry
from tests.faults.conftest import (
    TOPICS,
    assert_invariants,
    plan_ids_of,
    record_statuses,
    wait_plans,
    write_docs,
)
from tests.sandbox_parsers import TOY, toy_document

LEASE = 5
SLOW_PARSE = 3 * LEASE + 0.5
PARSE_TIMEOUT = SLOW_PARSE + 3  # the slow parse fits, the hanging one does not
HANG_FOR = 40  # well beyond the time limit; the test fails if the parse ever ends this way


def _toy_doc(folder: Path, name: str, busy_for: float, log: Path) -> Path:
    path = folder / f"{name}.toy"
    body = "\n\n".join(f"Document {name} section {p + 1}. {TOPICS[0]}" for p in range(4)) + "\n"
    path.write_bytes(toy_document(body, f"log {log}", f"sleep {busy_for}"))
    return path


def _calls(log: Path) -> dict[str, int]:
    calls: dict[str, int] = {}
    for name in log.read_text().split() if log.exists() else ():
        calls[name] = calls.get(name, 0) + 1
    return calls


@pytest.mark.timeout(150)
def test_a_parse_longer_than_the_lease_runs_once_and_one_over_the_time_limit_fails(
    make_ix, stage_runs, tmp_path: Path
) -> None:
    # given a slow document (3 leases of parsing), a hanging one and two normal ones
    log = tmp_path / "parser-calls.log"
    folder = tmp_path / "docs"
    normal = write_docs(folder, 2, prefix="normal")
    slow = _toy_doc(folder, "slow000", SLOW_PARSE, log)
    hang = _toy_doc(folder, "hang000", HANG_FOR, log)
    with registry.registered(TOY):
        ix = make_ix(lease_seconds=LEASE, parse_timeout_seconds=int(PARSE_TIMEOUT), in_process_threads=3)
        started = time.monotonic()

        # when they are ingested together
        with record_statuses(ix) as rec:
            report = ix.ingest([str(p) for p in (slow, hang, *normal)], dataset="d", wait=False)
            plans = plan_ids_of(report)
            wait_plans(ix, plans, timeout=HANG_FOR + 30)
        elapsed = time.monotonic() - started

    # then the slow parse spanned 3 leases, yet it was never taken for dead: it ran exactly once
    calls = _calls(log)
    assert calls[slow.name] == 1, calls
    assert calls[hang.name] == 1, calls
    assert set(stage_runs.of("parse").values()) == {1}, stage_runs.runs
    assert stage_runs.repeated() == {}
    assert sum(r.resends for r in ix.tasks.sweeps) == 0, ix.tasks.sweeps
    # and the hanging parse was stopped by the time limit, not left to run (or to finish) on its own
    assert elapsed < HANG_FOR, f"the hanging parse was never stopped (took {elapsed:.0f} s)"
    assert_invariants(
        ix,
        {
            slow: "EMBEDDED",
            hang: ("FAILED", f"{hang.name}: parse exceeded {int(PARSE_TIMEOUT)} s"),
            normal[0]: "EMBEDDED",
            normal[1]: "EMBEDDED",
        },
    )
    rec.assert_never_backwards()
