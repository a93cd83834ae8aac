"""Duplicate work (at-least-once delivery, a hung worker's unit taken over) never loses vectors."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from indexflow.db.models import UnitKind, WorkUnit, utcnow
from indexflow.tasks import execute
from indexflow.tasks.heartbeat import WorkerState
from tests.lifecycle_support import BEES, CountingEncoder, chunk_rows, points, write_doc
from tests.manual_worker import ManualWorker, units

if TYPE_CHECKING:
    from indexflow.service import Indexflow


def _embed_unit(ix: Indexflow, docs_dir: Path) -> tuple[ManualWorker, int, int]:
    manual = ManualWorker(ix)
    report = ix.ingest(
        [str(write_doc(docs_dir / "bees.txt", BEES, paragraphs=4))], dataset="docs", wait=False
    )
    [plan_id] = [p.plan_id for p in report.documents[0].plans]
    manual.run(manual.take(UnitKind.PARSE)[0])
    manual.run(manual.take(UnitKind.BUNDLE)[0])
    [embed] = manual.take(UnitKind.EMBED)
    return manual, plan_id, embed


class SlowEncoder(CountingEncoder):
    """Holds the encode of the thread named ``slow`` until ``release`` is set."""

    release = threading.Event()

    def encode(self, texts: Any) -> Any:
        vectors = super().encode(texts)
        if threading.current_thread().name == "slow":
            self.release.wait(120)
        return vectors


def _slow_encoder(ix: Indexflow, monkeypatch, log: list[int]) -> threading.Event:
    real, lock = ix.rt.encoder, threading.Lock()
    release = threading.Event()
    enc_cls = type("Slow", (SlowEncoder,), {"release": release})
    monkeypatch.setattr(ix.rt, "encoder", lambda profile: enc_cls(real(profile), log, lock))
    return release


def _wait_for(cond, what: str) -> None:
    deadline = time.monotonic() + 120
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cond(), what


def test_a_duplicate_message_for_a_unit_a_live_worker_runs_does_not_run_it_again(
    ix, docs_dir: Path, monkeypatch
) -> None:
    # given an embed unit that one worker is running (slowly)
    manual, plan_id, embed = _embed_unit(ix, docs_dir)
    log: list[int] = []
    release = _slow_encoder(ix, monkeypatch, log)
    first = threading.Thread(target=manual.run, args=(embed,), name="slow")
    first.start()
    _wait_for(lambda: log, "the first worker never reached the encoder")

    # when a second worker gets a duplicate of the same message
    other = WorkerState(["indexing-embed"], 1)
    manual.run(embed, as_worker=other)

    # then it does not run the unit (no second encode); the first finishes the plan
    assert len(log) == 1
    release.set()
    first.join(timeout=120)
    assert ix.plans.get(plan_id).status == "EMBEDDED"
    assert points(ix, [plan_id]) == len(chunk_rows(ix, plan_id)) > 0
    assert units(ix) == []


def test_a_hung_worker_whose_unit_was_taken_over_changes_nothing_when_it_wakes_up(
    ix, docs_dir: Path, monkeypatch
) -> None:
    # given an embed unit whose worker hangs (SIGSTOP) past its claim, so another takes it over
    manual, plan_id, embed = _embed_unit(ix, docs_dir)
    log: list[int] = []
    release = _slow_encoder(ix, monkeypatch, log)
    hung = threading.Thread(target=manual.run, args=(embed,), name="slow")
    hung.start()
    _wait_for(lambda: log, "the hung worker never reached the encoder")
    with ix.rt.sessions.begin() as s:
        s.execute(update(WorkUnit).values(claim_until=utcnow() - timedelta(seconds=1)))
    from indexflow.tasks.sweeper import sweep

    assert sweep(ix.rt).expired_claims == [embed]
    manual.run(embed, as_worker=WorkerState(["indexing-embed"], 1))
    assert ix.plans.get(plan_id).status == "EMBEDDED"

    # when the hung worker wakes up and finishes its (now superseded) run
    release.set()
    hung.join(timeout=120)

    # then the plan is still EMBEDDED with every point in place, and nothing is left queued
    assert ix.plans.get(plan_id).status == "EMBEDDED"
    assert points(ix, [plan_id]) == len(chunk_rows(ix, plan_id)) > 0
    assert units(ix) == []


def test_a_fresh_process_sends_the_work_of_a_new_document_once(ix, docs_dir: Path, monkeypatch) -> None:
    # given a fresh facade whose in-process worker has not started yet
    calls: list[tuple[UnitKind, int | None]] = []
    for kind in (UnitKind.PARSE, UnitKind.BUNDLE):
        real = execute.STAGES[kind]

        def counting(rt: Any, claim: Any, _real: Any = real, _kind: UnitKind = kind) -> Any:
            calls.append((_kind, claim.version_id if _kind == UnitKind.PARSE else claim.plan_id))
            return _real(rt, claim)

        monkeypatch.setitem(execute.STAGES, kind, counting)

    # when its first document is ingested (which starts the worker and its start-up sweep)
    report = ix.ingest([str(write_doc(docs_dir / "bees.txt", BEES, paragraphs=4))], dataset="docs", wait=True)
    ix.tasks.join()

    # then the version was parsed and the plan bundled by one run each, not also by the sweep
    [plan] = report.documents[0].plans
    assert [c for c in calls if c[0] == UnitKind.PARSE] == [(UnitKind.PARSE, plan.version_id)]
    assert [c[1] for c in calls if c[0] == UnitKind.BUNDLE] == [plan.plan_id]
    assert points(ix, [plan.plan_id]) == plan.chunk_count


def test_units_the_broker_refused_are_left_unsent_for_the_relay(ix: Indexflow) -> None:
    from indexflow.pipeline.register import register_source
    from indexflow.tasks.outbox import Outbox

    # given three committed, never sent units and a broker that takes one message, then refuses
    for n in range(3):
        register_source(ix.rt, dataset="d", source=f"u{n}.txt", data=b"x %d" % n, filename=f"u{n}.txt")
    with ix.rt.sessions() as s:
        ids = list(s.scalars(select(WorkUnit.id).order_by(WorkUnit.id)))
    assert len(ids) == 3
    taken: list[int] = []

    def flaky(kind: UnitKind, unit_id: int) -> None:
        if taken:
            raise ConnectionError("broker went away")
        taken.append(unit_id)

    # when the outbox sends them
    assert Outbox(ix.rt, flaky).send(ids) == 1

    # then the one that went is marked sent, the two refused are unsent again (the relay's)
    with ix.rt.sessions() as s:
        sent = dict(s.execute(select(WorkUnit.id, WorkUnit.sent_at).order_by(WorkUnit.id)).all())
    assert taken == [ids[0]] and sent[ids[0]] is not None
    assert sent[ids[1]] is None and sent[ids[2]] is None
