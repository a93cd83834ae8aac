"""Races on a real PostgreSQL: concurrent registrations of one source, one default profile."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select


def test_concurrent_registrations_of_one_new_source_make_one_document_and_one_plan(
    pg_database: str, tmp_path: Path
) -> None:
    from indexflow.db.models import ChunkPlan, Document, IndexProfile
    from indexflow.pipeline.register import register_source
    from indexflow.runtime import Runtime
    from indexflow.settings import Settings

    rt = Runtime(Settings(home=tmp_path / "home", database_url=pg_database))
    rt.ensure_schema()
    errors: list[BaseException] = []
    rounds, racers = 20, 4
    try:
        for n in range(rounds):
            # given several registrations of the same new source, released at the same instant
            barrier = threading.Barrier(racers)

            def register(n: int = n, barrier: threading.Barrier = barrier) -> None:
                try:
                    barrier.wait(timeout=30)
                    register_source(
                        rt,
                        dataset=f"ds{n % 3}",
                        source=f"doc-{n}.txt",
                        data=b"same bytes %d" % n,
                        filename="d.txt",
                    )
                except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                    errors.append(exc)

            threads = [threading.Thread(target=register) for _ in range(racers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
        # then none failed, and each source is one document with one plan on one default profile
        assert errors == []
        with rt.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Document)) == rounds
            assert s.scalar(select(func.count()).select_from(ChunkPlan)) == rounds
            assert s.scalar(select(func.count()).select_from(IndexProfile)) == 1
    finally:
        rt.close()


def test_a_message_picked_up_at_once_is_never_dropped_by_its_own_mark_sent(
    pg_database: str, tmp_path: Path
) -> None:
    """A claim skips locked rows: the outbox must not hold the unit's row while the message is out.

    It used to send first and mark the units sent after: a worker that got the message within
    milliseconds found the row locked, skipped it and dropped the message, which came back only
    when the sweeper redelivered lost messages (30 s of idle workers later).
    """
    from indexflow import Indexflow
    from indexflow.settings import Settings
    from indexflow.testing import HashEncoder, MemoryStore

    settings = Settings(home=tmp_path / "home", database_url=pg_database, redeliver_after_seconds=600)
    with Indexflow(settings, store=MemoryStore(), encoder=HashEncoder()) as ix:
        # given documents registered one after the other, each sent the moment it commits
        regs = [
            ix.enqueue_source(f"doc{n}.txt", dataset="d", data=f"Document {n} about bees.".encode())
            for n in range(8)
        ]
        # when the in-process worker picks each message up at once, then every one is built
        # without any redelivery (which would take minutes here)
        progress = ix.wait([p for r in regs for p in r.plan_ids], timeout=30)
        assert progress.plans_done == 8 and progress.plans_failed == 0
        assert {p.status for p in ix.plans.list()} == {"EMBEDDED"}
