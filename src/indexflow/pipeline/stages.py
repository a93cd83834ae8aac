"""The pipeline stages: parse → bundle → queue embedding → embed batch → complete.

Each stage takes ids, reads the truth from the database, does its work, writes the truth back
and returns the follow-up ``Work`` for the caller to send *after* its transaction committed.
Every stage is idempotent: running it twice gives the same rows and the same points.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db.models import ChunkStatus, Document, PlanStatus, utcnow
from indexflow.db.session import transaction
from indexflow.domain.bundler import build_bundles
from indexflow.domain.chunker import split_texts
from indexflow.domain.ids import point_id
from indexflow.errors import DimensionMismatch, PermanentError
from indexflow.pipeline.activation import activate_when_embedded, drop_plan_vectors
from indexflow.pipeline.runtime import Runtime, Work
from indexflow.stores.base import VectorPoint

log = logging.getLogger(__name__)


def _lease(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.lease_seconds)


def parse_version(rt: Runtime, version_id: int) -> list[Work]:
    """Parse a version's stored bytes into its component tree; then bundle each pending plan."""
    from indexflow.parsers import parse

    with transaction(rt.sessions) as s:
        version = docs_repo.get_version(s, version_id)
        if version.parsed_at is not None:
            return _bundle_work(rt, s, version_id)
        blob = docs_repo.load_blob(s, version_id)
        if blob is None:
            raise PermanentError("the document's bytes are gone; ingest it again")
        data, filename = blob.data, blob.filename
    try:
        parsed = parse(data, filename, max_bytes=rt.settings.max_document_bytes)
    except PermanentError as exc:
        fail_version(rt, version_id, str(exc))
        return []
    with transaction(rt.sessions) as s:
        version = docs_repo.get_version(s, version_id)
        if version.parsed_at is not None:  # a duplicate message won the race
            return _bundle_work(rt, s, version_id)
        count = docs_repo.replace_components(s, version_id, parsed.components)
        docs_repo.mark_parsed(s, version, parsed.format, parsed.title, count)
        docs_repo.delete_blob(s, version_id)
        doc = s.get(Document, version.document_id)
        if doc is not None and parsed.title and (doc.title is None or doc.title == _basename(doc.source)):
            doc.title = parsed.title[:500]
        return _bundle_work(rt, s, version_id)


def _basename(source: str) -> str:
    return source.rstrip("/").rsplit("/", 1)[-1]


def _bundle_work(rt: Runtime, s, version_id: int) -> list[Work]:  # type: ignore[no-untyped-def]
    work = []
    for plan in plans_repo.for_version(s, version_id):
        if plan.status == PlanStatus.PENDING:
            plan.lease_until = utcnow() + _lease(rt)
            work.append(Work("bundle", (plan.id, plan.generation)))
    return work


def fail_version(rt: Runtime, version_id: int, message: str) -> None:
    """A version that cannot be parsed fails each of its unfinished plans with the reason."""
    with transaction(rt.sessions) as s:
        version = docs_repo.get_version(s, version_id)
        version.parse_error = message[:4000]
        for plan in plans_repo.for_version(s, version_id):
            if plan.status in plans_repo.NON_TERMINAL:
                plans_repo.fail(s, plan, message)


