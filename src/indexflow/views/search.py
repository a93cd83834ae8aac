"""Search hits: the chunk, its bundle (parent context) and its document."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from indexflow.views.base import View


class HitDocument(View):
    id: int
    source: str
    title: str | None
    dataset: str
    metadata: dict[str, Any] = Field(default_factory=dict)  # the version's: parser's and caller's


class HitBundle(View):
    """The chunk's bundle (its parent section): ``text`` is a window of the bundle around the
    chunk, ``text_start`` its offset in the bundle and ``truncated`` whether it is only part of
    it (``hit_context_chars``; ``search(full_bundle=True)`` returns it whole)."""

    id: int
    seq: int
    title: str
    paths: list[str]
    text: str
    text_start: int = 0
    truncated: bool = False


class HitChunk(View):
    id: int
    seq: int
    char_start: int
    char_end: int
    token_count: int


class Hit(View):
    """One search result: the chunk, its bundle (parent context) and its document."""

    score: float
    text: str
    document: HitDocument
    bundle: HitBundle
    chunk: HitChunk
    plan_id: int


class DocumentGroup(View):
    """One document of a ``group_by="document"`` search: its best chunk's score and its top
    chunks (best first) as evidence."""

    score: float
    document: HitDocument
    hits: list[Hit]


class SearchResponse(View):
    hits: list[Hit]


class DocumentSearchResponse(View):
    documents: list[DocumentGroup]
