"""One exported chunk (``ix.export``, ``indexflow export``): flat, one row a chunk."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from indexflow.views.base import View


class ExportRow(View):
    """A searchable chunk with its document, its bundle (parent context) and, when asked for
    and readable from the store, its vector."""

    dataset: str
    profile: str
    document_id: int
    source: str
    title: str | None
    plan_id: int
    bundle_id: int
    bundle_title: str
    bundle_paths: list[str]
    chunk_id: int
    seq: int
    point_id: str
    char_start: int
    char_end: int
    token_count: int
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)  # the version's metadata (parser + caller)
    vector: list[float] | None = None
