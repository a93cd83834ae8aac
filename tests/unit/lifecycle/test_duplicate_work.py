"""Duplicate work (at-least-once delivery, a sweep that resumes a plan) never loses vectors."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from indexflow.pipeline import stages
from indexflow.pipeline.runtime import Work

from .conftest import BEES, CountingEncoder, chunk_rows, points, write_doc


def test_a_duplicate_embed_message_that_loses_the_race_leaves_the_plans_points_in_place(
    ix, docs_dir: Path, monkeypatch
) -> None:
    # given a document registered with its messages held back, then parsed and bundled by hand
    sent: list[Work] = []
    monkeypatch.setattr(ix.tasks, "send_all", sent.extend)
    path = write_doc(docs_dir / "bees.txt", BEES, paragraphs=4)
    report = ix.ingest([str(path)], dataset="docs", wait=False)
    [plan_id] = [p["plan_id"] for p in report.documents[0].plans]
    [parse] = sent
    [bundle] = stages.parse_version(ix.rt, *parse.args)
    [embed] = stages.bundle_plan(ix.rt, *bundle.args)
    assert embed.stage == "embed"

    # when the same embed message is delivered twice and the second copy encodes while the
    # first one is still running, then finishes after the first one completed the plan
    first_done = threading.Event()
    real = ix.rt.encoder
    log: list[int] = []
    lock = threading.Lock()

    class LateEncoder(CountingEncoder):
        def encode(self, texts: Any) -> Any:
            vectors = super().encode(texts)
            if threading.current_thread().name == "late-copy":
                first_done.wait(120)
            return vectors

    monkeypatch.setattr(ix.rt, "encoder", lambda profile: LateEncoder(real(profile), log, lock))
    late = threading.Thread(target=stages.embed_batch, args=(ix.rt, *embed.args), name="late-copy")
    late.start()
    deadline = time.monotonic() + 120
    while not log and late.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)  # until the late copy has read its chunks and encoded them
    assert log, "the late copy never reached the encoder"
    stages.embed_batch(ix.rt, *embed.args)
    first_done.set()
    late.join(timeout=120)

    # then the plan is EMBEDDED and every one of its chunks still has its point
    assert ix.plan(plan_id)["status"] == "EMBEDDED"
    chunks = chunk_rows(ix, plan_id)
    assert points(ix, [plan_id]) == len(chunks) > 0


def test_a_fresh_process_sends_the_work_of_a_new_document_once(ix, docs_dir: Path, monkeypatch) -> None:
    # given a fresh facade whose in-process worker has not started yet
    calls: list[tuple[str, tuple[Any, ...]]] = []
    for name in ("parse_version", "bundle_plan"):
        real = getattr(stages, name)

        def counting(*args: Any, _real: Any = real, _name: str = name) -> Any:
            calls.append((_name, args[1:]))
            return _real(*args)

        monkeypatch.setattr(stages, name, counting)

    # when its first document is ingested (which starts the worker and its start-up sweep)
    report = ix.ingest([str(write_doc(docs_dir / "bees.txt", BEES, paragraphs=4))], dataset="docs", wait=True)
    ix.tasks.join()

    # then the version was parsed and the plan bundled by one message each, not also by the sweep
    [plan] = report.documents[0].plans
    assert [c for c in calls if c[0] == "parse_version"] == [("parse_version", (plan["version_id"],))]
    assert [c[1][0] for c in calls if c[0] == "bundle_plan"] == [plan["plan_id"]]
    assert points(ix, [plan["plan_id"]]) == plan["chunk_count"]
