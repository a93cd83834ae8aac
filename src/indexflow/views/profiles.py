"""Index profiles."""

from __future__ import annotations

from indexflow.db.models import (
    IndexProfile,
)
from indexflow.views.base import View


class ProfileView(View):
    """An index profile: encoder, tokenizer, chunking and HNSW parameters, and its collection."""

    id: int
    name: str
    is_active: bool
    collection: str
    encoder: str
    tokenizer: str
    dimension: int
    distance: str
    max_tokens: int
    chunk_size: int
    chunk_overlap: int
    target_bundle_tokens: int
    hnsw_m: int
    hnsw_ef_construct: int
    lexical: bool = False
    """The collection also holds a BM25 leg: search defaults to hybrid (dense + BM25, RRF)."""
    context_template: str | None = None
    """Header of title and section path embedded in front of each chunk (None: none)."""
    is_default: bool = False
    """The profile search uses when none is named (``profiles default``)."""

    @classmethod
    def of(cls, p: IndexProfile) -> ProfileView:
        return cls(
            id=p.id,
            name=p.name,
            is_active=p.is_active,
            collection=p.collection,
            encoder=p.encoder,
            tokenizer=p.tokenizer,
            dimension=p.dimension,
            distance=p.distance,
            max_tokens=p.max_tokens,
            chunk_size=p.chunk_size,
            chunk_overlap=p.chunk_overlap,
            target_bundle_tokens=p.target_bundle_tokens,
            hnsw_m=p.hnsw_m,
            hnsw_ef_construct=p.hnsw_ef_construct,
            lexical=bool(p.lexical),
            context_template=p.context_template,
            is_default=bool(p.is_default),
        )


class ProfileDeactivation(ProfileView):
    """A deactivated profile, and the profile search uses from now on when none is named."""

    search_default: str | None = None
    """The profile a search without ``profile`` uses now: never this one (when it was the one,
    search moved to another active profile, now marked the default)."""
    note: str | None = None
    """What the deactivation means for a search that names no profile ("search now uses 'v2';
    make another the default with `indexflow profiles default NAME`")."""


class ProfileList(View):
    profiles: list[ProfileView]


class ProfileActivation(ProfileView):
    """An activated profile and the plans its activation started (one per active document)."""

    plans_enqueued: int
    plan_ids: list[int]
