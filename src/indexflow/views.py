"""What the facade returns: typed, plain views (never ORM objects).

Every public method of ``Indexflow`` and its collaborators returns one of these. They are
pydantic models, so the HTTP API serves them as its ``response_model`` and the CLI prints
``view.to_dict()`` as JSON; timestamps are ISO 8601 strings in UTC with their offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from indexflow.db.models import (
    ApiKey,
    Chunk,
    ChunkPlan,
    Document,
    IndexProfile,
    PlanStatus,
    WorkerBeat,
    as_utc,
)


class View(BaseModel):
    """Base of every view: immutable, JSON-ready with ``to_dict``."""

    model_config = ConfigDict(frozen=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset (SQLite hands datetimes back naive; all are UTC)."""
    return as_utc(dt).isoformat() if dt is not None else None


# -- plans ------------------------------------------------------------------------------------------
class PlanView(View):
    """A chunk plan: one document version cut and embedded under one profile."""

    plan_id: int
    document_id: int
    version_id: int
    profile: str
    status: str = Field(description="PENDING | PARSED | BUNDLING | BUNDLED | EMBEDDING | EMBEDDED | FAILED")
    is_active: bool = Field(description="this plan serves search for its (document, profile)")
    generation: int
    bundle_count: int | None
    chunk_count: int | None
    embedded_count: int | None
    last_error: str | None
    attempts: int
    retrying: str | None = Field(description="why an unfinished plan waits, and until when")
    created_at: str | None
    bundled_at: str | None
    embedded_at: str | None
    activated_at: str | None

    @classmethod
    def of(cls, p: ChunkPlan) -> PlanView:
        return cls(
            plan_id=p.id,
            document_id=p.document_id,
            version_id=p.version_id,
            profile=p.profile.name,
            status=p.status.value,
            is_active=p.is_active,
            generation=p.generation,
            bundle_count=p.bundle_count,
            chunk_count=p.chunk_count,
            embedded_count=p.embedded_count,
            last_error=p.last_error,
            attempts=p.attempts,
            retrying=retrying(p),
            created_at=iso(p.created_at),
            bundled_at=iso(p.bundled_at),
            embedded_at=iso(p.embedded_at),
            activated_at=iso(p.activated_at),
        )


def retrying(p: ChunkPlan) -> str | None:
    """Why an unfinished plan waits: "store unavailable: … since 10:42:07, next try 10:47:07"."""
    if p.retry_reason is None or p.status in (PlanStatus.EMBEDDED, PlanStatus.FAILED):
        return None
    since = f" since {as_utc(p.retry_since):%H:%M:%S} UTC" if p.retry_since else ""
    nxt = f", next try {as_utc(p.retry_at):%H:%M:%S} UTC" if p.retry_at else ""
    return f"{p.retry_reason}{since}{nxt}"


def document_status(plans: Sequence[ChunkPlan]) -> str:
    """One word for a document: FAILED if any plan failed, else the least advanced plan's status."""
    if not plans:
        return "PENDING"
    statuses = {p.status for p in plans}
    if PlanStatus.FAILED in statuses:
        return "FAILED"
    order = list(PlanStatus)
    return min(statuses, key=order.index).value


class PlanChanges(View):
    """A page of plans changed after a cursor (the status event stream), and the next cursor."""

    plans: list[PlanView]
    cursor: tuple[datetime, int]
    full_page: bool


# -- progress -------------------------------------------------------------------------------------
@dataclass(slots=True)
class Progress:
    """Where a set of plans stands, read from the database."""

    registered: int
    plans_total: int
    parsed: int
    bundled: int
    plans_done: int
    plans_failed: int
    chunks_total: int
    chunks_embedded: int

    @property
    def finished(self) -> bool:
        return self.plans_done >= self.plans_total

    @classmethod
    def of(cls, rows: list[Any], *, registered: int | None = None) -> Progress:
        done = sum(1 for r in rows if r.status in (PlanStatus.EMBEDDED, PlanStatus.FAILED))
        return cls(
            registered=registered if registered is not None else len(rows),
            plans_total=len(rows),
            parsed=sum(1 for r in rows if r.parsed_at is not None or r.status == PlanStatus.FAILED),
            bundled=sum(1 for r in rows if r.bundled_at is not None or r.status == PlanStatus.FAILED),
            plans_done=done,
            plans_failed=sum(1 for r in rows if r.status == PlanStatus.FAILED),
            chunks_total=sum(r.chunk_count or 0 for r in rows),
            chunks_embedded=sum(r.embedded_count or 0 for r in rows),
        )


