"""Run one work unit: claim it, run its stage, and let the error's class decide what follows.

- success: the stage's transaction deleted the unit and added the next ones; send them.
- ``TransientError`` (a store, broker or database outage, a timeout, a 429): the unit goes back
  with exponential backoff (capped at ``retry_max_backoff_seconds``) for as long as the outage
  lasts; the plan never fails for it, and ``status`` shows why it waits and until when.
- ``PermanentError`` or ``ConfigurationError`` (bad input; a missing pgvector extension, a wrong
  dimension): the plan fails at once with the reason. So does a value the database refuses
  (``InvalidData``, which ``transaction()`` makes of a ``DataError``: "value too long for
  components.kind (40 characters, at most 32)"): the same write would fail again.
- a time limit: the unit fails with "parse exceeded 180 s" (a document's own parse is stopped
  sooner, by its sandbox: "report.docx: parse exceeded 120 s", a PermanentError).
- ``NotFound`` because its rows were deleted meanwhile: it ends quietly (if its plan still
  exists, something else is missing, and the plan fails with that reason).
- a builtin ``ConnectionError`` / ``TimeoutError`` from a vendor library counts as transient.
- any other exception (a bug): retried with backoff ``max_embed_retries`` times, then the plan
  fails with "gave up after N retries: …".

Each run is measured and classified here (``indexflow.observability.metrics.stage_run``): its
duration by stage and outcome (ok, retry, failed, dropped: a claim lost to another worker or
rows deleted meanwhile), retries and failures by error class (transient, permanent, timeout,
unknown), and one log event on ``indexflow.stage`` with its plan, document, dataset, stage,
``duration_ms`` and outcome.
"""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import datetime

from dramatiq.middleware import TimeLimitExceeded
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from indexflow.db import plans as plans_repo
from indexflow.db import stats as stats_repo
from indexflow.db import units as units_repo
from indexflow.db.models import UnitKind, utcnow
from indexflow.db.session import refused, transaction
from indexflow.db.units import Claim, ClaimLost
from indexflow.errors import ConfigurationError, IndexflowError, NotFound, PermanentError, TransientError
from indexflow.observability.metrics import StageRun, stage_run
from indexflow.pipeline import machine, stages
from indexflow.pipeline.machine import Applied
from indexflow.runtime import Runtime
from indexflow.stores.base import DeferredIndexStore
from indexflow.tasks.heartbeat import WorkerState
from indexflow.tasks.outbox import Outbox

log = logging.getLogger(__name__)
stage_log = logging.getLogger("indexflow.stage")  # one event per unit run (docs/operations.md)

STAGES = {
    UnitKind.PARSE: stages.parse_version,
    UnitKind.BUNDLE: stages.bundle_plan,
    UnitKind.EMBED: stages.embed_batch,
}


# The parse sandbox stops a document at parse_timeout_seconds with its own message; the stage's
# time limit stays above it (loading the bytes, writing the tree), so that message wins.
STAGE_MARGIN_SECONDS = 60


def time_limit_seconds(rt: Runtime, kind: UnitKind) -> int:
    s = rt.settings
    if kind == UnitKind.EMBED:
        return s.embed_timeout_seconds
    return s.parse_timeout_seconds + STAGE_MARGIN_SECONDS


def run_unit(rt: Runtime, unit_id: int, worker: WorkerState, outbox: Outbox) -> None:
    """Run unit ``unit_id`` if it is still due and nobody else holds it (a duplicate is a no-op).

    Raises:
        DatabaseUnavailable: the state database is down; the actor lets Dramatiq retry the message.
    """
    if not worker.reserve(unit_id):
        return  # a repeated message while another thread of this process runs the unit
    try:
        _run_reserved(rt, unit_id, worker, outbox)
    finally:
        worker.release(unit_id)


