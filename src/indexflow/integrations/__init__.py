"""Retrievers for RAG frameworks over ``Indexflow.search``.

- ``indexflow.integrations.langchain.IndexflowRetriever`` (``pip install 'indexflow[langchain]'``)
- ``indexflow.integrations.llamaindex.IndexflowRetriever`` (``pip install 'indexflow[llamaindex]'``)

Both give each hit's chunk text with the same metadata (``hit_metadata``), sync and async (the
async path runs the search in a worker thread through ``AsyncIndexflow``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from indexflow.views import Hit


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """A hit's document metadata (``author``, ``year``… as ingested or parsed), then its
    document, bundle, chunk, plan and score (these win a name clash) as flat, JSON-ready metadata."""
    return {
        **hit.document.metadata,
        "document_id": hit.document.id,
        "source": hit.document.source,
        "title": hit.document.title,
        "dataset": hit.document.dataset,
        "bundle_id": hit.bundle.id,
        "bundle_title": hit.bundle.title,
        "bundle_paths": list(hit.bundle.paths),
        "chunk_id": hit.chunk.id,
        "chunk_seq": hit.chunk.seq,
        "char_start": hit.chunk.char_start,
        "char_end": hit.chunk.char_end,
        "plan_id": hit.plan_id,
        "score": hit.score,
    }


def search_kwargs(
    dataset: str,
    k: int,
    profile: str | None,
    mode: str | None,
    max_per_document: int | None,
    document_ids: list[int] | None,
    where: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "where": where,
        "dataset": dataset,
        "k": k,
        "profile": profile,
        "mode": mode,
        "max_per_document": max_per_document,
        "document_ids": document_ids,
    }


__all__ = ["hit_metadata", "search_kwargs"]
