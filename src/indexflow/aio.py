"""``AsyncIndexflow``: the facade for asyncio apps (FastAPI, Starlette, aiohttp, …).

Every call of ``Indexflow`` blocks (database, vector store, model), so each one runs in a
worker thread (``anyio.to_thread.run_sync``) and the event loop stays free::

    from indexflow import AsyncIndexflow

    async with AsyncIndexflow() as aix:              # or AsyncIndexflow(ix) around your own
        await aix.ingest(["./docs"], dataset="docs")
        hits = await aix.search("how do I install it?", dataset="docs", k=5)
        docs = await aix.documents.list(dataset="docs")   # every collaborator, awaited

The collaborators (``documents``, ``plans``, ``chunks``, ``profiles``, ``maintenance``,
``keys``, ``webhooks``, ``export``) are async proxies: each method call returns an awaitable
that runs the sync method in a thread (``aix.sync`` is the wrapped ``Indexflow``, for anything
else). Callbacks such as ``on_progress`` are called in that worker thread, not on the loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import anyio.to_thread

if TYPE_CHECKING:
    from indexflow.query.evaluate import QueriesArg
    from indexflow.service import Indexflow
    from indexflow.settings import Settings
    from indexflow.views import DocumentGroup, EvalReport, GateResult, Hit, IngestReport, Progress


class AsyncProxy:
    """Awaitable methods over a sync collaborator: ``await proxy.list(...)`` runs
    ``target.list(...)`` in a worker thread. Attributes that are not methods are read as is."""

    def __init__(self, target: object) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await anyio.to_thread.run_sync(functools.partial(value, *args, **kwargs))

        return call

    def __repr__(self) -> str:
        return f"AsyncProxy({self._target!r})"


class AsyncIndexflow:
    """``Indexflow`` with awaitable calls, each run in a worker thread.

    Args:
        ix: an ``Indexflow`` to wrap (it is closed with this object); by default one is built
            from ``settings``, ``store``, ``encoder`` and ``overrides`` as ``Indexflow`` does.
    """

    def __init__(
        self,
        ix: Indexflow | None = None,
        *,
        settings: Settings | None = None,
        **kwargs: Any,
    ) -> None:
        if ix is None:
            from indexflow.service import Indexflow

            ix = Indexflow(settings, **kwargs)
        elif settings is not None or kwargs:
            raise TypeError("pass either an Indexflow or the arguments to build one, not both")
        self.sync: Indexflow = ix
        self.documents = AsyncProxy(ix.documents)
        self.plans = AsyncProxy(ix.plans)
        self.chunks = AsyncProxy(ix.chunks)
        self.profiles = AsyncProxy(ix.profiles)
        self.maintenance = AsyncProxy(ix.maintenance)
        self.keys = AsyncProxy(ix.keys)
        self.webhooks = AsyncProxy(ix.webhooks)
        self.export = AsyncProxy(ix.export)

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    # -- lifecycle --------------------------------------------------------------------------------
    async def aclose(self) -> None:
        await self._run(self.sync.close)

    async def __aenter__(self) -> AsyncIndexflow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def settings(self) -> Settings:
        return self.sync.settings

    @property
    def in_process(self) -> bool:
        return self.sync.in_process

    async def start_worker(self) -> None:
        await self._run(self.sync.start_worker)

    # -- the facade ------------------------------------------------------------------------------
    async def ingest(self, paths: Iterable[str] | str, **kwargs: Any) -> IngestReport:
        """``Indexflow.ingest`` (same arguments); with ``wait`` the waiting happens in the thread."""
        report: IngestReport = await self._run(self.sync.ingest, paths, **kwargs)
        return report

    async def enqueue_source(self, source: Any, **kwargs: Any) -> Any:
        """``Indexflow.enqueue_source``: register one document and send its work."""
        return await self._run(self.sync.enqueue_source, source, **kwargs)

    async def wait(
        self,
        plan_ids: list[int],
        *,
        on_progress: Callable[[Progress], None] | None = None,
        timeout: float | None = None,
        poll: float = 0.25,
    ) -> Progress:
        """``Indexflow.wait``: until every plan is EMBEDDED or FAILED (``TimeoutError`` after
        ``timeout`` s)."""
        prog: Progress = await self._run(
            self.sync.wait, plan_ids, on_progress=on_progress, timeout=timeout, poll=poll
        )
        return prog

    async def progress(self, plan_ids: list[int]) -> Progress:
        prog: Progress = await self._run(self.sync.progress, plan_ids)
        return prog

    async def search(self, query: str, **kwargs: Any) -> list[Hit] | list[DocumentGroup]:
        """``Indexflow.search`` (``dataset``, ``k``, ``profile``, ``document_ids``, ``mode``,
        ``max_per_document``, ``where``, ``full_bundle``, ``group_by``)."""
        hits: list[Hit] | list[DocumentGroup] = await self._run(self.sync.search, query, **kwargs)
        return hits

    async def search_hits(self, query: str, **kwargs: Any) -> list[Hit]:
        """``search`` without ``group_by``, typed as a list of ``Hit``."""
        if kwargs.get("group_by") is not None:
            raise TypeError("search_hits returns chunks: use search(..., group_by='document')")
        hits: list[Hit] = await self._run(self.sync.search, query, **kwargs)
        return hits

    async def evaluate(self, queries: QueriesArg, **kwargs: Any) -> EvalReport:
        """``Indexflow.evaluate`` (``dataset``, ``profiles``, ``k``, ``mode``, ``max_per_document``)."""
        report: EvalReport = await self._run(self.sync.evaluate, queries, **kwargs)
        return report

    async def switch_default(self, name: str, **kwargs: Any) -> GateResult:
        result: GateResult = await self._run(self.sync.switch_default, name, **kwargs)
        return result

    async def export_to(
        self,
        dataset: str,
        out: IO[str] | str | Path,
        *,
        fmt: str = "jsonl",
        profile: str | None = None,
        vectors: bool = False,
    ) -> int:
        """``ix.export.write`` in one thread (the rows are streamed there); returns the row count."""
        n: int = await self._run(
            self.sync.export.write, dataset, out, fmt=fmt, profile=profile, vectors=vectors
        )
        return n


__all__ = ["AsyncIndexflow", "AsyncProxy"]