def _run_reserved(rt: Runtime, unit_id: int, worker: WorkerState, outbox: Outbox) -> None:
    with transaction(rt.sessions) as s:
        claim = units_repo.claim(s, unit_id, worker.id, rt.settings.lease_seconds)
    if claim is None:
        return
    worker.started(claim)
    applied = Applied()
    with stage_run(claim.kind.value) as run:
        try:
            applied = STAGES[claim.kind](rt, claim)
            run.end("ok")
        except ClaimLost as exc:
            log.warning("%s", exc)
            run.end("dropped")
        except NotFound as exc:
            if _rows_exist(rt, claim):
                applied = fail(rt, claim, str(exc))  # something else is missing: say so, do not hang
                run.end("failed", "permanent")
            else:
                log.info("unit %s ends: %s", unit_id, exc)
                with transaction(rt.sessions) as s:
                    units_repo.delete_unit(s, unit_id)
                run.end("dropped")
        except (PermanentError, ConfigurationError) as exc:  # bad input, or settings that cannot work
            applied = fail(rt, claim, str(exc))
            run.end("failed", "permanent")
        except DataError as exc:  # from a session outside transaction(): permanent all the same
            applied = fail(rt, claim, str(refused(exc)))
            run.end("failed", "permanent")
        except TimeLimitExceeded:
            applied = fail(rt, claim, f"{claim.kind.value} exceeded {time_limit_seconds(rt, claim.kind)} s")
            run.end("failed", "timeout")
        except (TransientError, ConnectionError, TimeoutError) as exc:
            retry(rt, claim, exc, bounded=False)
            run.end("retry", "transient")
        except Exception as exc:
            log.exception("unit %s (%s) raised", unit_id, claim.kind.value)
            gave_up = claim.failures + 1 > rt.settings.max_embed_retries
            applied = retry(rt, claim, exc, bounded=True)
            run.end("failed" if gave_up else "retry", "unknown")
        finally:
            worker.done(claim)
            _log_run(rt, claim, run)
    after_commit(rt, applied, outbox)


# What a plan or version belongs to never changes: each runtime (one database) remembers it,
# bounded, instead of asking again for every embed batch.
_Key = tuple[int | None, int | None]
_SUBJECTS: weakref.WeakKeyDictionary[Runtime, dict[_Key, stats_repo.Subject]] = weakref.WeakKeyDictionary()
_SUBJECTS_LOCK = threading.Lock()
_SUBJECTS_MAX = 10_000


def _subject(rt: Runtime, claim: Claim) -> stats_repo.Subject | None:
    key = (claim.plan_id, claim.version_id)
    with _SUBJECTS_LOCK:
        known = _SUBJECTS.setdefault(rt, {})
        found = known.get(key)
    if found is not None:
        return found
    try:
        with transaction(rt.readers) as s:
            found = stats_repo.unit_subject(s, plan_id=claim.plan_id, version_id=claim.version_id)
    except IndexflowError:
        return None  # the database is away: the event goes out without document and dataset
    if found is not None:
        with _SUBJECTS_LOCK:
            if len(known) >= _SUBJECTS_MAX:
                known.clear()
            known[key] = found
    return found


def _log_run(rt: Runtime, claim: Claim, run: StageRun) -> None:
    """The stage run's log event: plan, document, dataset, stage, duration and outcome."""
    if not stage_log.isEnabledFor(logging.INFO):
        return  # nobody listens (a CLI command without logging configured): no lookup either
    subject = _subject(rt, claim)
    ms = round(run.seconds * 1000, 1)
    fields = {
        "event": "stage",
        "stage": run.stage,
        "outcome": run.outcome,
        "duration_ms": ms,
        "unit_id": claim.unit_id,
        "plan_id": claim.plan_id,
        "version_id": claim.version_id,
        "document_id": subject.document_id if subject is not None else None,
        "dataset": subject.dataset if subject is not None else None,
        "profile": subject.profile if subject is not None else None,
    }
    if run.outcome in ("retry", "failed"):
        fields["error_class"] = run.error_class
    # INFO whatever the outcome: a failure's reason is the plan's last_error, and a retry is
    # logged as a warning already; a CLI without logging configured prints none of these.
    stage_log.info("%s %s in %.0f ms", run.stage, run.outcome, ms, extra=fields)


def _rows_exist(rt: Runtime, claim: Claim) -> bool:
    """Whether the plan (or version) a unit works for still exists."""
    from indexflow.db import documents as docs_repo

    with transaction(rt.sessions) as s:
        if claim.plan_id is not None:
            return plans_repo.find(s, claim.plan_id) is not None
        return claim.version_id is not None and docs_repo.find_version_by_id(s, claim.version_id) is not None


