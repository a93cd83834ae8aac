"""Chunks: list a plan's chunks, hide one from search or show it again."""

from __future__ import annotations

import builtins
from collections.abc import Collection

from indexflow.db import plans as plans_repo
from indexflow.manage.context import Context
from indexflow.views import ChunkToggle, ChunkView


class Chunks:
    """``ix.chunks``: the token windows a plan embeds.

    With ``datasets``, a chunk or plan of a document outside these datasets is missing
    (``NotFound``) exactly like an id that does not exist (how an API key's scope is applied).
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def list(
        self, plan_id: int, *, limit: int = 1000, datasets: Collection[str] | None = None
    ) -> builtins.list[ChunkView]:
        """The chunks of the plan's serving generation (its building one if none serves yet)."""
        with self._ctx.read() as s:
            chunks = plans_repo.list_chunks(s, plan_id, limit=limit, datasets=datasets)
            return [ChunkView.of(c) for c in chunks]

    def set_enabled(
        self, chunk_id: int, enabled: bool, *, datasets: Collection[str] | None = None
    ) -> ChunkToggle:
        """Disable (or re-enable) one chunk in search without re-embedding anything."""
        with self._ctx.write() as s:
            chunk = plans_repo.set_chunk_enabled(s, chunk_id, enabled, datasets=datasets)
            collection, point = plans_repo.get(s, chunk.plan_id).profile.collection, chunk.point_id
        self._ctx.store.set_enabled(collection, [point], enabled)
        return ChunkToggle(chunk_id=chunk_id, enabled=enabled)

    def disable(self, chunk_id: int, *, datasets: Collection[str] | None = None) -> ChunkToggle:
        return self.set_enabled(chunk_id, False, datasets=datasets)

    def enable(self, chunk_id: int, *, datasets: Collection[str] | None = None) -> ChunkToggle:
        return self.set_enabled(chunk_id, True, datasets=datasets)
