"""Search: vector hits joined with the database, which alone decides what is visible."""

from __future__ import annotations

from sqlalchemy.orm import Session

from indexflow.db import documents as docs_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db import search as search_repo
from indexflow.db.models import IndexProfile
from indexflow.db.session import transaction
from indexflow.errors import NotFound
from indexflow.runtime import Runtime
from indexflow.stores.base import SearchFilter, StoreHit
from indexflow.views import Hit, HitBundle, HitChunk, HitDocument


def search(
    rt: Runtime,
    query: str,
    *,
    dataset: str = "default",
    k: int = 10,
    profile: str | None = None,
    document_ids: list[int] | None = None,
) -> list[Hit]:
    """Return the ``k`` best visible chunks for ``query`` in ``dataset``.

    The store is over-fetched and every hit is checked against the database (active document,
    active plan, enabled chunk), so a plan swap or a deactivation is visible at once.
    """
    if k < 1:
        return []
    with transaction(rt.readers) as s:
        try:
            ds = docs_repo.get_dataset(s, dataset)
        except NotFound:
            return []
        prof = profiles_repo.find_by_name(s, profile or rt.settings.default_profile)
        if prof is None:
            if profile:
                raise NotFound(f"index profile {profile!r} does not exist")
            prof = _first_active(s)
        if prof is None:
            return []
        collection, dataset_id, dataset_name = prof.collection, ds.id, ds.name
    vector = rt.encoder(prof).encode([query])[0]
    filters = SearchFilter(
        dataset_ids=(dataset_id,), document_ids=tuple(document_ids) if document_ids else None
    )
    limit = k * 3 + 10
    hits: list[Hit] = []
    reread = False
    for _ in range(5):
        raw = rt.store.search(collection, vector, limit, filters)
        hits = _join(rt, raw, dataset_name)
        if len(hits) >= k:
            break
        if len(raw) >= limit:
            limit *= 4
            continue
        # The database hid some hits: a swap may have committed between the store read and the
        # join (the new plan's points are written before it is activated, so a store read that
        # came first has none of them). One more store read, made after that commit, sees them.
        if len(hits) < len(raw) and not reread:
            reread = True
            continue
        break
    return hits[:k]


def _first_active(s: Session) -> IndexProfile | None:
    active = profiles_repo.active(s)
    return active[0] if active else None


def _join(rt: Runtime, raw: list[StoreHit], dataset_name: str) -> list[Hit]:
    if not raw:
        return []
    with transaction(rt.readers) as s:
        by_point = search_repo.visible_chunks(s, [h.id for h in raw])
    out: list[Hit] = []
    seen: set[str] = set()
    for h in raw:
        row = by_point.get(h.id)
        if row is None or h.id in seen:
            continue
        seen.add(h.id)
        chunk, bundle, doc = row
        out.append(
            Hit(
                score=float(h.score),
                text=chunk.text,
                document=HitDocument(id=doc.id, source=doc.source, title=doc.title, dataset=dataset_name),
                bundle=HitBundle(
                    id=bundle.id,
                    seq=bundle.seq,
                    title=bundle.title,
                    paths=list(bundle.paths),
                    text=bundle.text,
                ),
                chunk=HitChunk(
                    id=chunk.id,
                    seq=chunk.seq,
                    char_start=chunk.char_start,
                    char_end=chunk.char_end,
                    token_count=chunk.token_count,
                ),
                plan_id=chunk.plan_id,
            )
        )
    return out
