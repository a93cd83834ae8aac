"""Search: store hits joined with the database, which alone decides what is visible.

Three retrieval modes over one profile's collection: ``dense`` (the embedding's nearest
neighbours), ``sparse`` (the profile's BM25 leg) and ``hybrid`` (both, fused by reciprocal rank
fusion). Results can be spread across documents (``max_per_document``) or grouped by document
(``group_by="document"``: documents ranked by their best chunk, with their top chunks as
evidence). Both over-fetch from the store until enough visible, distinct results are found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from indexflow.db import documents as docs_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db import search as search_repo
from indexflow.db.session import transaction
from indexflow.encoders.base import encode_queries
from indexflow.errors import InvalidRequest, NotFound
from indexflow.runtime import Runtime
from indexflow.stores.base import SearchFilter, StoreHit
from indexflow.views import DocumentGroup, Hit, HitBundle, HitChunk, HitDocument

Mode = Literal["dense", "sparse", "hybrid"]
MODES: tuple[str, ...] = ("dense", "sparse", "hybrid")
RRF_K = 60
"""Reciprocal rank fusion constant (Cormack et al. 2009; Qdrant, Elasticsearch and Vespa use 60)."""
EVIDENCE_DEFAULT = 3
"""Chunks shown per document by ``group_by="document"`` when ``max_per_document`` is not set."""
_ROUNDS = 6


@dataclass(frozen=True, slots=True)
class _Target:
    collection: str
    dataset_id: int
    dataset_name: str
    lexical: bool
    profile_id: int


def search(
    rt: Runtime,
    query: str,
    *,
    dataset: str = "default",
    k: int = 10,
    profile: str | None = None,
    document_ids: list[int] | None = None,
    mode: str | None = None,
    max_per_document: int | None = None,
) -> list[Hit]:
    """Return the ``k`` best visible chunks for ``query`` in ``dataset``.

    Args:
        mode: ``dense``, ``sparse`` or ``hybrid``; default ``hybrid`` for a profile with a
            lexical leg, else ``dense``.
        max_per_document: at most this many chunks of one document (0: no limit); default the
            ``max_per_document`` setting.

    Every store hit is checked against the database (active document, active plan, serving
    generation, enabled chunk), so a plan swap or a deactivation is visible at once.

    Raises:
        NotFound: ``profile`` names no profile.
        InvalidRequest: an unknown mode, or a lexical mode on a profile without a lexical leg.
    """
    cap = rt.settings.max_per_document if max_per_document is None else max_per_document
    if cap < 0:
        raise InvalidRequest("max_per_document must be 0 (no limit) or more")
    if k < 1:
        return []
    target = _target(rt, dataset, profile)
    if target is None:
        return []
    legs = _legs(target, mode)

    def kept(hits: list[Hit]) -> list[Hit]:
        return _cap(hits, cap)[:k]

    hits = _fetch(rt, target, query, legs, document_ids, k, lambda hits: len(kept(hits)) >= k)
    return kept(hits)


def search_documents(
    rt: Runtime,
    query: str,
    *,
    dataset: str = "default",
    k: int = 10,
    profile: str | None = None,
    document_ids: list[int] | None = None,
    mode: str | None = None,
    max_per_document: int | None = None,
) -> list[DocumentGroup]:
    """The ``k`` best documents for ``query``, ranked by their best chunk, each with its top
    chunks (``max_per_document`` of them, default 3) as evidence."""
    per_doc = max_per_document or EVIDENCE_DEFAULT
    if max_per_document is not None and max_per_document < 0:
        raise InvalidRequest("max_per_document must be 0 (default evidence) or more")
    if k < 1:
        return []
    target = _target(rt, dataset, profile)
    if target is None:
        return []
    legs = _legs(target, mode)
    hits = _fetch(rt, target, query, legs, document_ids, k, lambda hits: len(_groups(hits, per_doc)) >= k)
    return _groups(hits, per_doc)[:k]


def _target(rt: Runtime, dataset: str, profile: str | None) -> _Target | None:
    with transaction(rt.readers) as s:
        try:
            ds = docs_repo.get_dataset(s, dataset)
        except NotFound:
            return None
        prof = (
            profiles_repo.get_by_name(s, profile)
            if profile
            else profiles_repo.search_default(s, rt.settings.default_profile)
        )
        if prof is None:
            return None
        return _Target(prof.collection, ds.id, ds.name, prof.lexical, prof.id)


def _legs(target: _Target, mode: str | None) -> tuple[str, ...]:
    chosen = mode or ("hybrid" if target.lexical else "dense")
    if chosen not in MODES:
        raise InvalidRequest(f"mode must be one of {', '.join(MODES)}, not {chosen!r}")
    if chosen != "dense" and not target.lexical:
        raise InvalidRequest(
            f"mode {chosen!r} needs a profile with a lexical (BM25) leg; this profile has none: "
            "clone it with --lexical (indexflow profiles clone NAME NEW --lexical)"
        )
    return ("dense", "sparse") if chosen == "hybrid" else (chosen,)


def _fetch(
    rt: Runtime,
    target: _Target,
    query: str,
    legs: tuple[str, ...],
    document_ids: list[int] | None,
    k: int,
    enough: Callable[[list[Hit]], bool],
) -> list[Hit]:
    """Visible hits, best first, read from the store in growing pages until ``enough``."""
    filters = SearchFilter(
        dataset_ids=(target.dataset_id,), document_ids=tuple(document_ids) if document_ids else None
    )
    vector = None
    if "dense" in legs:
        with transaction(rt.readers) as s:
            prof = profiles_repo.get(s, target.profile_id)
            encoder = rt.encoder(prof)
        vector = encode_queries(encoder, [query])[0]
    limit = k * 3 + 10
    hits: list[Hit] = []
    reread = False
    for _ in range(_ROUNDS):
        ranked: list[list[StoreHit]] = []
        for leg in legs:
            if leg == "dense":
                assert vector is not None
                ranked.append(rt.store.search(target.collection, vector, limit, filters))
            else:
                ranked.append(rt.store.search_lexical(target.collection, query, limit, filters))
        raw = ranked[0] if len(ranked) == 1 else _fuse(ranked)
        hits = _join(rt, raw, target.dataset_name)
        if enough(hits):
            break
        if any(len(r) >= limit for r in ranked):
            limit *= 4
            continue
        # The database hid some hits: a swap may have committed between the store read and the
        # join (the new plan's points are written before it is activated, so a store read that
        # came first has none of them). One more store read, made after that commit, sees them.
        if len(hits) < len(raw) and not reread:
            reread = True
            continue
        break
    return hits


def _fuse(rankings: list[list[StoreHit]]) -> list[StoreHit]:
    """Reciprocal rank fusion: each point scores Σ 1 / (RRF_K + rank) over the lists it is in."""
    scores: dict[str, float] = {}
    first: dict[str, StoreHit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, 1):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (RRF_K + rank)
            first.setdefault(hit.id, hit)
    order = sorted(scores, key=lambda pid: -scores[pid])
    return [StoreHit(id=pid, score=scores[pid], payload=first[pid].payload) for pid in order]


def _cap(hits: list[Hit], cap: int) -> list[Hit]:
    """Hits in order, keeping at most ``cap`` per document (0: all)."""
    if cap == 0:
        return hits
    per_doc: dict[int, int] = {}
    out: list[Hit] = []
    for h in hits:
        n = per_doc.get(h.document.id, 0)
        if n < cap:
            per_doc[h.document.id] = n + 1
            out.append(h)
    return out


def _groups(hits: list[Hit], per_doc: int) -> list[DocumentGroup]:
    groups: dict[int, DocumentGroup] = {}
    for h in hits:
        group = groups.get(h.document.id)
        if group is None:
            groups[h.document.id] = DocumentGroup(score=h.score, document=h.document, hits=[h])
        elif len(group.hits) < per_doc:
            group.hits.append(h)
    return list(groups.values())


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
