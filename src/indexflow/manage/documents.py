"""Documents: list and show them, take one out of search, delete one."""

from __future__ import annotations

import builtins
from collections.abc import Collection

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db import webhooks as webhooks_repo
from indexflow.db.models import ChunkPlan, PlanStatus
from indexflow.domain.webhooks import DOCUMENT_DEACTIVATED, DOCUMENT_DELETED
from indexflow.manage.context import Context, check_status
from indexflow.pipeline import machine
from indexflow.pipeline.machine import Applied
from indexflow.views import DocumentRemoval, DocumentReport, DocumentView, PlanView, document_status


class Documents:
    """``ix.documents``: what was ingested, per dataset."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def get(self, document_id: int, *, datasets: Collection[str] | None = None) -> DocumentView:
        """One document with every plan of every version.

        ``datasets`` (when given) limits it to the documents of these datasets: any other is
        missing exactly like an id that does not exist (how an API key's scope is applied; every
        method taking ``datasets`` does the same).

        Raises:
            NotFound: no such document (in ``datasets``).
        """
        with self._ctx.read() as s:
            doc = docs_repo.get_document(s, document_id, datasets=datasets)
            metas = docs_repo.version_metadata(s, [doc.current_version_id] if doc.current_version_id else [])
            return DocumentView.of(
                doc, plans_repo.for_document(s, document_id), metas.get(doc.current_version_id or 0)
            )

    def list(
        self,
        *,
        dataset: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        datasets: Collection[str] | None = None,
    ) -> builtins.list[DocumentReport]:
        """Every document (optionally of one dataset, in one status) with its plans and errors.

        ``status`` is the document's one word: PENDING … EMBEDDED, FAILED or INACTIVE. With
        ``datasets``, only their documents; a ``dataset`` outside them does not exist (NotFound).
        """
        if status is not None:
            status = check_status(status, [*(s.value for s in PlanStatus), "INACTIVE"])
        with self._ctx.read() as s:
            ds_id = docs_repo.get_dataset(s, dataset, datasets=datasets).id if dataset else None
            documents = docs_repo.list_documents(s, ds_id, datasets=datasets)
            by_doc: dict[int, builtins.list[ChunkPlan]] = {}
            metas = docs_repo.version_metadata(
                s, [d.current_version_id for d in documents if d.current_version_id]
            )
            for p in plans_repo.for_documents(s, [d.id for d in documents]):
                by_doc.setdefault(p.document_id, []).append(p)
            out: builtins.list[DocumentReport] = []
            for d in documents:
                plans = by_doc.get(d.id, [])
                current = [p for p in plans if p.version_id == d.current_version_id]
                report = DocumentReport(
                    source=d.source,
                    document_id=d.id,
                    title=d.title,
                    dataset=d.dataset.name,
                    is_active=d.is_active,
                    status=document_status(current) if d.is_active else "INACTIVE",
                    plans=[PlanView.of(p) for p in plans],
                    error=next((p.last_error for p in current if p.last_error), None),
                    metadata=metas.get(d.current_version_id or 0) or {},
                )
                if status is None or report.status == status:
                    out.append(report)
                if limit is not None and len(out) >= limit:
                    break
            return out

    def datasets(self) -> builtins.list[str]:
        """Names of the datasets that exist."""
        with self._ctx.read() as s:
            return [d.name for d in docs_repo.list_datasets(s)]

    def deactivate(
        self,
        document_id: int,
        *,
        drop_vectors: bool = True,
        mark_failed: bool = True,
        datasets: Collection[str] | None = None,
    ) -> DocumentRemoval:
        """Take a document out of search: once this returns, no search returns it.

        Its rows stay (ingest it again to bring it back); with ``drop_vectors`` its points go.
        """
        ctx = self._ctx
        ctx.own_home()
        applied = Applied()
        with ctx.write() as s:
            doc = docs_repo.get_document(s, document_id, datasets=datasets)
            docs_repo.deactivate(s, doc)
            plans = plans_repo.for_document(s, document_id, for_update=True)
            collections = sorted({p.profile.collection for p in plans})
            event = machine.Deactivate(mark_failed=mark_failed, drop_vectors=drop_vectors)
            for p in plans:
                applied.merge(machine.apply(s, p, event, ctx.queues))
            webhooks_repo.announce_document(
                s, DOCUMENT_DEACTIVATED, doc, plan_ids=[p.id for p in plans], drop_vectors=drop_vectors
            )
            out = DocumentRemoval(document_id=doc.id, source=doc.source, plans=[p.id for p in plans])
        ctx.send(applied)
        if drop_vectors:
            for collection in collections:
                ctx.store.delete_by_document(collection, document_id)
        return out

    def delete(self, document_id: int, *, datasets: Collection[str] | None = None) -> DocumentRemoval:
        """Delete a document, its versions, plans, chunks and vectors."""
        ctx = self._ctx
        ctx.own_home()
        with ctx.write() as s:
            doc = docs_repo.get_document(s, document_id, datasets=datasets)
            plans = plans_repo.for_document(s, document_id, for_update=True)
            collections = sorted({p.profile.collection for p in plans})
            out = DocumentRemoval(document_id=doc.id, source=doc.source, plans=[p.id for p in plans])
            webhooks_repo.announce_document(s, DOCUMENT_DELETED, doc, plan_ids=out.plans)
            docs_repo.delete_document(s, doc)
        for collection in collections:
            ctx.store.delete_by_document(collection, document_id)
        return out
