"""Lifecycle operations of the facade: rerun, activate, deactivate, delete, chunks, reconcile.

Every operation changes the database in one transaction first (search reads visibility from
there, so the change is visible at once), then cleans the vector store and sends follow-up work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db.session import transaction
from indexflow.pipeline import machine
from indexflow.pipeline.machine import Applied
from indexflow.reports import iso, plan_view

if TYPE_CHECKING:
    from indexflow.runtime import Runtime
    from indexflow.tasks.runner import TaskRunner


class LifecycleMixin:
    """Mixed into ``Indexflow``; operations that change what serves search."""

    rt: Runtime

    @property
    def tasks(self) -> TaskRunner:
        raise NotImplementedError  # provided by Indexflow

    def _after(self, applied: Applied) -> None:
        from indexflow.tasks.execute import after_commit

        after_commit(self.rt, applied, self.tasks.outbox)

    def plan(self, plan_id: int) -> dict[str, Any]:
        with transaction(self.rt.readers) as s:
            return plan_view(plans_repo.get(s, plan_id))

    def plans(self, *, dataset: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        with transaction(self.rt.readers) as s:
            ds_id = docs_repo.get_dataset(s, dataset).id if dataset else None
            return [plan_view(p) for p in plans_repo.list_plans(s, dataset_id=ds_id, status=status)]

    def rerun_plan(self, plan_id: int, *, requeue_embedding: bool = True) -> dict[str, Any]:
        """Build a plan again under a new generation.

        An active plan keeps serving its current chunks while the new generation is built; the
        two are swapped in one transaction once it is embedded (the document never leaves
        search, and stays searchable if the rebuild fails).
        """
        self.tasks.own_home()
        with transaction(self.rt.sessions) as s:
            plan = plans_repo.get(s, plan_id, for_update=True)
            applied = machine.apply(s, plan, machine.Rerun(embed=requeue_embedding), self.rt.queues)
            version = docs_repo.get_version(s, plan.version_id)
            if version.parsed_at is None and docs_repo.load_blob(s, version.id) is None:
                message = version.parse_error or "the document's bytes are gone"
                applied.merge(machine.apply(s, plan, machine.Fail(message), self.rt.queues))
            view = plan_view(plan)
        self._after(applied)
        return view

    def activate_plan(self, plan_id: int, *, force: bool = False) -> dict[str, Any]:
        """Make a plan the one serving its (document, profile), in one transaction.

        Raises:
            ConflictError: the plan is not EMBEDDED and ``force`` is false.
        """
        self.tasks.own_home()
        with transaction(self.rt.sessions) as s:
            plan = plans_repo.get(s, plan_id, for_update=True)
            applied = machine.apply(s, plan, machine.Activate(force=force), self.rt.queues)
            doc = docs_repo.get_document(s, plan.document_id)
            doc.current_version_id = plan.version_id
            doc.is_active = True
            view = plan_view(plan)
        self._after(applied)
        return view

    def deactivate_document(
        self, document_id: int, *, drop_vectors: bool = True, mark_failed: bool = True
    ) -> dict[str, Any]:
        """Take a document out of search: once this returns, no search returns it."""
        self.tasks.own_home()
        applied = Applied()
        with transaction(self.rt.sessions) as s:
            doc = docs_repo.get_document(s, document_id)
            docs_repo.deactivate(s, doc)
            plans = plans_repo.for_document(s, document_id, for_update=True)
            collections = sorted({p.profile.collection for p in plans})
            event = machine.Deactivate(mark_failed=mark_failed, drop_vectors=drop_vectors)
            for p in plans:
                applied.merge(machine.apply(s, p, event, self.rt.queues))
            out = {"document_id": doc.id, "source": doc.source, "plans": [p.id for p in plans]}
        self._after(applied)
        if drop_vectors:
            for collection in collections:
                self.rt.store.delete_by_document(collection, document_id)
        return out

    def delete_document(self, document_id: int) -> dict[str, Any]:
        """Delete a document, its versions, plans, chunks and vectors."""
        self.tasks.own_home()
        with transaction(self.rt.sessions) as s:
            doc = docs_repo.get_document(s, document_id)
            plans = plans_repo.for_document(s, document_id, for_update=True)
            collections = sorted({p.profile.collection for p in plans})
            out = {"document_id": doc.id, "source": doc.source, "plans": [p.id for p in plans]}
            s.delete(doc)
        for collection in collections:
            self.rt.store.delete_by_document(collection, document_id)
        return out

    def set_chunk_enabled(self, chunk_id: int, enabled: bool) -> dict[str, Any]:
        """Disable (or re-enable) one chunk in search without re-embedding anything."""
        with transaction(self.rt.sessions) as s:
            chunk = plans_repo.get_chunk(s, chunk_id)
            chunk.enabled = enabled
            plan = plans_repo.get(s, chunk.plan_id)
            collection, point = plan.profile.collection, chunk.point_id
        self.rt.store.set_enabled(collection, [point], enabled)
        return {"chunk_id": chunk_id, "enabled": enabled}

    def chunks(self, plan_id: int, *, limit: int = 1000) -> list[dict[str, Any]]:
        with transaction(self.rt.readers) as s:
            rows = plans_repo.list_chunks(s, plan_id, limit=limit)
            return [
                {
                    "chunk_id": c.id,
                    "seq": c.seq,
                    "bundle_seq": c.bundle_seq,
                    "status": c.status.value,
                    "enabled": c.enabled,
                    "token_count": c.token_count,
                    "char_start": c.char_start,
                    "char_end": c.char_end,
                    "text": c.text,
                }
                for c in rows
            ]

    def document(self, document_id: int) -> dict[str, Any]:
        with transaction(self.rt.readers) as s:
            d = docs_repo.get_document(s, document_id)
            plans = plans_repo.for_document(s, document_id)
            return {
                "document_id": d.id,
                "dataset": d.dataset.name,
                "source": d.source,
                "title": d.title,
                "is_active": d.is_active,
                "current_version_id": d.current_version_id,
                "created_at": iso(d.created_at),
                "updated_at": iso(d.updated_at),
                "deactivated_at": iso(d.deactivated_at),
                "plans": [plan_view(p) for p in plans],
            }
