"""Chunk plans: read them, rebuild one under a new generation, make one serve search."""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db.models import as_utc
from indexflow.manage.context import Context
from indexflow.pipeline import machine
from indexflow.views import PlanChanges, PlanView

EVENTS_PAGE = 500


class Plans:
    """``ix.plans``: one plan per (document version, profile)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def get(self, plan_id: int) -> PlanView:
        """The plan's status, counts, error and timestamps.

        Raises:
            NotFound: no such plan.
        """
        with self._ctx.read() as s:
            return PlanView.of(plans_repo.get(s, plan_id))

    def list(self, *, dataset: str | None = None, status: str | None = None) -> builtins.list[PlanView]:
        """Every plan, optionally of one dataset and/or in one status."""
        with self._ctx.read() as s:
            ds_id = docs_repo.get_dataset(s, dataset).id if dataset else None
            return [PlanView.of(p) for p in plans_repo.list_plans(s, dataset_id=ds_id, status=status)]

    def rerun(self, plan_id: int, *, embed: bool = True) -> PlanView:
        """Build a plan again under a new generation.

        An active plan keeps serving its current chunks while the new generation is built; the
        two are swapped in one transaction once it is embedded (the document never leaves
        search, and stays searchable if the rebuild fails). With ``embed`` false it stops once
        bundled (inspect the chunks, then activate to embed).
        """
        ctx = self._ctx
        ctx.own_home()
        with ctx.write() as s:
            plan = plans_repo.get(s, plan_id, for_update=True)
            applied = machine.apply(s, plan, machine.Rerun(embed=embed), ctx.queues)
            version = docs_repo.get_version(s, plan.version_id)
            if version.parsed_at is None and docs_repo.load_blob(s, version.id) is None:
                message = version.parse_error or "the document's bytes are gone"
                applied.merge(machine.apply(s, plan, machine.Fail(message), ctx.queues))
            view = PlanView.of(plan)
        ctx.send(applied)
        return view

    def activate(self, plan_id: int, *, force: bool = False) -> PlanView:
        """Make a plan the one serving its (document, profile), in one transaction.

        Raises:
            ConflictError: the plan is not EMBEDDED and ``force`` is false.
        """
        ctx = self._ctx
        ctx.own_home()
        with ctx.write() as s:
            plan = plans_repo.get(s, plan_id, for_update=True)
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
                if ds_id is None:
                    return PlanChanges(plans=[], cursor=cursor, full_page=False)
            plans = plans_repo.changed_after(
                s, cursor, dataset_id=ds_id, document_id=document_id, limit=EVENTS_PAGE
            )
            views = [PlanView.of(p) for p in plans]
            stamps = [(as_utc(p.updated_at), p.id) for p in plans]
        if len(plans) == EVENTS_PAGE:
            return PlanChanges(plans=views, cursor=stamps[-1], full_page=True)
        newest = max((t for t, _ in stamps), default=cursor[0])
        return PlanChanges(
            plans=views, cursor=(max(cursor[0], newest - timedelta(seconds=2)), 0), full_page=False
        )