# -- documents --------------------------------------------------------------------------------------
class DocumentView(View):
    """One document in full: identity, serving version, timestamps and every plan."""

    document_id: int
    dataset: str
    source: str
    title: str | None
    is_active: bool
    current_version_id: int | None
    created_at: str | None
    updated_at: str | None
    deactivated_at: str | None
    plans: list[PlanView]

    @classmethod
    def of(cls, d: Document, plans: Sequence[ChunkPlan]) -> DocumentView:
        return cls(
            document_id=d.id,
            dataset=d.dataset.name,
            source=d.source,
            title=d.title,
            is_active=d.is_active,
            current_version_id=d.current_version_id,
            created_at=iso(d.created_at),
            updated_at=iso(d.updated_at),
            deactivated_at=iso(d.deactivated_at),
            plans=[PlanView.of(p) for p in plans],
        )


class DocumentReport(View):
    """A document's status line: one word for it, its plans and the first error."""

    source: str
    status: str
    document_id: int | None = None
    title: str | None = None
    dataset: str | None = None
    outcome: str | None = Field(default=None, description="new | changed | unchanged | resumed (ingest)")
    is_active: bool = True
    plans: list[PlanView] = Field(default_factory=list)
    error: str | None = None


class DocumentList(View):
    documents: list[DocumentReport]


class DocumentRemoval(View):
    """What a deactivation or a deletion took out of search."""

    document_id: int
    source: str
    plans: list[int]


class IngestReport(View):
    """The outcome of ``ingest``: one entry per document, and the folder files skipped."""

    dataset: str
    documents: list[DocumentReport]
    skipped: list[str] = Field(default_factory=list, description="folder files of unsupported types")

    @property
    def failed(self) -> list[DocumentReport]:
        return [d for d in self.documents if d.status == "FAILED"]

    @property
    def ok(self) -> bool:
        return not self.failed

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.documents:
            out[d.status] = out.get(d.status, 0) + 1
        return out

    @property
    def plan_ids(self) -> list[int]:
        return [p.plan_id for d in self.documents for p in d.plans]


class Registered(View):
    """A document registered and its work sent, without waiting for it."""

    document_id: int
    version_id: int
    plan_ids: list[int]
    outcome: str = Field(description="new | changed | unchanged | resumed")


class Accepted(Registered):
    """HTTP 202 for an upload: the registration and where to follow it."""

    status_url: str


# -- chunks -----------------------------------------------------------------------------------------
class ChunkView(View):
    chunk_id: int
    seq: int
    bundle_seq: int
    status: str
    enabled: bool
    token_count: int
    char_start: int
    char_end: int
    text: str

    @classmethod
    def of(cls, c: Chunk) -> ChunkView:
        return cls(
            chunk_id=c.id,
            seq=c.seq,
            bundle_seq=c.bundle_seq,
            status=c.status.value,
            enabled=c.enabled,
            token_count=c.token_count,
            char_start=c.char_start,
            char_end=c.char_end,
            text=c.text,
        )


class ChunkList(View):
    chunks: list[ChunkView]


class ChunkToggle(View):
    chunk_id: int
    enabled: bool


# -- profiles ---------------------------------------------------------------------------------------
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
        )


class ProfileList(View):
    profiles: list[ProfileView]


class ProfileActivation(ProfileView):
    """An activated profile and the plans its activation started (one per active document)."""

    plans_enqueued: int
    plan_ids: list[int]


# -- maintenance ------------------------------------------------------------------------------------
class PurgeReport(View):
    """What a purge removed (or, with ``dry_run``, would remove)."""

    model_config = ConfigDict(frozen=False)

    dry_run: bool
    preserve_vectors: bool
    documents: list[int] = Field(default_factory=list)
    plans: list[int] = Field(default_factory=list)
    chunks: int = 0
    points: int = 0
    profiles: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)


