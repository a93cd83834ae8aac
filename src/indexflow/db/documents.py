"""Repository: datasets, documents, versions, blobs and component trees."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from indexflow.db.models import (
    ChunkPlan,
    Component,
    Dataset,
    Document,
    DocumentBlob,
    DocumentVersion,
    PlanStatus,
    utcnow,
)
from indexflow.db.session import insert_or_find
from indexflow.domain import components as dc
from indexflow.domain.ids import basename
from indexflow.errors import NotFound


def get_or_create_dataset(s: Session, name: str) -> Dataset:
    found = s.scalar(select(Dataset).where(Dataset.name == name))
    if found is not None:
        return found
    # Created concurrently by another process: take that one.
    return insert_or_find(
        s, Dataset(name=name), lambda: s.scalar(select(Dataset).where(Dataset.name == name))
    )[0]


def get_dataset(s: Session, name: str, *, datasets: Collection[str] | None = None) -> Dataset:
    """The dataset ``name``; outside ``datasets`` (when given) it does not exist either."""
    ds = s.scalar(select(Dataset).where(Dataset.name == name))
    if ds is None or (datasets is not None and name not in datasets):
        raise NotFound(f"dataset {name!r} does not exist")
    return ds


def list_datasets(s: Session) -> list[Dataset]:
    return list(s.scalars(select(Dataset).order_by(Dataset.name)))


def find_document_by_id(s: Session, document_id: int) -> Document | None:
    return s.get(Document, document_id)


def get_document(s: Session, document_id: int, *, datasets: Collection[str] | None = None) -> Document:
    """The document; one of a dataset outside ``datasets`` (when given) is missing just the same."""
    doc = s.get(Document, document_id)
    if doc is None or (datasets is not None and doc.dataset.name not in datasets):
        raise NotFound(f"document {document_id} does not exist")
    return doc


def find_document(s: Session, dataset_id: int, source: str, *, for_update: bool = False) -> Document | None:
    q = select(Document).where(Document.dataset_id == dataset_id, Document.source == source)
    if for_update:
        q = q.with_for_update(of=Document)
    return s.scalar(q)


def create_document(s: Session, dataset_id: int, source: str, title: str | None) -> tuple[Document, bool]:
    """Create the document of ``source``, or return the one a concurrent registration just made.

    Returns:
        The document (its row locked) and whether this call created it.
    """
    return insert_or_find(
        s,
        Document(dataset_id=dataset_id, source=source, title=title, meta={}),
        lambda: find_document(s, dataset_id, source, for_update=True),
    )


def list_documents(
    s: Session,
    dataset_id: int | None = None,
    limit: int | None = None,
    *,
    datasets: Collection[str] | None = None,
) -> list[Document]:
    q = select(Document).order_by(Document.id)
    if dataset_id is not None:
        q = q.where(Document.dataset_id == dataset_id)
    if datasets is not None:
        q = q.where(Document.dataset_id.in_(select(Dataset.id).where(Dataset.name.in_(sorted(datasets)))))
    if limit is not None:
        q = q.limit(limit)
    return list(s.scalars(q))


def find_version(s: Session, document_id: int, content_hash: str) -> DocumentVersion | None:
    return s.scalar(
        select(DocumentVersion).where(
            DocumentVersion.document_id == document_id, DocumentVersion.content_hash == content_hash
        )
    )


def get_version(s: Session, version_id: int) -> DocumentVersion:
    v = s.get(DocumentVersion, version_id)
    if v is None:
        raise NotFound(f"document version {version_id} does not exist")
    return v


def create_version(
    s: Session,
    document_id: int,
    content_hash: str,
    data: bytes,
    filename: str | None,
    user_meta: dict[str, Any] | None = None,
) -> DocumentVersion:
    version = DocumentVersion(
        document_id=document_id,
        content_hash=content_hash,
        byte_size=len(data),
        user_meta=user_meta or None,
        meta=user_meta or None,  # until it is parsed: then the parser's findings are added
    )
    s.add(version)
    s.flush()
    s.add(DocumentBlob(version_id=version.id, filename=filename, data=data))
    return version


def version_metadata(s: Session, version_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Version id -> its metadata, for the versions that have some."""
    if not version_ids:
        return {}
    rows = s.execute(
        select(DocumentVersion.id, DocumentVersion.meta).where(DocumentVersion.id.in_(list(version_ids)))
    ).all()
    return {vid: meta for vid, meta in rows if meta}


def find_version_by_id(s: Session, version_id: int) -> DocumentVersion | None:
    return s.get(DocumentVersion, version_id)


def load_blob(s: Session, version_id: int) -> DocumentBlob | None:
    return s.get(DocumentBlob, version_id)


def delete_blob(s: Session, version_id: int) -> None:
    s.execute(delete(DocumentBlob).where(DocumentBlob.version_id == version_id))


