"""The plan's life, in one place: every status change is ``transition(state, event) → Step``.

A ``ChunkPlan`` moves PENDING → BUNDLING → READY → EMBEDDING → EMBEDDED, or to FAILED. Nothing
else in indexflow sets a plan's status: registration, the stages, the sweeper, the lifecycle and
admin operations build an event and call :func:`apply`, which runs the pure :func:`transition`,
writes the new state and adds the follow-up work units (the outbox) in the caller's transaction.

``transition`` is pure (no I/O) and total: for every state × event it returns the next ``Step``,
``None`` when the event no longer applies (a duplicate or late message: ignore it), or raises
``IllegalTransition`` for a request the state forbids (activating an unembedded plan). The
table-driven test in ``tests/unit/pipeline/test_machine.py`` covers every pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db import units as units_repo
from indexflow.db import webhooks as webhooks_repo
from indexflow.db.models import ChunkPlan, PlanStatus, UnitKind, utcnow
from indexflow.domain import webhooks as events
from indexflow.errors import ConflictError

P, B, R, E, D, F = (
    PlanStatus.PENDING,
    PlanStatus.BUNDLING,
    PlanStatus.READY,
    PlanStatus.EMBEDDING,
    PlanStatus.EMBEDDED,
    PlanStatus.FAILED,
)
IN_PROGRESS = frozenset({P, B, R, E})


class IllegalTransition(ConflictError):
    """The plan's state forbids this request (e.g. activating a plan that is not EMBEDDED)."""


# -- work items: what a step asks to be done next (typed, ids only) ------------------------------
@dataclass(frozen=True, slots=True)
class Parse:
    version_id: int


@dataclass(frozen=True, slots=True)
class Bundle:
    plan_id: int
    generation: int
    embed: bool = True


@dataclass(frozen=True, slots=True)
class EmbedAll:
    """Embed every chunk of the plan's building generation that is not embedded yet."""

    plan_id: int
    generation: int


@dataclass(frozen=True, slots=True)
class Embed:
    plan_id: int
    generation: int
    chunk_ids: tuple[int, ...]


WorkItem = Parse | Bundle | EmbedAll | Embed


# -- state and events ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlanState:
    """What a transition needs to know about a plan."""

    plan_id: int
    version_id: int
    status: PlanStatus
    generation: int
    is_active: bool = False
    parsed: bool = False  # its version's component tree is stored
    has_chunks: bool = False  # bundled at least once (a retired plan keeps its chunks)
    serving: bool = False  # an active plan whose chunks answer search

    @classmethod
    def of(cls, plan: ChunkPlan, *, parsed: bool) -> PlanState:
        return cls(
            plan_id=plan.id,
            version_id=plan.version_id,
            status=plan.status,
            generation=plan.generation,
            is_active=plan.is_active,
            parsed=parsed,
            has_chunks=plan.bundled_at is not None and plan.chunk_count > 0,
            serving=plan.is_active and plan.serving_generation is not None,
        )


@dataclass(frozen=True, slots=True)
class Start:
    """A plan was created, or a FAILED one is wanted again (the same content ingested again)."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """The plan's version was parsed."""


@dataclass(frozen=True, slots=True)
class BundleStarted:
    """A worker claimed the plan's bundle unit (a re-claim after a dead bundler is allowed)."""

    generation: int


@dataclass(frozen=True, slots=True)
class Bundled:
    generation: int
    chunks: int
    embed: bool = True


@dataclass(frozen=True, slots=True)
class BatchEmbedded:
    generation: int
    remaining: int  # chunks of the building generation not embedded yet


@dataclass(frozen=True, slots=True)
class Fail:
    message: str
    generation: int | None = None  # None: whatever generation the plan is at


@dataclass(frozen=True, slots=True)
class Cancel:
    """Stop a plan for good (superseded by a newer version, its document deactivated)."""

    message: str


@dataclass(frozen=True, slots=True)
class Rerun:
    embed: bool = True


@dataclass(frozen=True, slots=True)
class Retire:
    """Take the plan out of service: its vectors go, its chunks stay for a later re-embed."""


@dataclass(frozen=True, slots=True)
class Deactivate:
    """The plan's document was deactivated: it stops serving; its build (if any) stops."""

    mark_failed: bool = True
    drop_vectors: bool = True


@dataclass(frozen=True, slots=True)
class Rewant:
    """A retired plan (READY, chunks kept, vectors dropped) is wanted again: embed it."""


@dataclass(frozen=True, slots=True)
class Activate:
    force: bool = False


