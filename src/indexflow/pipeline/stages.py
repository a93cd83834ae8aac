"""The pipeline stages: parse → bundle → embed batch. Each runs one claimed work unit.

A stage reads the truth from the database, does its work, and writes the truth back in one
transaction that also deletes its unit (fenced by the claim) and adds the follow-up units (the
outbox), through the plan state machine. It returns what to do after that commit: units to
send, vectors to drop. Every stage is idempotent: running it twice gives the same rows and
points, and a late run whose claim or generation was superseded changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from indexflow.db import documents as docs_repo
from indexflow.db import metadata as meta_repo
from indexflow.db import plans as plans_repo
from indexflow.db import units as units_repo
from indexflow.db.models import ChunkStatus, DocumentVersion, PlanStatus, utcnow
from indexflow.db.session import transaction
from indexflow.db.units import Claim
from indexflow.domain import metadata as md
from indexflow.domain.components import ParsedDocument
from indexflow.domain.context import cut_document, embedded_text
from indexflow.domain.ids import basename, point_id
from indexflow.errors import DimensionMismatch, NotFound
from indexflow.observability import metrics
from indexflow.pipeline import machine
from indexflow.pipeline.machine import Applied
from indexflow.runtime import Runtime
from indexflow.stores.base import VectorPoint

log = logging.getLogger(__name__)


def parse_version(rt: Runtime, claim: Claim) -> Applied:
    """Parse a version's stored bytes into its component tree; then bundle each pending plan.

    The parse runs in a sandbox process (``indexflow.parsers.sandbox``): a document over
    ``parse_timeout_seconds`` or ``parse_max_memory_mb`` fails its version ("parse exceeded
    120 s"), and the worker thread is free again within that time.
    """
    from indexflow.parsers.sandbox import parse_isolated

    version_id = _required(claim.version_id)
    with transaction(rt.sessions) as s:
        version = docs_repo.get_version(s, version_id)
        if version.parsed_at is not None:
            return _parsed(rt, s, version_id, claim)
        blob = docs_repo.load_blob(s, version_id)
        if blob is None:
            return fail_version(rt, version_id, "the document's bytes are gone; ingest it again", s=s)
        data, filename = blob.data, blob.filename
    settings = rt.settings
    parsed = parse_isolated(
        data,
        filename,
        max_bytes=settings.max_document_bytes,
        timeout_seconds=settings.parse_timeout_seconds,
        max_memory_mb=settings.parse_max_memory_mb,
    )
    with transaction(rt.sessions) as s:
        version = docs_repo.get_version(s, version_id)
        if version.parsed_at is None:
            count = docs_repo.replace_components(s, version_id, parsed.components)
            docs_repo.mark_parsed(s, version, parsed.format, parsed.title, count)
            _settle_metadata(s, version, parsed)
            docs_repo.delete_blob(s, version_id)
            if parsed.title:
                docs_repo.adopt_title(s, version.document_id, parsed.title)
        return _parsed(rt, s, version_id, claim)


def _settle_metadata(s: Session, version: DocumentVersion, parsed: ParsedDocument) -> None:
    """The version's searchable metadata: what the parser found, overlaid by the caller's.

    A parser's key whose kind differs from the dataset's is left out (the caller's were checked
    when the document was registered); new keys become known fields of the dataset.
    """
    found: dict[str, Any] = {"title": parsed.title, "format": parsed.format, **parsed.metadata}
    dataset_id = docs_repo.get_document(s, version.document_id).dataset_id
    known = meta_repo.known_fields(s, dataset_id)
    merged = md.merge({k: v for k, v in found.items() if v is not None}, version.user_meta)
    user = version.user_meta or {}
    for key, kind in md.kinds(merged).items():
        have = known.get(key)
        compatible = have is None or have == kind or (have == md.KEYWORD and kind == md.DATETIME)
        if key not in user and not compatible:
            del merged[key]
    version.meta = merged
    meta_repo.add_fields(s, dataset_id, md.kinds(merged))


def _parsed(rt: Runtime, s: Session, version_id: int, claim: Claim) -> Applied:
    units_repo.finish(s, claim)
    out = Applied()
    for plan in plans_repo.for_version(s, version_id, for_update=True):
        out.merge(machine.apply(s, plan, machine.Parsed(), rt.queues))
    return out


def fail_version(rt: Runtime, version_id: int, message: str, *, s: Session | None = None) -> Applied:
    """A version that cannot be parsed fails each of its unfinished plans with the reason."""
    if s is None:
        with transaction(rt.sessions) as own:
            return fail_version(rt, version_id, message, s=own)
    version = docs_repo.find_version_by_id(s, version_id)
    if version is None:
        return Applied()
    version.parse_error = message[:4000]
    units_repo.delete_for_version(s, version_id)
    out = Applied()
    for plan in plans_repo.for_version(s, version_id, for_update=True):
        out.merge(machine.apply(s, plan, machine.Fail(message), rt.queues))
    return out


def bundle_plan(rt: Runtime, claim: Claim) -> Applied:
    """Bundle and chunk a plan's document, persist bundles and chunks in bulk, queue embedding."""
    plan_id, generation = _required(claim.plan_id), claim.generation
    with transaction(rt.sessions) as s:
        plan = plans_repo.get(s, plan_id, for_update=True)
        if not machine.apply(s, plan, machine.BundleStarted(generation), rt.queues).changed:
            units_repo.finish(s, claim)  # superseded or finished: a late duplicate
            return Applied()
        components = docs_repo.load_components(s, plan.version_id)
        profile = plan.profile
        profile_id = profile.id
        target, size, overlap = profile.target_bundle_tokens, profile.chunk_size, profile.chunk_overlap
        template, max_tokens = profile.context_template, profile.max_tokens
        tokenizer = rt.tokenizer(profile)
        doc = docs_repo.get_document(s, plan.document_id)
        version = docs_repo.get_version(s, plan.version_id)
        doc_title, doc_source = version.title or doc.title or basename(doc.source), doc.source

    from indexflow.encoders.tokenizer import joins_at_whitespace

    # One tokenization: component texts are counted for bundling, and (for tokenizers that
    # never look across whitespace) each bundle is cut from its members' encodings.
    cut, contexts = cut_document(
        components,
        tokenizer,
        target_tokens=target,
        chunk_size=size,
        chunk_overlap=overlap,
        max_tokens=max_tokens,
        template=template,
        title=doc_title,
        source=doc_source,
        reuse_encodings=joins_at_whitespace(tokenizer),
    )
    bundles, per_bundle = cut.bundles, cut.chunks
    new_bundles = [
        plans_repo.NewBundle(b.seq, b.title, list(b.component_ids), list(b.paths), b.text, b.token_count)
        for b in bundles
    ]
    new_chunks: list[plans_repo.NewChunk] = []
    for index, (bundle, specs) in enumerate(zip(bundles, per_bundle, strict=True)):
        for spec, context in zip(specs, contexts[index], strict=True):
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
                    context=context,
                )
            )

    with transaction(rt.sessions) as s:
        units_repo.finish(s, claim)
        plan = plans_repo.get(s, plan_id, for_update=True)
        if plan.generation != generation or plan.status != PlanStatus.BUNDLING:
            return Applied()
        plans_repo.replace_bundles(s, plan_id, generation, new_bundles, new_chunks)
        plan.bundle_count = len(new_bundles)
        plan.chunk_count = len(new_chunks)
        plan.embedded_count = 0
        plan.bundled_at = utcnow()
        return machine.apply(s, plan, machine.Bundled(generation, len(new_chunks), claim.embed), rt.queues)