def replace_components(s: Session, version_id: int, comps: Sequence[dc.Component]) -> int:
    """Store a version's parsed tree (idempotent: a re-parse replaces the rows)."""
    s.execute(delete(Component).where(Component.version_id == version_id))
    rows = [
        {
            "version_id": version_id,
            "seq": i,
            "local_id": c.id,
            "parent_local_id": c.parent_id,
            "position": c.position,
            "kind": c.kind,
            "text": c.text,
            "path": c.path,
        }
        for i, c in enumerate(comps)
    ]
    for start in range(0, len(rows), 5000):
        s.execute(insert(Component), rows[start : start + 5000])
    return len(rows)


def load_components(s: Session, version_id: int) -> list[dc.Component]:
    rows = s.execute(
        select(
            Component.local_id,
            Component.parent_local_id,
            Component.position,
            Component.kind,
            Component.text,
            Component.path,
        )
        .where(Component.version_id == version_id)
        .order_by(Component.seq)
    )
    return [dc.Component(*row) for row in rows]


def mark_parsed(s: Session, version: DocumentVersion, fmt: str, title: str | None, count: int) -> None:
    version.format = fmt
    version.title = title
    version.component_count = count
    version.parse_error = None
    version.parsed_at = utcnow()


def deactivate(s: Session, doc: Document, when: datetime | None = None) -> None:
    doc.is_active = False
    doc.deactivated_at = when or utcnow()


def find_dataset_id(s: Session, name: str) -> int | None:
    return s.scalar(select(Dataset.id).where(Dataset.name == name))


def serve_version(s: Session, document_id: int, version_id: int) -> Document:
    """Make ``version_id`` the document's serving version (and the document searchable)."""
    doc = get_document(s, document_id)
    doc.current_version_id = version_id
    doc.is_active = True
    return doc


def serving_versions(s: Session) -> list[tuple[int, int]]:
    """(document id, serving version id) of every active document, in id order."""
    rows = s.execute(
        select(Document.id, Document.current_version_id)
        .where(Document.is_active, Document.current_version_id.is_not(None))
        .order_by(Document.id)
    ).all()
    return [(doc_id, version_id) for doc_id, version_id in rows if version_id is not None]


def ids_in_dataset(s: Session, dataset_id: int) -> list[int]:
    return list(s.scalars(select(Document.id).where(Document.dataset_id == dataset_id).order_by(Document.id)))


def delete_document(s: Session, doc: Document) -> None:
    """Delete a document; its versions, plans, bundles and chunks go with it (cascade)."""
    s.delete(doc)


def delete_document_by_id(s: Session, document_id: int) -> None:
    s.execute(delete(Document).where(Document.id == document_id))


def delete_dataset(s: Session, name: str) -> None:
    s.execute(delete(Dataset).where(Dataset.name == name))


def adopt_title(s: Session, document_id: int, title: str) -> None:
    """Give the document the title its parser found, unless it has a title of its own (one that
    is not just its file name)."""
    doc = s.get(Document, document_id)
    if doc is not None and (doc.title is None or doc.title == basename(doc.source)):
        doc.title = title[:500]


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A source an ingest may skip unread: its document, serving version and plans."""

    document_id: int
    version_id: int
    plan_ids: list[int]


# A plan of the current version in one of these states needs nothing from a re-ingest; any other
# (FAILED, retired READY, EMBEDDED but not serving) is left to register_source, which reads.
_SETTLED = (PlanStatus.PENDING, PlanStatus.BUNDLING, PlanStatus.EMBEDDING)


def find_unchanged(
    s: Session, dataset_id: int, source: str, fingerprint: str, profile_ids: Collection[int]
) -> Unchanged | None:
    """The active document of ``source`` if it was registered with ``fingerprint`` and its
    current version has a plan for every profile in ``profile_ids`` that is serving or building
    (none failed); else None (the source must be read)."""
    doc = find_document(s, dataset_id, source)
    if (
        doc is None
        or not doc.is_active
        or doc.current_version_id is None
        or doc.source_fingerprint != fingerprint
        or not profile_ids
    ):
        return None
    plans = {
        p.profile_id: p
        for p in s.scalars(
            select(ChunkPlan).where(
                ChunkPlan.document_id == doc.id,
                ChunkPlan.version_id == doc.current_version_id,
                ChunkPlan.profile_id.in_(sorted(profile_ids)),
            )
        )
    }
    out: list[int] = []
    for pid in profile_ids:
        plan = plans.get(pid)
        if plan is None:
            return None
        serving = plan.status == PlanStatus.EMBEDDED and plan.is_active
        if not serving and plan.status not in _SETTLED:
            return None
        out.append(plan.id)
    return Unchanged(doc.id, doc.current_version_id, out)


def active_under(s: Session, dataset_id: int, exact: str, prefix: str) -> list[tuple[int, str]]:
    """(id, source) of the dataset's active documents whose source is ``exact`` or starts with
    ``prefix`` (taken literally: ``%`` and ``_`` match only themselves), by source."""
    q = (
        select(Document.id, Document.source)
        .where(
            Document.dataset_id == dataset_id,
            Document.is_active,
            or_(Document.source == exact, Document.source.startswith(prefix, autoescape=True)),
        )
        .order_by(Document.source)
    )
    return [(row[0], row[1]) for row in s.execute(q)]
