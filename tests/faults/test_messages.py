"""Messages lost between commit and send, and messages delivered twice.

- A process that commits its registrations and dies before sending them leaves only outbox rows:
  the next process with a worker relays them and every document is indexed.
- A broker that delivers every message twice (at-least-once delivery) never runs a unit's stage
  twice: the second delivery finds the unit claimed (or gone) and does nothing.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.faults.conftest import (
    REPO,
    assert_invariants,
    in_process_settings,
    plan_ids_of,
    record_statuses,
    unit_rows,
    wait_plans,
    write_docs,
)

_CRASHING_REGISTRAR = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from indexflow import Indexflow
    from indexflow.settings import Settings

    home, paths = Path(sys.argv[1]), sys.argv[2:]
    ix = Indexflow(Settings(home=home, lease_seconds=5, embed_batch_size=2))
    # The relay's send never happens: the process dies right after each commit.
    ix.tasks.outbox.send = lambda unit_ids: 0
    ix.tasks.start_worker = lambda *a, **k: None
    ids = [ix.enqueue_source(p, dataset="d").plan_ids for p in paths]
    print(sum(ids, []), flush=True)
    os._exit(137)  # no close, no cleanup: a crash
    """
)


@pytest.mark.timeout(180)
def test_work_committed_by_a_process_that_died_before_sending_is_relayed_by_the_next(
    make_ix, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs", 4)
    settings = in_process_settings(tmp_path)
    # given a process that registered 4 documents (committed) and died before sending anything
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASHING_REGISTRAR, str(settings.home), *map(str, docs)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == 137, crashed.stderr[-3000:]
    plan_ids = [int(x) for x in crashed.stdout.strip().strip("[]").split(",")]
    assert len(plan_ids) == 4
    ix = make_ix()
    units = unit_rows(ix)
    assert len(units) == 4 and all(u["kind"] == "parse" and u["sent_at"] is None for u in units), units
    # when a new process starts its worker
    with record_statuses(ix) as rec:
        ix.tasks.start_worker(2)
        wait_plans(ix, plan_ids, timeout=120)
    # then the relay sent the committed work and every document was indexed
    assert_invariants(ix, dict.fromkeys(docs, "EMBEDDED"))
    rec.assert_never_backwards()


@pytest.mark.timeout(180)
def test_every_message_delivered_twice_runs_each_unit_once(make_ix, stage_runs, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", 4, paragraphs=8)
    ix = make_ix()
    outbox = ix.tasks.outbox
    real_send = outbox._send
    sent: list[int] = []

    def twice(kind, unit_id):
        sent.append(unit_id)
        real_send(kind, unit_id)
        real_send(kind, unit_id)

    outbox._send = twice
    with record_statuses(ix) as rec:
        report = ix.ingest([str(p) for p in docs], dataset="d", wait=False)
        wait_plans(ix, plan_ids_of(report), timeout=120)
    assert len(sent) >= 4 * 3, sent  # a parse, a bundle and at least one embed unit per document
    assert {u for _, u in stage_runs.runs} == set(sent)
    repeated = stage_runs.repeated()
    try:
        assert_invariants(ix, dict.fromkeys(docs, "EMBEDDED"))
        rec.assert_never_backwards()
    except AssertionError as exc:
        pytest.fail(f"{exc}\n(also, stages that ran more than once for one unit: {repeated})")
    # the second delivery of each message found its unit claimed or gone, and did nothing
    assert repeated == {}, f"stages that ran more than once for one unit ((kind, unit): runs): {repeated}"
