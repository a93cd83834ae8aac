"""Repository: the visibility join that decides which vector hits search may show."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indexflow.db.models import Bundle, Chunk, ChunkPlan, Document, DocumentVersion


def visible_chunks(
    s: Session, point_ids: Sequence[str]
) -> dict[str, tuple[Chunk, Bundle, Document, dict[str, Any] | None]]:
    """Point id -> (chunk, bundle, document, version metadata) for the points search may show now.

    Visible means: the chunk is enabled, its plan is active and this is the generation it serves
    (a plan being rebuilt serves its old generation until the new one is swapped in), and its
    document is active. One transaction swaps a version, so this never shows both nor neither.
    """
    if not point_ids:
        return {}
    rows = s.execute(
        select(Chunk, Bundle, Document, DocumentVersion.meta)
        .join(ChunkPlan, ChunkPlan.id == Chunk.plan_id)
        .join(Bundle, Bundle.id == Chunk.bundle_id)
        .join(Document, Document.id == ChunkPlan.document_id)
        .join(DocumentVersion, DocumentVersion.id == ChunkPlan.version_id)
        .where(
            Chunk.point_id.in_(list(point_ids)),
            Chunk.enabled,
            ChunkPlan.is_active,
            Chunk.generation == ChunkPlan.serving_generation,
            Document.is_active,
        )
    ).all()
    return {chunk.point_id: (chunk, bundle, doc, meta) for chunk, bundle, doc, meta in rows}