def bundle_plan(rt: Runtime, plan_id: int, generation: int, embed: bool = True) -> list[Work]:
    """Bundle and chunk a plan's document, persist bundles and chunks in bulk, queue embedding.

    With ``embed=False`` the plan stops at READY (``rerun_plan(requeue_embedding=False)``).
    """
    with transaction(rt.sessions) as s:
        plan = plans_repo.find(s, plan_id, for_update=True)
        if plan is None or plan.generation != generation or plan.status != PlanStatus.PENDING:
            # Superseded, finished, or being bundled right now: a duplicate message. (A bundler
            # that died leaves BUNDLING; the sweeper puts it back to PENDING when its lease ends.)
            return []
        version = docs_repo.get_version(s, plan.version_id)
        if version.parsed_at is None:
            return [Work("parse", (version.id,))]
        plan.status = PlanStatus.BUNDLING
        plan.attempts += 1
        plan.lease_until = utcnow() + _lease(rt)
        components = docs_repo.load_components(s, plan.version_id)
        profile = plan.profile
        profile_id = profile.id
        target, size, overlap = profile.target_bundle_tokens, profile.chunk_size, profile.chunk_overlap
        tokenizer = rt.tokenizer(profile)

    from indexflow.encoders.tokenizer import count_tokens

    counts = count_tokens([c.text for c in components], tokenizer)
    bundles = build_bundles(components, dict(zip((c.id for c in components), counts, strict=True)), target)
    per_bundle = split_texts([b.text for b in bundles], tokenizer, size, overlap)
    new_bundles = [
        plans_repo.NewBundle(b.seq, b.title, list(b.component_ids), list(b.paths), b.text, b.token_count)
        for b in bundles
    ]
    new_chunks: list[plans_repo.NewChunk] = []
    for index, (bundle, specs) in enumerate(zip(bundles, per_bundle, strict=True)):
        for spec in specs:
            seq = len(new_chunks)
            new_chunks.append(
                plans_repo.NewChunk(
                    bundle_index=index,
                    seq=seq,
                    bundle_seq=bundle.seq,
                    text=spec.text,
                    token_count=spec.token_count,
                    char_start=spec.char_start,
                    char_end=spec.char_end,
                    point_id=point_id(profile_id, plan_id, seq, generation),
                )
            )

    with transaction(rt.sessions) as s:
        plan = plans_repo.find(s, plan_id, for_update=True)
        if plan is None or plan.generation != generation or plan.status != PlanStatus.BUNDLING:
            return []
        plans_repo.replace_bundles(s, plan_id, new_bundles, new_chunks)
        plan.bundle_count = len(new_bundles)
        plan.chunk_count = len(new_chunks)
        plan.embedded_count = 0
        plan.bundled_at = utcnow()
        if not new_chunks:
            plans_repo.fail(s, plan, "the document has no text to index")
            return []
        plan.status = PlanStatus.READY
        plan.lease_until = None if not embed else plan.lease_until
    return queue_embedding(rt, plan_id, generation) if embed else []


def queue_embedding(rt: Runtime, plan_id: int, generation: int) -> list[Work]:
    """Mark a READY plan's unembedded chunks QUEUED and emit one embed message per batch."""
    with transaction(rt.sessions) as s:
        plan = plans_repo.find(s, plan_id, for_update=True)
        if plan is None or plan.generation != generation:
            return []
        if plan.status not in (PlanStatus.READY, PlanStatus.EMBEDDING):
            return []
        batches = plans_repo.queue_batches(s, plan_id, rt.settings.embed_batch_size)
        plan.status = PlanStatus.EMBEDDING
        plan.lease_until = utcnow() + _lease(rt)
        return [Work("embed", (plan_id, generation, ids)) for ids in batches]


