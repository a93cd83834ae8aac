"""Documents: one in full, status lines, removals, ingest reports, registrations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, computed_field

from indexflow.db.models import (
    ChunkPlan,
    Document,
)
from indexflow.views.base import View, iso
from indexflow.views.plans import PlanView


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
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="the current version's metadata (the parser's and the caller's)"
    )

    @classmethod
    def of(
        cls, d: Document, plans: Sequence[ChunkPlan], metadata: dict[str, Any] | None = None
    ) -> DocumentView:
        return cls(
            metadata=metadata or {},
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
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="the current version's metadata (the parser's and the caller's)"
    )


class DocumentList(View):
    documents: list[DocumentReport]


class DocumentRemoval(View):
    """What a deactivation or a deletion took out of search."""

    document_id: int
    source: str
    plans: list[int]


class IngestReport(View):
    """The outcome of ``ingest``: one entry per document, the folder files skipped and, with
    ``sync``, the sources deactivated because they are gone."""

    dataset: str
    documents: list[DocumentReport]
    skipped: list[str] = Field(default_factory=list, description="folder files of unsupported types")
    deactivated: list[str] = Field(
        default_factory=list, description="with sync: sources no longer listed, taken out of search"
    )

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
