"""Search hits: the chunk, its bundle (parent context) and its document."""

from __future__ import annotations

from indexflow.views.base import View


class HitDocument(View):
    id: int
    source: str
    title: str | None
    dataset: str


class HitBundle(View):
    id: int
    seq: int
    title: str
    paths: list[str]
    text: str


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
