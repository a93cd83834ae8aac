"""Search: store hits joined with the database, which alone decides what is visible.

Three retrieval modes over one profile's collection: ``dense`` (the embedding's nearest
neighbours), ``sparse`` (the profile's BM25 leg) and ``hybrid`` (both, fused by reciprocal rank
fusion). Results can be spread across documents (``max_per_document``) or grouped by document
(``group_by="document"``: documents ranked by their best chunk, with their top chunks as
evidence). Both over-fetch from the store until enough visible, distinct results are found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from indexflow.db import documents as docs_repo
from indexflow.db import metadata as meta_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db import search as search_repo
from indexflow.db.session import transaction
from indexflow.domain import metadata as md
from indexflow.encoders.base import encode_queries
from indexflow.errors import InvalidRequest, NotFound, invalid_request
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
    fields: dict[str, str]  # the dataset's metadata fields and their kinds


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
    where: Mapping[str, Any] | None = None,
    full_bundle: bool = False,
) -> list[Hit]:
    """Return the ``k`` best visible chunks for ``query`` in ``dataset``.

    Args:
        mode: ``dense``, ``sparse`` or ``hybrid``; default ``hybrid`` for a profile with a
            lexical leg, else ``dense``.
        max_per_document: at most this many chunks of one document (0: no limit); default the
            ``max_per_document`` setting.
        where: metadata filter (``domain/metadata.py``): ``{"team": "ops", "year": {"gte":
            2020}, "tag": ["a", "b"]}``; every key must be one the dataset's documents have.
        full_bundle: each hit's ``bundle.text`` is the whole bundle, not a window of at most
            ``hit_context_chars`` around the chunk.

    Every store hit is checked against the database (active document, active plan, serving
    generation, enabled chunk), so a plan swap or a deactivation is visible at once.

    Raises:
        NotFound: ``profile`` names no profile.
        InvalidRequest: an unknown mode, a lexical mode on a profile without a lexical leg, or
            a ``where`` on an unknown field or with a value that does not fit the field.
    """
    cap = rt.settings.max_per_document if max_per_document is None else max_per_document
    if cap < 0:
        raise InvalidRequest("max_per_document must be 0 (no limit) or more")
    plan = _prepare(rt, dataset, profile, mode, document_ids, where, full_bundle)
    if plan is None or k < 1:
        return []

    def kept(hits: list[Hit]) -> list[Hit]:
        return _cap(hits, cap)[:k]

    return kept(_fetch(rt, plan, query, k, lambda hits: len(kept(hits)) >= k))


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
    where: Mapping[str, Any] | None = None,
    full_bundle: bool = False,
) -> list[DocumentGroup]:
    """The ``k`` best documents for ``query``, ranked by their best chunk, each with its top
    chunks (``max_per_document`` of them, default 3) as evidence; options as :func:`search`."""
    per_doc = max_per_document or EVIDENCE_DEFAULT
    if max_per_document is not None and max_per_document < 0:
        raise InvalidRequest("max_per_document must be 0 (default evidence) or more")
    plan = _prepare(rt, dataset, profile, mode, document_ids, where, full_bundle)
    if plan is None or k < 1:
        return []
    hits = _fetch(rt, plan, query, k, lambda hits: len(_groups(hits, per_doc)) >= k)
    return _groups(hits, per_doc)[:k]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one search reads: the target, its legs, the store filter and the hit window."""

    target: _Target
    legs: tuple[str, ...]
    filters: SearchFilter
    window: int  # characters of bundle text per hit (0: the whole bundle)


def _prepare(
    rt: Runtime,
    dataset: str,
    profile: str | None,
    mode: str | None,
    document_ids: list[int] | None,
    where: Mapping[str, Any] | None,
    full_bundle: bool,
) -> _Plan | None:
    """Check the options and resolve the target (None: nothing to search: no such dataset)."""
    target = _target(rt, dataset, profile)
    with invalid_request():
        if target is None:
            if where:  # still an error to name a field no document has
                md.parse_where(where, {})
            return None
        conditions = md.parse_where(where, target.fields) if where else ()
    legs = _legs(target, mode)
    filters = SearchFilter(
        dataset_ids=(target.dataset_id,),
        document_ids=tuple(document_ids) if document_ids else None,
        metadata=conditions,
    )
    return _Plan(target, legs, filters, 0 if full_bundle else rt.settings.hit_context_chars)


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
        fields = meta_repo.known_fields(s, ds.id)
        return _Target(prof.collection, ds.id, ds.name, prof.lexical, prof.id, fields)


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


def _fetch(rt: Runtime, plan: _Plan, query: str, k: int, enough: Callable[[list[Hit]], bool]) -> list[Hit]:
    """Visible hits, best first, read from the store in growing pages until ``enough``."""
    target, legs, filters = plan.target, plan.legs, plan.filters
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
        hits = _join(rt, raw, target.dataset_name, plan.window)
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


def window(text: str, start: int, end: int, size: int) -> tuple[int, int]:
    """The span of at most ``size`` characters of ``text`` around ``[start, end)``, widened
    evenly on both sides and cut at whitespace where one is near; the whole text if it fits
    (or ``size`` is 0). A chunk longer than ``size`` keeps its start."""
    n = len(text)
    if size <= 0 or n <= size:
        return 0, n
    start, end = max(0, min(start, n)), max(0, min(end, n))
    if end - start >= size:
        return start, start + size
    spare = size - (end - start)
    lo = max(0, start - spare // 2)
    hi = min(n, lo + size)
    lo = max(0, hi - size)  # near the end: take the spare room before the chunk
    if lo > 0:  # start at a word: the first whitespace within 40 characters
        space = text.find(" ", lo, min(start, lo + 40))
        lo = space + 1 if space != -1 else lo
    if hi < n:
        space = text.rfind(" ", max(end, hi - 40), hi)
        hi = space if space != -1 else hi
    return lo, hi


def _join(rt: Runtime, raw: list[StoreHit], dataset_name: str, size: int) -> list[Hit]:
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
        chunk, bundle, doc, meta = row
        lo, hi = window(bundle.text, chunk.char_start, chunk.char_end, size)
        out.append(
            Hit(
                score=float(h.score),
                text=chunk.text,
                document=HitDocument(
                    id=doc.id, source=doc.source, title=doc.title, dataset=dataset_name, metadata=meta or {}
                ),
                bundle=HitBundle(
                    id=bundle.id,
                    seq=bundle.seq,
                    title=bundle.title,
                    paths=list(bundle.paths),
                    text=bundle.text[lo:hi],
                    text_start=lo,
                    truncated=hi - lo < len(bundle.text),
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
