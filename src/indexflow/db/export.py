"""Repository: a dataset's searchable chunks, streamed for ``indexflow export``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indexflow.db.models import Bundle, Chunk, ChunkPlan, Document, DocumentVersion


def active_chunks(
    s: Session, dataset_id: int, profile_id: int, *, batch: int = 500
) -> Iterator[tuple[Chunk, Bundle, Document, dict[str, Any] | None]]:
    """(chunk, bundle, document, version metadata) of every chunk search may show in this dataset and profile.

    The visibility rule of ``db/search.py`` (chunk enabled, plan active and at its serving
    generation, document active), in document, plan and chunk order. Rows are streamed
    ``batch`` at a time (a server-side cursor on PostgreSQL), so memory stays flat.
    """
    stmt = (
        select(Chunk, Bundle, Document, DocumentVersion.meta)
        .join(ChunkPlan, ChunkPlan.id == Chunk.plan_id)
        .join(Bundle, Bundle.id == Chunk.bundle_id)
        .join(Document, Document.id == ChunkPlan.document_id)
        .join(DocumentVersion, DocumentVersion.id == ChunkPlan.version_id)
        .where(
            Document.dataset_id == dataset_id,
            ChunkPlan.profile_id == profile_id,
            Chunk.enabled,
            ChunkPlan.is_active,
            Chunk.generation == ChunkPlan.serving_generation,
            Document.is_active,
        )
        .order_by(Document.id, Chunk.plan_id, Chunk.seq)
        .execution_options(yield_per=batch)
    )
    for chunk, bundle, doc, meta in s.execute(stmt):
        yield chunk, bundle, doc, meta
        for row in (chunk, bundle, doc):  # the identity map would otherwise keep every row read
            if row in s:
                s.expunge(row)