@dataclass(frozen=True, slots=True)
class Resume:
    """The sweeper found an unfinished plan with no work unit at all: send what moves it on."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """A unit of the plan hit a transient error: record why and when it tries again."""

    reason: str
    since: datetime
    next_try: datetime


Event = (
    Start
    | Parsed
    | BundleStarted
    | Bundled
    | BatchEmbedded
    | Fail
    | Cancel
    | Rerun
    | Retire
    | Deactivate
    | Rewant
    | Activate
    | Resume
    | Waiting
)


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of a transition, applied by :func:`apply`."""

    status: PlanStatus
    generation: int
    work: tuple[WorkItem, ...] = ()
    error: str | None = None
    reset: bool = False  # a new generation: counts cleared, its own bundles/chunks rebuilt
    attempt: bool = False  # one more bundling attempt
    complete: bool = False  # just EMBEDDED: serve it (activate/swap) or retire it
    retire: bool = False  # out of service: drop its vectors
    activate: bool = False  # make it the active plan of its (document, profile)
    unserve: bool = False  # inactive, vectors kept (a deactivated document that may come back)
    waiting: Waiting | None = None
    clear_waiting: bool = True


def _start_work(st: PlanState, generation: int, embed: bool = True) -> tuple[WorkItem, ...]:
    return (Bundle(st.plan_id, generation, embed),) if st.parsed else (Parse(st.version_id),)


def transition(st: PlanState, ev: Event) -> Step | None:  # long: one table, on purpose
    """The next step of a plan in state ``st`` on event ``ev`` (``None``: ignore the event)."""
    s, g = st.status, st.generation
    match ev:
        case Start():
            if s == P:
                return Step(P, g, _start_work(st, g))
            if s == F:
                return Step(P, g + 1, _start_work(st, g + 1), reset=True)
            return None
        case Parsed():
            return Step(P, g, (Bundle(st.plan_id, g),)) if s == P else None
        case BundleStarted(generation=gen):
            if gen != g or s not in (P, B):
                return None
            return Step(B, g, attempt=True)
        case Bundled(generation=gen, chunks=n, embed=embed):
            if gen != g or s != B:
                return None
            if n == 0:
                return Step(F, g, error="the document has no text to index")
            return Step(E, g, (EmbedAll(st.plan_id, g),)) if embed else Step(R, g)
        case BatchEmbedded(generation=gen, remaining=left):
            if gen != g or s != E:
                return None
            return Step(D, g, complete=True) if left == 0 else Step(E, g, clear_waiting=True)
        case Fail(message=msg, generation=gen):
            if s not in IN_PROGRESS or (gen is not None and gen != g):
                return None
            return Step(F, g, error=msg)
        case Cancel(message=msg):
            if s not in IN_PROGRESS:
                return None
            return Step(F, g + 1, error=msg)
        case Rerun(embed=embed):
            return Step(P, g + 1, _start_work(st, g + 1, embed), reset=True)
        case Retire():
            if s == D:
                return Step(R, g, retire=True)
            if s in IN_PROGRESS and st.is_active:
                # A serving plan that was being rebuilt: its build has nothing left to serve for.
                return Step(F, g + 1, error="superseded: another plan serves this document now", retire=True)
            return Step(s, g, retire=True, clear_waiting=False) if st.is_active else None
        case Deactivate(mark_failed=mark_failed, drop_vectors=drop):
            if s in IN_PROGRESS:
                return Step(F, g + 1, error="document deactivated", retire=True)
            if mark_failed and s != F:
                return Step(F, g + 1, error="document deactivated", retire=drop, unserve=not drop)
            if drop:
                return Step(R if s == D else s, g, retire=True, clear_waiting=False)
            return Step(s, g, unserve=True, clear_waiting=False)
        case Rewant():
            if s == R and st.has_chunks:
                return Step(E, g, (EmbedAll(st.plan_id, g),))
            return None
        case Activate(force=force):
            if s == D:
                return Step(D, g, activate=True)
            if not force:
                raise IllegalTransition(
                    f"plan {st.plan_id} is {s.value}, not EMBEDDED; activate it with force=True "
                    "to serve it anyway (it will be (re-)embedded)"
                )
            if s in (R, F):
                return Step(P, g + 1, _start_work(st, g + 1), reset=True, activate=True)
            return Step(s, g, activate=True, clear_waiting=False)  # in progress: serves once embedded
        case Resume():
            if s == P:
                return Step(P, g, _start_work(st, g))
            if s == B:
                return Step(P, g, _start_work(st, g))
            if s == E:
                return Step(E, g, (EmbedAll(st.plan_id, g),))
            return None
        case Waiting():
            if s not in IN_PROGRESS:
                return None
            return Step(s, g, waiting=ev, clear_waiting=False)
    raise TypeError(f"unknown event {ev!r}")  # pragma: no cover - Event is a closed union


# -- applying a step to the rows -----------------------------------------------------------------
@dataclass(slots=True)
class Applied:
    """What an applied step left for the caller: units to send and vectors to drop after commit."""

    units: list[int] = field(default_factory=list)
    drop_plans: list[tuple[int, str]] = field(default_factory=list)  # (plan id, collection)
    drop_points: list[tuple[str, list[str]]] = field(default_factory=list)  # (collection, ids)
    loaded: list[tuple[int, str]] = field(default_factory=list)  # (profile id, collection): a plan completed
    changed: bool = False

    def merge(self, other: Applied) -> Applied:
        self.units += other.units
        self.drop_plans += other.drop_plans
        self.drop_points += other.drop_points
        self.loaded += other.loaded
        self.changed = self.changed or other.changed
        return self


