"""Chunks: the token windows a plan embeds."""

from __future__ import annotations

from indexflow.db.models import (
    Chunk,
)
from indexflow.views.base import View


class ChunkView(View):
    chunk_id: int
    seq: int
    bundle_seq: int
    status: str
    enabled: bool
    token_count: int
    char_start: int
    char_end: int
    text: str

    @classmethod
    def of(cls, c: Chunk) -> ChunkView:
        return cls(
            chunk_id=c.id,
            seq=c.seq,
            bundle_seq=c.bundle_seq,
            status=c.status.value,
            enabled=c.enabled,
            token_count=c.token_count,
            char_start=c.char_start,
            char_end=c.char_end,
            text=c.text,
        )


class ChunkList(View):
    chunks: list[ChunkView]


class ChunkToggle(View):
    chunk_id: int
    enabled: bool
