"""AsyncIndexflow: the facade's calls awaited, each in a worker thread; the loop stays free."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from indexflow import AsyncIndexflow
from indexflow.aio import AsyncProxy
from indexflow.views import Hit
from tests.lifecycle_support import BEES, TRAINS, write_doc
from tests.texts import BEE_QUERY

if TYPE_CHECKING:
    from indexflow.service import Indexflow
    from indexflow.settings import Settings

pytestmark = pytest.mark.anyio


async def test_ingest_wait_search_evaluate(ix: Indexflow, tmp_path: Path) -> None:
    bees = write_doc(tmp_path / "in" / "bees.md", BEES, paragraphs=8)
    write_doc(tmp_path / "in" / "trains.md", TRAINS, paragraphs=8)
    async with AsyncIndexflow(ix) as aix:
        report = await aix.ingest([str(tmp_path / "in")], dataset="docs", wait=False)
        plan_ids = [p.plan_id for d in report.documents for p in d.plans]
        progress = await aix.wait(plan_ids, timeout=120)
        assert progress.finished and progress.plans_done == len(plan_ids) == 2

        hits = await aix.search(BEE_QUERY, dataset="docs", k=3)
        assert hits == ix.search(BEE_QUERY, dataset="docs", k=3)
        assert isinstance(hits[0], Hit) and hits[0].document.source.endswith("bees.md")
        groups = await aix.search(BEE_QUERY, dataset="docs", k=2, group_by="document")
        assert [g.document.id for g in groups] == [
            g.document.id for g in ix.search(BEE_QUERY, dataset="docs", k=2, group_by="document")
        ]

        judged = tmp_path / "judged.jsonl"
        judged.write_text(json.dumps({"query": BEE_QUERY, "relevant": [str(bees.resolve())]}) + "\n")
        ev = await aix.evaluate(str(judged), dataset="docs", k=5)
        assert ev.profiles[0].metrics["hit@1"] == 1.0

        # the collaborators are awaitable proxies of the sync ones
        assert isinstance(aix.documents, AsyncProxy)
        listed = await aix.documents.list(dataset="docs")
        assert [d.document_id for d in listed] == [d.document_id for d in ix.documents.list(dataset="docs")]
        assert [p.name for p in await aix.profiles.list()] == [p.name for p in ix.profiles.list()]
        assert aix.sync is ix and aix.in_process and aix.settings is ix.settings


async def test_calls_run_off_the_event_loop(ix: Indexflow, monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    aix = AsyncIndexflow(ix)
    original: Any = ix.search

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(ix, "search", spy)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.001)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        assert await aix.search_hits("anything", dataset="nowhere") == []
        tg.cancel_scope.cancel()
    assert seen and seen[0] != loop_thread
    assert ticks > 0
    with pytest.raises(TypeError, match="group_by"):
        await aix.search_hits("x", group_by="document")


async def test_built_from_arguments_and_closed_by_async_with(settings: Settings) -> None:
    from indexflow.testing import HashEncoder, MemoryStore

    async with AsyncIndexflow(settings=settings, store=MemoryStore(), encoder=HashEncoder()) as aix:
        assert await aix.search_hits(BEE_QUERY, dataset="docs") == []
        assert await aix.progress([]) is not None
    with pytest.raises(TypeError, match="either"):
        AsyncIndexflow(aix.sync, settings=settings)


async def test_wait_times_out_like_the_sync_call(corpus: Indexflow) -> None:
    aix = AsyncIndexflow(corpus)
    report = await aix.enqueue_source("late.md", dataset="docs", data=b"# Late\n\n" + TRAINS.encode() * 4)
    prog = await aix.wait(report.plan_ids, timeout=60)
    assert prog.finished
