"""Chunk plans: read them, rebuild one under a new generation, make one serve search."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from datetime import datetime, timedelta

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db.models import PlanStatus, as_utc
from indexflow.manage.context import Context, check_status
from indexflow.pipeline import machine
from indexflow.views import PlanChanges, PlanView

EVENTS_PAGE = 500


class Plans:
    """``ix.plans``: one plan per (document version, profile).

    Every method takes ``datasets``: when given, a plan of a document outside these datasets is
    missing (``NotFound``) exactly like an id that does not exist (how an API key's scope is
    applied), and listings and the event feed show only these datasets.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def get(self, plan_id: int, *, datasets: Collection[str] | None = None) -> PlanView:
        """The plan's status, counts, error and timestamps.

        Raises:
            NotFound: no such plan (in ``datasets``).
        """
        with self._ctx.read() as s:
            return PlanView.of(plans_repo.get(s, plan_id, datasets=datasets))

    def list(
        self,
        *,
        dataset: str | None = None,
        status: str | None = None,
        datasets: Collection[str] | None = None,
    ) -> builtins.list[PlanView]:
        """Every plan, optionally of one dataset and/or in one status.

        Raises:
            InvalidRequest: ``status`` is not a plan status.
        """
        if status is not None:
            status = check_status(status, [s.value for s in PlanStatus])
        with self._ctx.read() as s:
            ds_id = docs_repo.get_dataset(s, dataset, datasets=datasets).id if dataset else None
            plans = plans_repo.list_plans(s, dataset_id=ds_id, status=status, datasets=datasets)
            return [PlanView.of(p) for p in plans]

    def rerun(self, plan_id: int, *, embed: bool = True, datasets: Collection[str] | None = None) -> PlanView:
        """Build a plan again under a new generation.

        An active plan keeps serving its current chunks while the new generation is built; the
        two are swapped in one transaction once it is embedded (the document never leaves
        search, and stays searchable if the rebuild fails). With ``embed`` false it stops once
        bundled (inspect the chunks, then activate to embed).
        """
        ctx = self._ctx
        ctx.own_home()
        with ctx.write() as s:
            plan = plans_repo.get(s, plan_id, for_update=True, datasets=datasets)
            applied = machine.apply(s, plan, machine.Rerun(embed=embed), ctx.queues)
            version = docs_repo.get_version(s, plan.version_id)
            if version.parsed_at is None and docs_repo.load_blob(s, version.id) is None:
                message = version.parse_error or "the document's bytes are gone"
                applied.merge(machine.apply(s, plan, machine.Fail(message), ctx.queues))
            view = PlanView.of(plan)
        ctx.send(applied)
        return view

    def activate(
        self, plan_id: int, *, force: bool = False, datasets: Collection[str] | None = None
    ) -> PlanView:
        """Make a plan the one serving its (document, profile), in one transaction.

        Raises:
            ConflictError: the plan is not EMBEDDED and ``force`` is false.
        """
        ctx = self._ctx
        ctx.own_home()
        with ctx.write() as s:
            plan = plans_repo.get(s, plan_id, for_update=True, datasets=datasets)
            applied = machine.apply(s, plan, machine.Activate(force=force), ctx.queues)
            docs_repo.serve_version(s, plan.document_id, plan.version_id)
            view = PlanView.of(plan)
        ctx.send(applied)
        return view

    def changed_after(
        self,
        cursor: tuple[datetime, int],
        *,
        dataset: str | None = None,
        document_id: int | None = None,
        datasets: Collection[str] | None = None,
    ) -> PlanChanges:
        """Plans changed after ``cursor`` = (updated_at, id), in that order, and the next cursor.

        Pages by (updated_at, id), so any number of plans changing within the same instant are
        all delivered, page after page. Once caught up, the cursor steps back a little, so a row
        committed late with an earlier timestamp still shows (the caller drops repeats).
        """
        with self._ctx.read() as s:
            ds_id = None
            if dataset is not None:
                ds_id = docs_repo.find_dataset_id(s, dataset)
                if ds_id is None or (datasets is not None and dataset not in datasets):
                    return PlanChanges(plans=[], cursor=cursor, full_page=False)
            plans = plans_repo.changed_after(
                s, cursor, dataset_id=ds_id, document_id=document_id, limit=EVENTS_PAGE, datasets=datasets
            )
            views = [PlanView.of(p) for p in plans]
            stamps = [(as_utc(p.updated_at), p.id) for p in plans]
        if len(plans) == EVENTS_PAGE:
            return PlanChanges(plans=views, cursor=stamps[-1], full_page=True)
        newest = max((t for t, _ in stamps), default=cursor[0])
        return PlanChanges(
            plans=views, cursor=(max(cursor[0], newest - timedelta(seconds=2)), 0), full_page=False
        )
