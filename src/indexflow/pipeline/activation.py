"""Which plan answers for a document: activation, supersession and dropping vectors."""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.orm import Session

from indexflow.db import plans as plans_repo
from indexflow.db.models import Chunk, ChunkPlan, ChunkStatus, Document, PlanStatus, utcnow
from indexflow.errors import ConflictError
from indexflow.pipeline.runtime import Runtime

log = logging.getLogger(__name__)


def activate_when_embedded(s: Session, plan: ChunkPlan) -> list[ChunkPlan]:
    """Decide, in the transaction that marked ``plan`` EMBEDDED, whether it now serves search.

    It is activated when it belongs to the document's current version and the document is
    active; the plan it replaces is retired in the same transaction, so search (which checks
    ``is_active`` in the database) never sees both versions nor neither. A plan that cannot
    serve (stale version, inactive document) is retired itself.

    Returns:
        The plans retired here; the caller deletes their vectors after the commit.
    """
    doc = s.get(Document, plan.document_id)
    if doc is None or not doc.is_active or doc.current_version_id != plan.version_id:
        retire(s, plan)
        return [plan]
    return activate(s, plan)


def activate(s: Session, plan: ChunkPlan, *, force: bool = False) -> list[ChunkPlan]:
    """Make ``plan`` the one active plan of its (document, profile), retiring the previous one."""
    if plan.status != PlanStatus.EMBEDDED and not force:
        raise ConflictError(
            f"plan {plan.id} is {plan.status.value}, not EMBEDDED; activate it with force=True "
            "to serve it anyway (it will be (re-)embedded)"
        )
    previous = plans_repo.active_for(s, plan.document_id, plan.profile_id)
    retired: list[ChunkPlan] = []
    if previous is not None and previous.id != plan.id:
        retire(s, previous)
        retired.append(previous)
        s.flush()  # the partial unique index allows one active plan: retire first
    plan.is_active = True
    plan.activated_at = utcnow()
    return retired


def retire(s: Session, plan: ChunkPlan) -> None:
    """Take a plan out of service; its vectors are deleted after commit, so it goes back to READY."""
    plan.is_active = False
    if plan.status == PlanStatus.EMBEDDED:
        plan.status = PlanStatus.READY
        plan.embedded_count = 0
        plan.embedded_at = None
        s.execute(
            update(Chunk)
            .where(Chunk.plan_id == plan.id)
            .values(status=ChunkStatus.PENDING, embedded_at=None, queued_at=None)
        )


def drop_plan_vectors(rt: Runtime, plan_id: int, collection: str) -> None:
    """Delete every point of a plan from the store (verified by the store's contract)."""
    rt.store.delete_by_plan(collection, plan_id)