class ReconcileReport(View):
    """Store against database: orphan points, detached collections, plans missing points."""

    model_config = ConfigDict(frozen=False)

    fixed: bool
    orphan_points: dict[str, list[str]] = Field(default_factory=dict, description="collection -> ids")
    plans_missing_points: list[int] = Field(default_factory=list)
    detached_collections: dict[str, int] = Field(
        default_factory=dict, description="collections of profiles that no longer exist -> points"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def orphan_count(self) -> int:
        return sum(len(v) for v in self.orphan_points.values())

    @property
    def findings(self) -> bool:
        return bool(self.orphan_count or self.plans_missing_points or self.detached_collections)


class WorkerView(View):
    """A live worker process (its heartbeat is recent)."""

    id: str
    host: str
    pid: int
    queues: list[str]
    threads: int
    running_units: list[int]
    started_at: str | None
    last_beat: str | None
    idle_since: str | None

    @classmethod
    def of(cls, w: WorkerBeat) -> WorkerView:
        return cls(
            id=w.id,
            host=w.host,
            pid=w.pid,
            queues=list(w.queues),
            threads=w.threads,
            running_units=list(w.running),
            started_at=iso(w.started_at),
            last_beat=iso(w.beat_at),
            idle_since=iso(w.idle_since),
        )


class Health(View):
    status: str = Field(description="ok | degraded (a queue has no live worker)")
    broker: str = Field(description="in-process | external")
    workers: dict[str, int] = Field(description="live workers per queue")
    queues_without_workers: list[str]


# -- search -----------------------------------------------------------------------------------------
class HitDocument(View):
    id: int
    source: str
    title: str | None
    dataset: str


class HitBundle(View):
    id: int
    seq: int
    title: str
    paths: list[str]
    text: str


class HitChunk(View):
    id: int
    seq: int
    char_start: int
    char_end: int
    token_count: int


class Hit(View):
    """One search result: the chunk, its bundle (parent context) and its document."""

    score: float
    text: str
    document: HitDocument
    bundle: HitBundle
    chunk: HitChunk
    plan_id: int


class SearchResponse(View):
    hits: list[Hit]


# -- API keys ---------------------------------------------------------------------------------------
ROLES = ("read", "write", "admin")
"""API key roles, weakest first: each may do what the ones before it may."""


class KeyView(View):
    """An API key as listed: never its secret nor its hash."""

    name: str
    prefix: str = Field(description="the secret's first characters, to tell keys apart")
    role: str = Field(description="read | write | admin")
    datasets: list[str] | None = Field(description="the datasets it may see; null = every dataset")
    created_at: str | None
    last_used_at: str | None = Field(description="last request it authenticated (to the minute)")
    revoked_at: str | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def of(cls, k: ApiKey) -> KeyView:
        return cls(
            name=k.name,
            prefix=k.prefix,
            role=k.role,
            datasets=None if k.datasets is None else list(k.datasets),
            created_at=iso(k.created_at),
            last_used_at=iso(k.last_used_at),
            revoked_at=iso(k.revoked_at),
        )


class CreatedKey(KeyView):
    """A key just created, with its secret: shown this once, only its hash is stored."""

    secret: str = Field(description="send as `Authorization: Bearer <secret>`; not shown again")


class Principal(View):
    """Who an HTTP request acts for: an API key's name, role and datasets.

    ``name`` is None while no API key exists: the API is open (local use) and may do everything.
    """

    name: str | None
    role: str = Field(description="read | write | admin")
    datasets: list[str] | None = Field(description="the datasets it may see; null = every dataset")

    @classmethod
    def keyless(cls) -> Principal:
        """The caller of an API that has no key yet: every role, every dataset."""
        return cls(name=None, role="admin", datasets=None)

    @property
    def scope(self) -> frozenset[str] | None:
        """The datasets to restrict to, for the facade's ``datasets=`` arguments (None: all)."""
        return None if self.datasets is None else frozenset(self.datasets)

    def allows(self, role: str) -> bool:
        """Whether this role is at least ``role`` (read < write < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def sees(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets
