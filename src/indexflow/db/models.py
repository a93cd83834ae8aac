"""SQLAlchemy 2 models: the single source of truth for every status (spec 002 §1)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sa_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Every String size is a constant of indexflow.limits, which the checks before each write use.
from indexflow.limits import (
    COMPONENT_ID_MAX,
    COMPONENT_KIND_MAX,
    DATASET_NAME_MAX,
    DISTANCE_MAX,
    ENCODER_NAME_MAX,
    EVENT_TYPE_MAX,
    FILENAME_MAX,
    FINGERPRINT_MAX,
    FORMAT_NAME_MAX,
    METADATA_KEY_MAX,
    PROFILE_NAME_MAX,
    SOURCE_MAX,
    TITLE_MAX,
    WEBHOOK_SECRET_MAX,
    WEBHOOK_URL_MAX,
)

# BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """SQLite hands datetimes back naive; every timestamp indexflow writes is UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class PlanStatus(enum.StrEnum):
    PENDING = "PENDING"
    BUNDLING = "BUNDLING"
    READY = "READY"
    EMBEDDING = "EMBEDDING"
    EMBEDDED = "EMBEDDED"
    FAILED = "FAILED"


class ChunkStatus(enum.StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    EMBEDDED = "EMBEDDED"
    FAILED = "FAILED"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as VARCHAR + CHECK, so adding a status never needs a Postgres ALTER TYPE.
    return Enum(cls, name=name, native_enum=False, length=16, validate_strings=True)


class Dataset(Base):
    __tablename__ = "datasets"
    # Never reuse an id on SQLite: ids name collections and seed point ids.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(DATASET_NAME_MAX), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("dataset_id", "source", name="uq_documents_dataset_source"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(SOURCE_MAX))
    title: Mapped[str | None] = mapped_column(String(TITLE_MAX))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_text("true"))
    current_version_id: Mapped[int | None] = mapped_column(BigId)
    # ETag/size/mtime of the source when last read: an unchanged remote object is not downloaded
    source_fingerprint: Mapped[str | None] = mapped_column(String(FINGERPRINT_MAX))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deactivated_at: Mapped[datetime | None]

    dataset: Mapped[Dataset] = relationship(lazy="joined")


class DocumentVersion(Base):
    __tablename__ = "document_versions"
    __table_args__ = (
        UniqueConstraint("document_id", "content_hash", name="uq_versions_document_hash"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    byte_size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str | None] = mapped_column(String(FORMAT_NAME_MAX))
    title: Mapped[str | None] = mapped_column(String(TITLE_MAX))
    component_count: Mapped[int] = mapped_column(Integer, default=0)
    parse_error: Mapped[str | None] = mapped_column(Text)
    # what the caller gave with this content (part of the version's identity: see content_hash)
    user_meta: Mapped[dict[str, Any] | None] = mapped_column("user_metadata", JSON)
    # what search filters on and returns: the parser's findings overlaid by user_meta (at parse)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    parsed_at: Mapped[datetime | None]


class MetadataField(Base):
    """A metadata key some document of a dataset holds, and its kind (what filters it takes)."""

    __tablename__ = "metadata_fields"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(METADATA_KEY_MAX), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # keyword | number | bool | datetime


class DocumentBlob(Base):
    """The raw bytes of a version until it is parsed, so any worker on any machine can parse it."""

    __tablename__ = "document_blobs"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("document_versions.id", ondelete="CASCADE"), primary_key=True
    )
    filename: Mapped[str | None] = mapped_column(String(FILENAME_MAX))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Component(Base):
    __tablename__ = "components"
    __table_args__ = (Index("ix_components_version_seq", "version_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # preorder index
    local_id: Mapped[str] = mapped_column(String(COMPONENT_ID_MAX))
    parent_local_id: Mapped[str | None] = mapped_column(String(COMPONENT_ID_MAX))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(COMPONENT_KIND_MAX))
    text: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)


class IndexProfile(Base):
    __tablename__ = "index_profiles"
    __table_args__ = (
        # At most one profile is the one search uses when none is named.
        Index(
            "uq_profiles_one_default",
            "is_default",
            unique=True,
            sqlite_where=sa_text("is_default"),
            postgresql_where=sa_text("is_default"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(PROFILE_NAME_MAX), unique=True)
    encoder: Mapped[str] = mapped_column(String(ENCODER_NAME_MAX))
    tokenizer: Mapped[str] = mapped_column(String(ENCODER_NAME_MAX))
    dimension: Mapped[int] = mapped_column(Integer)
    distance: Mapped[str] = mapped_column(String(DISTANCE_MAX), default="cosine")
    max_tokens: Mapped[int] = mapped_column(Integer)
    chunk_size: Mapped[int] = mapped_column(Integer)
    chunk_overlap: Mapped[int] = mapped_column(Integer)
    target_bundle_tokens: Mapped[int] = mapped_column(Integer)
    hnsw_m: Mapped[int] = mapped_column(Integer, default=16)
    hnsw_ef_construct: Mapped[int] = mapped_column(Integer, default=100)
    # Retrieval options (immutable once the profile has plans, like every parameter above).
    lexical: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_text("false"))
    context_template: Mapped[str | None] = mapped_column(Text, default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_text("true"))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_text("false"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def collection(self) -> str:
        return f"indexflow_p{self.id}"


class ChunkPlan(Base):
    __tablename__ = "chunk_plans"
    __table_args__ = (
        UniqueConstraint("version_id", "profile_id", name="uq_plans_version_profile"),
        # Exactly one active plan per (document, profile), enforced by the database.
        Index(
            "uq_plans_active_per_document_profile",
            "document_id",
            "profile_id",
            unique=True,
            sqlite_where=sa_text("is_active"),
            postgresql_where=sa_text("is_active"),
        ),
        Index("ix_plans_status", "status"),
        Index("ix_plans_document", "document_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id", ondelete="CASCADE"))
    profile_id: Mapped[int] = mapped_column(ForeignKey("index_profiles.id", ondelete="CASCADE"))
    status: Mapped[PlanStatus] = mapped_column(_enum(PlanStatus, "plan_status"), default=PlanStatus.PENDING)
    last_error: Mapped[str | None] = mapped_column(Text)
    bundle_count: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    embedded_count: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_text("false"))
    # Fence: bumped by rerun/deactivate/purge so a late, superseded worker's writes are undone.
    # It is also the generation being built; ``serving_generation`` is the one search shows, so
    # an active plan that is rebuilt keeps serving its old chunks until the new ones are embedded.
    generation: Mapped[int] = mapped_column(Integer, default=0)
    serving_generation: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A transient failure being waited out (never a status): why, since when, next try.
    retry_reason: Mapped[str | None] = mapped_column(Text)
    retry_since: Mapped[datetime | None]
    retry_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    bundled_at: Mapped[datetime | None]
    embedded_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]

    profile: Mapped[IndexProfile] = relationship(lazy="joined")