def after_commit(rt: Runtime, applied: Applied, outbox: Outbox | None) -> None:
    """Drop the vectors a committed step made obsolete, then send the units it added."""
    try:
        for plan_id, collection in applied.drop_plans:
            rt.store.delete_by_plan(collection, plan_id)
        for collection, ids in applied.drop_points:
            rt.store.delete_points(collection, ids)
    except TransientError as exc:
        # Invisible to search already (the database decides); `indexflow reconcile` removes them.
        log.warning("could not drop obsolete vectors now (%s); reconcile will", exc)
    if outbox is not None:
        outbox.send(applied.units)
    for profile_id, collection in applied.loaded:
        finish_first_load(rt, profile_id, collection)


def finish_first_loads(rt: Runtime) -> None:
    """``finish_first_load`` for every active profile (the sweeper's pass: a first load whose
    last plan failed, or a worker that died before building the index, is caught up here)."""
    if not isinstance(rt.store, DeferredIndexStore):
        return
    from indexflow.db import profiles as profiles_repo

    with transaction(rt.readers) as s:
        targets = [(p.id, p.collection) for p in profiles_repo.active(s)]
    for profile_id, collection in targets:
        finish_first_load(rt, profile_id, collection)


def finish_first_load(rt: Runtime, profile_id: int, collection: str) -> None:
    """Build a collection's deferred ANN index once none of its profile's plans is loading.

    A store that defers it (``DeferredIndexStore``: PGVector, Qdrant, Qdrant Edge) serves exact
    search until then; a failure is logged and tried again when the next plan completes.
    """
    store = rt.store
    if not isinstance(store, DeferredIndexStore):
        return
    try:
        if not store.index_pending(collection):
            return
        with transaction(rt.readers) as s:
            if plans_repo.loading(s, profile_id):
                return
        store.build_index(collection)
    except IndexflowError as exc:
        log.warning(
            "could not build the index of %s now (%s); the next completed plan tries again", collection, exc
        )


def fail(rt: Runtime, claim: Claim, message: str) -> Applied:
    """Fail the unit's plan (or every plan of its version, for a parse) with ``message``."""
    if claim.kind == UnitKind.PARSE and claim.version_id is not None:
        return stages.fail_version(rt, claim.version_id, message)
    with transaction(rt.sessions) as s:
        units_repo.delete_unit(s, claim.unit_id)
        plan = plans_repo.find(s, claim.plan_id or -1, for_update=True)
        if plan is None:
            return Applied()
        if claim.chunk_ids and plan.generation == claim.generation:
            plans_repo.mark_chunks_failed(s, claim.chunk_ids, message)
        return machine.apply(s, plan, machine.Fail(message, claim.generation), rt.queues)


def retry(rt: Runtime, claim: Claim, exc: BaseException, *, bounded: bool) -> Applied:
    """Give the unit back with backoff; a bounded (unknown) error fails after ``max_embed_retries``."""
    failures = claim.failures + 1
    limit = rt.settings.max_embed_retries
    reason = describe(exc)
    if bounded and failures > limit:
        return fail(rt, claim, f"gave up after {limit} retries: {type(exc).__name__}: {exc}")
    delay = machine.backoff(failures, cap=rt.settings.retry_max_backoff_seconds)
    with transaction(rt.sessions) as s:
        next_try = units_repo.retry_later(s, claim, delay=delay, error=reason)
        if next_try is not None:
            _mark_waiting(rt, s, claim, reason, claim.error_since or utcnow(), next_try)
    log.warning(
        "unit %s (%s) will retry in %.0f s: %s",
        claim.unit_id,
        claim.kind.value,
        delay.total_seconds(),
        reason,
    )
    return Applied()


def _mark_waiting(
    rt: Runtime, s: Session, claim: Claim, reason: str, since: datetime, next_try: datetime
) -> None:
    if claim.plan_id is not None:
        plans = [p for p in [plans_repo.find(s, claim.plan_id, for_update=True)] if p is not None]
    else:
        plans = plans_repo.for_version(s, claim.version_id or -1, for_update=True)
    for plan in plans:
        machine.apply(s, plan, machine.Waiting(reason, since, next_try), rt.queues)


def describe(exc: BaseException) -> str:
    """A short, readable reason: "store unavailable: connection refused"."""
    if isinstance(exc, IndexflowError):
        return f"{exc.code.replace('_', ' ')}: {exc}"
    return f"{type(exc).__name__}: {exc}"
