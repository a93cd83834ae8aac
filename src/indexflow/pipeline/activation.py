"""Which plan answers for a document: activation, generation swaps and retirement.

Called only by the plan state machine (``pipeline/machine.py``) inside its transaction; the
vectors these steps make obsolete are returned in an ``Applied`` and deleted after commit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db import webhooks as webhooks_repo
from indexflow.db.models import ChunkPlan, PlanStatus, utcnow
from indexflow.domain.webhooks import DOCUMENT_ACTIVATED
from indexflow.pipeline.machine import Applied, Queues

# Retiring emits no work; the queues are never used.
_NO_QUEUES = Queues(plan="", embed="", batch_size=1)


def complete(s: Session, plan: ChunkPlan) -> Applied:
    """A plan just became EMBEDDED: serve it if it is its document's current version, else retire it.

    Its predecessor (another version's plan, or this plan's own older generation) stops serving
    in the same transaction, so search never sees both nor neither.
    """
    doc = docs_repo.find_document_by_id(s, plan.document_id)
    if doc is None or not doc.is_active or doc.current_version_id != plan.version_id:
        return retire(s, plan)
    return activate(s, plan)


def activate(s: Session, plan: ChunkPlan) -> Applied:
    """Make ``plan`` the one active plan of its (document, profile), retiring the previous one."""
    from indexflow.pipeline import machine

    out = Applied()
    previous = plans_repo.active_for(s, plan.document_id, plan.profile_id)
    if previous is not None and previous.id != plan.id:
        out.merge(machine.apply(s, previous, machine.Retire(), _NO_QUEUES))
        s.flush()  # the partial unique index allows one active plan: retire first
    was_serving = plan.is_active and plan.serving_generation == plan.generation
    if not plan.is_active:
        plan.is_active = True
        plan.activated_at = utcnow()
    if plan.status == PlanStatus.EMBEDDED:
        swapped_out = plans_repo.drop_other_generations(s, plan)
        if swapped_out:
            out.drop_points.append((plan.profile.collection, swapped_out))
        plan.serving_generation = plan.generation
        if not was_serving:  # this version (or generation) answers search from this commit on
            replaced = previous if previous is not None and previous.id != plan.id else None
            webhooks_repo.announce_plan(
                s,
                DOCUMENT_ACTIVATED,
                plan,
                previous_plan_id=replaced.id if replaced is not None else None,
                previous_version_id=replaced.version_id if replaced is not None else None,
            )
    return out


def retire(s: Session, plan: ChunkPlan) -> Applied:
    """Rows of a plan taken out of service: its chunks wait to be embedded again, its vectors go.

    The state machine has already set its status; the vectors are deleted after commit.
    """
    plan.is_active = False
    plan.serving_generation = None
    plan.embedded_count = 0
    plan.embedded_at = None
    plans_repo.reset_chunks(s, plan.id)
    return Applied(drop_plans=[(plan.id, plan.profile.collection)])