@dataclass(frozen=True, slots=True)
class Queues:
    """Where each kind of unit is sent, and how many chunks an embed unit carries."""

    plan: str
    embed: str
    batch_size: int


def apply(s: Session, plan: ChunkPlan, ev: Event, queues: Queues) -> Applied:
    """Run ``ev`` on ``plan`` (whose row the caller holds) and write the outcome in ``s``."""
    from indexflow.pipeline import activation  # it builds on Applied: imported late

    version = docs_repo.get_version(s, plan.version_id)
    step = transition(PlanState.of(plan, parsed=version.parsed_at is not None), ev)
    out = Applied()
    if step is None:
        return out
    before = plan.status
    out.changed = True
    collection = plan.profile.collection
    if step.generation != plan.generation:
        # The old generation's units are void; a late worker of it is fenced by the generation.
        units_repo.delete_for_plan(s, plan.id)
        plan.generation = step.generation
    if step.reset:
        plans_repo.clear_building(s, plan)
        plan.bundle_count = plan.chunk_count = plan.embedded_count = 0
        plan.attempts = 0
        plan.bundled_at = plan.embedded_at = None
        plan.last_error = None
        if not plan.is_active or plan.serving_generation is None:
            # Nothing of it serves: its old vectors can go now. (A serving plan keeps them until
            # the new generation is embedded and swapped in.)
            out.drop_plans.append((plan.id, collection))
    if step.attempt:
        plan.attempts += 1
    if step.error is not None:
        plan.last_error = step.error[:4000]
    if step.status == PlanStatus.FAILED:
        units_repo.delete_for_plan(s, plan.id)
        if not plan.is_active or plan.serving_generation is None:
            out.drop_plans.append((plan.id, collection))
    if step.waiting is not None:
        plan.retry_reason = step.waiting.reason[:2000]
        plan.retry_since = plan.retry_since or step.waiting.since
        plan.retry_at = step.waiting.next_try
    elif step.clear_waiting:
        plan.retry_reason, plan.retry_since, plan.retry_at = None, None, None
    plan.status = step.status
    _announce(s, plan, ev, before, step)
    if step.unserve:
        plan.is_active = False
    if step.retire:
        out.merge(activation.retire(s, plan))
    if step.activate:
        out.merge(activation.activate(s, plan))
    if step.complete:
        plan.embedded_at = utcnow()
        out.merge(activation.complete(s, plan))
    for item in step.work:
        out.units += _add_units(s, item, queues)
    return out


def _announce(s: Session, plan: ChunkPlan, ev: Event, before: PlanStatus, step: Step) -> None:
    """Record the webhook event this step is, in the same transaction (see ``db/webhooks.py``).

    A plan that finished building is ``plan.embedded`` (its ``document.activated``, if it
    serves, comes from activation); one that just failed is ``plan.failed`` when its work
    failed, ``plan.cancelled`` when it was stopped (superseded, its document deactivated).
    """
    if step.complete:
        webhooks_repo.announce_plan(
            s, events.PLAN_EMBEDDED, plan, chunk_count=plan.chunk_count, embedded_count=plan.embedded_count
        )
    elif step.status == PlanStatus.FAILED and before != PlanStatus.FAILED:
        kind = events.PLAN_FAILED if isinstance(ev, Fail | Bundled) else events.PLAN_CANCELLED
        webhooks_repo.announce_plan(s, kind, plan, last_error=plan.last_error)


def _add_units(s: Session, item: WorkItem, q: Queues) -> list[int]:
    match item:
        case Parse(version_id=vid):
            return units_repo.add_parse(s, vid, q.plan)
        case Bundle(plan_id=pid, generation=gen, embed=embed):
            return units_repo.add(s, UnitKind.BUNDLE, q.plan, plan_id=pid, generation=gen, embed=embed)
        case EmbedAll(plan_id=pid, generation=gen):
            ids: list[int] = []
            for batch in plans_repo.queue_batches(s, pid, gen, q.batch_size):
                ids += units_repo.add(
                    s, UnitKind.EMBED, q.embed, plan_id=pid, generation=gen, chunk_ids=batch
                )
            return ids
        case Embed(plan_id=pid, generation=gen, chunk_ids=chunk_ids):
            return units_repo.add(
                s, UnitKind.EMBED, q.embed, plan_id=pid, generation=gen, chunk_ids=list(chunk_ids)
            )
    raise TypeError(f"unknown work item {item!r}")  # pragma: no cover


def backoff(failures: int, *, base: float = 1.0, cap: float = 300.0) -> timedelta:
    """Exponential backoff (1 s, 2 s, 4 s … capped at ``cap``) for the ``failures``-th retry."""
    return timedelta(seconds=min(cap, base * (2 ** max(0, failures - 1))))