class Bundle(Base):
    __tablename__ = "bundles"
    __table_args__ = (
        UniqueConstraint("plan_id", "generation", "seq", name="uq_bundles_plan_generation_seq"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("chunk_plans.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    component_ids: Mapped[list[str]] = mapped_column(JSON)
    paths: Mapped[list[str]] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("plan_id", "generation", "seq", name="uq_chunks_plan_generation_seq"),
        Index("ix_chunks_plan_generation_status", "plan_id", "generation", "status"),
        Index("ix_chunks_point", "point_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("chunk_plans.id", ondelete="CASCADE"))
    bundle_id: Mapped[int] = mapped_column(ForeignKey("bundles.id", ondelete="CASCADE"), index=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(Integer)  # within the plan
    bundle_seq: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # The profile's context header (title, section path) embedded in front of ``text``; the
    # text and its span stay the document's own. None when the profile has no template.
    context: Mapped[str | None] = mapped_column(Text, default=None)
    token_count: Mapped[int] = mapped_column(Integer)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    status: Mapped[ChunkStatus] = mapped_column(
        _enum(ChunkStatus, "chunk_status"), default=ChunkStatus.PENDING
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_text("true"))
    point_id: Mapped[str] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime | None]
    embedded_at: Mapped[datetime | None]


class UnitKind(enum.StrEnum):
    PARSE = "parse"
    BUNDLE = "bundle"
    EMBED = "embed"


class WorkUnit(Base):
    """One unit of work (a parse, a bundle, an embed batch): the outbox row and its claim.

    Written in the transaction that makes its work visible; a relay sends it (``sent_at``); a
    worker claims it when it starts (``claim_token``, ``claim_until`` extended by heartbeats);
    the transaction that finishes the work deletes it. Waiting in a queue never counts: only an
    expired claim (the worker died or hung) or a message never sent is re-sent.
    """

    __tablename__ = "work_units"
    __table_args__ = (
        Index("ix_units_unsent", "sent_at", "not_before"),
        Index("ix_units_claim", "claim_until"),
        Index("ix_units_plan", "plan_id"),
        Index("ix_units_version", "version_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[UnitKind] = mapped_column(_enum(UnitKind, "unit_kind"))
    queue: Mapped[str] = mapped_column(String(200))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("document_versions.id", ondelete="CASCADE"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("chunk_plans.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(Integer, default=0)
    chunk_ids: Mapped[list[int] | None] = mapped_column(JSON)
    embed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    not_before: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claim_until: Mapped[datetime | None]
    executions: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    resends: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_since: Mapped[datetime | None]


class WorkerBeat(Base):
    """A live worker process: what it listens to and what it runs, refreshed by its heartbeat."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[list[str]] = mapped_column(JSON)
    threads: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(default=utcnow)
    running: Mapped[list[int]] = mapped_column(JSON, default=list)  # unit ids running now
    idle_since: Mapped[datetime | None]


class ApiKey(Base):
    """A key for the HTTP API: its role and the datasets it may see (null = every dataset).

    Only the sha256 of the secret is stored; ``prefix`` (the secret's first characters) tells
    keys apart in listings. A revoked key stays, so its name is not reused by accident.
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('read', 'write', 'admin')", name="ck_api_keys_role"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    datasets: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Webhook(Base):
    """A receiver of signed event notifications (``indexflow webhooks add``).

    ``secret`` is kept as given, since signing needs it (it is never listed); ``events`` and
    ``dataset`` filter what it receives (null = every event type, every dataset). ``failures``
    and ``retry_at`` are the receiver's backoff: while it fails, none of its deliveries is tried
    before ``retry_at``, so a receiver that is down gets one attempt per backoff interval.
    """

    __tablename__ = "webhooks"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(String(WEBHOOK_URL_MAX))
    secret: Mapped[str] = mapped_column(String(WEBHOOK_SECRET_MAX))
    events: Mapped[list[str] | None] = mapped_column(JSON)
    dataset: Mapped[str | None] = mapped_column(String(DATASET_NAME_MAX))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One event for one webhook: the webhooks' outbox row.

    Written in the transaction whose status change is the event (nothing is sent for a change
    that rolled back), claimed by a delivery loop (``claim_token``, ``claim_until``), POSTed
    after that commit, and marked ``delivered_at`` once the receiver answered 2xx. ``body`` is
    the exact JSON that is signed and sent, the same on every attempt.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_pending", "delivered_at", "claim_until"),
        Index("ix_webhook_deliveries_webhook", "webhook_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(EVENT_TYPE_MAX))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    claim_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