def embed_batch(rt: Runtime, plan_id: int, generation: int, chunk_ids: Sequence[int]) -> list[Work]:
    """Embed a batch of chunks, upsert their points, mark them EMBEDDED and complete the plan."""
    with transaction(rt.sessions) as s:
        plan = plans_repo.find(s, plan_id)
        if plan is None or plan.generation != generation or plan.status != PlanStatus.EMBEDDING:
            return []
        profile = plan.profile
        doc = docs_repo.get_document(s, plan.document_id)
        chunks = plans_repo.chunks_to_embed(s, plan_id, chunk_ids) if chunk_ids else []
        rows = [(c.id, c.seq, c.bundle_seq, c.text, c.token_count, c.point_id, c.enabled) for c in chunks]
        base_payload = {
            "plan_id": plan.id,
            "document_id": doc.id,
            "dataset_id": doc.dataset_id,
            "version_id": plan.version_id,
            "profile_id": profile.id,
        }
        bundle_components = _bundle_components(s, plan_id, {r[2] for r in rows}) if rows else {}

    points: list[VectorPoint] = []
    collection = profile.collection
    if rows:
        encoder = rt.encoder(profile)
        vectors = encoder.encode([r[3] for r in rows])
        if vectors.shape[1] != profile.dimension:
            raise DimensionMismatch(
                f"encoder {profile.encoder!r} gives {vectors.shape[1]}-d vectors but profile "
                f"{profile.name!r} declares {profile.dimension}"
            )
        collection = rt.ensure_collection(profile)
        points = [
            VectorPoint(
                id=pid,
                vector=vec,
                payload=base_payload
                | {
                    "chunk_id": cid,
                    "chunk_seq": seq,
                    "bundle_seq": bseq,
                    "component_ids": bundle_components.get(bseq, []),
                    "token_count": ntok,
                    "text": text,
                    "enabled": enabled,
                },
            )
            for (cid, seq, bseq, text, ntok, pid, enabled), vec in zip(rows, vectors, strict=True)
        ]
    # PGVector in the state database: vectors and chunk status commit in one transaction.
    shared = rt.store_shares_database
    if points and not shared:
        rt.store.upsert(collection, points)

    superseded_ids: list[tuple[int, str]] = []
    with transaction(rt.sessions) as s:
        plan = plans_repo.find(s, plan_id, for_update=True)
        fenced = (
            plan is None
            or plan.generation != generation
            or plan.status
            not in (
                PlanStatus.EMBEDDING,
                PlanStatus.EMBEDDED,
            )
        )
        # EMBEDDED with the same generation: a duplicate of a batch that already completed the
        # plan wrote the very same points (deterministic ids, same texts); nothing to undo or mark.
        if not fenced and plan is not None and plan.status == PlanStatus.EMBEDDING:
            if points and shared:
                raw = s.connection().connection.driver_connection
                rt.store.upsert(collection, points, conn=raw)  # type: ignore[call-arg]
            plans_repo.mark_embedded(s, [r[0] for r in rows])
            plan.embedded_count = plans_repo.count_chunks(s, plan_id, ChunkStatus.EMBEDDED)
            plan.lease_until = utcnow() + _lease(rt)
            if plan.embedded_count >= plan.chunk_count:
                plan.status = PlanStatus.EMBEDDED
                plan.embedded_at = utcnow()
                plan.lease_until = None
                superseded = activate_when_embedded(s, plan)
                superseded_ids = [(p.id, p.profile.collection) for p in superseded]
    if fenced:
        # A rerun, purge or deactivation overtook this batch: undo what it wrote.
        if points and not shared:
            rt.store.delete_points(collection, [p.id for p in points])
        return []
    for old_plan_id, old_collection in superseded_ids:
        drop_plan_vectors(rt, old_plan_id, old_collection)
    return []


def _bundle_components(s, plan_id: int, seqs: set[int]) -> dict[int, list[str]]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from indexflow.db.models import Bundle

    rows = s.execute(
        select(Bundle.seq, Bundle.component_ids).where(Bundle.plan_id == plan_id, Bundle.seq.in_(seqs))
    )
    return {seq: list(ids) for seq, ids in rows}


def fail_plan(rt: Runtime, plan_id: int, message: str, chunk_ids: Sequence[int] = ()) -> None:
    """Fail a plan with a readable reason; its chunks in ``chunk_ids`` are marked FAILED too."""
    with transaction(rt.sessions) as s:
        plan = plans_repo.find(s, plan_id, for_update=True)
        if plan is None or plan.status == PlanStatus.EMBEDDED:
            return
        plans_repo.mark_chunks_failed(s, chunk_ids, message)
        plans_repo.fail(s, plan, message)
        collection = plan.profile.collection
        was_active = plan.is_active
    if not was_active:
        # Nothing of a failed plan stays in the store (it was never searchable: not active).
        drop_plan_vectors(rt, plan_id, collection)