def embed_batch(rt: Runtime, claim: Claim) -> Applied:
    """Embed a batch of chunks, upsert their points, mark them EMBEDDED and complete the plan."""
    plan_id, generation, chunk_ids = _required(claim.plan_id), claim.generation, claim.chunk_ids
    with transaction(rt.sessions) as s:
        plan = plans_repo.get(s, plan_id)
        if plan.generation != generation or plan.status != PlanStatus.EMBEDDING:
            units_repo.finish(s, claim)
            return Applied()
        profile = plan.profile
        doc = docs_repo.get_document(s, plan.document_id)
        chunks = plans_repo.chunks_to_embed(s, plan_id, chunk_ids) if chunk_ids else []
        # The encoder (and the BM25 leg) see the chunk's context header before its text.
        rows = [(c.id, embedded_text(c.context, c.text), c.point_id, c.enabled) for c in chunks]
        tokens = sum(c.token_count for c in chunks)
        # Only what the store filters on: search reads texts, spans and titles from the database.
        base_payload: dict[str, Any] = {
            "plan_id": plan.id,
            "document_id": doc.id,
            "dataset_id": doc.dataset_id,
            "version_id": plan.version_id,
            "profile_id": profile.id,
            "generation": generation,
        }
        meta = docs_repo.get_version(s, plan.version_id).meta
        if meta:  # what search filters on: numbers and datetimes as numbers (domain/metadata.py)
            base_payload["meta"] = md.store_values(meta, meta_repo.known_fields(s, doc.dataset_id))

    points: list[VectorPoint] = []
    collection = profile.collection
    if rows:
        encoder = rt.encoder(profile)
        with metrics.encode_timer(encoder.name):
            vectors = encoder.encode([r[1] for r in rows])  # passages (their prefix, if any)
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
                payload=base_payload | {"chunk_id": cid, "enabled": enabled},
                text=text,
            )
            for (cid, text, pid, enabled), vec in zip(rows, vectors, strict=True)
        ]
    # PGVector in the state database: vectors and chunk status commit in one transaction.
    joined = rt.joined_store
    if points and joined is None:
        with metrics.upsert_timer(rt.store_kind):
            rt.store.upsert(collection, points)

    undo = False
    with transaction(rt.sessions) as s:
        # The plan row lock orders this commit against cancel/deactivate/rerun of the plan.
        current = plans_repo.find(s, plan_id, for_update=True)
        if (
            current is not None
            and current.generation == generation
            and current.status == PlanStatus.EMBEDDING
        ):
            units_repo.finish(s, claim)  # ClaimLost if another worker took this unit over: roll back
            plan = current
            if points and joined is not None:
                with metrics.upsert_timer(rt.store_kind):
                    joined.upsert_in(s, collection, points)
            plans_repo.mark_embedded(s, [r[0] for r in rows])
            metrics.embedded(profile.name, len(rows), tokens)  # counted once this commits
            plan.embedded_count = plans_repo.count_chunks(s, plan_id, generation, ChunkStatus.EMBEDDED)
            remaining = plan.chunk_count - plan.embedded_count
            applied = machine.apply(s, plan, machine.BatchEmbedded(generation, remaining), rt.queues)
            if remaining == 0:  # the plan is complete: maybe the end of a first load (after_commit)
                applied.loaded.append((profile.id, collection))
            return applied
        units_repo.delete_unit(s, claim.unit_id)
        # EMBEDDED at this very generation: another run of this batch completed the plan and
        # wrote the very same points (same ids, same texts): keep them. Anything else (a newer
        # generation, a failed, retired or deleted plan) means nothing this run wrote may stay.
        undo = not (
            current is not None and current.generation == generation and current.status == PlanStatus.EMBEDDED
        )
    if undo and points and joined is None:
        # Only this generation's ids: a newer generation's points are never touched.
        rt.store.delete_points(collection, [p.id for p in points])
    return Applied()


def fail_plan(rt: Runtime, plan_id: int, message: str, chunk_ids: tuple[int, ...] = ()) -> Applied:
    """Fail a plan with a readable reason; its chunks in ``chunk_ids`` are marked FAILED too."""
    with transaction(rt.sessions) as s:
        plan = plans_repo.find(s, plan_id, for_update=True)
        if plan is None:
            return Applied()
        plans_repo.mark_chunks_failed(s, chunk_ids, message)
        return machine.apply(s, plan, machine.Fail(message), rt.queues)


def _required(value: int | None) -> int:
    if value is None:
        raise NotFound("the work unit names no plan or version")
    return value
