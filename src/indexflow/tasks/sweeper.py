"""The sweeper: one at a time across the fleet, it finds work whose worker is gone.

It re-sends only (1) units whose claim expired — their worker died or hung and sent no
heartbeat for a lease —, (2) units sent but never claimed on a queue whose live workers have
all sat idle for ``redeliver_after_seconds`` (the broker lost the message, e.g. a Redis restart
without persistence), and (3) unfinished plans that have no unit at all (a safety net). Time
spent waiting in a queue behind other work never counts against anything. The relay then sends
what is due (never sent, backoff over).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from indexflow.db import locks
from indexflow.db import units as units_repo
from indexflow.db.models import utcnow
from indexflow.db.session import transaction
from indexflow.pipeline import machine
from indexflow.runtime import Runtime

log = logging.getLogger(__name__)

# Arbitrary constant: the advisory lock that lets one sweeper run at a time on PostgreSQL.


@dataclass(slots=True)
class SweepReport:
    ran: bool = True
    expired_claims: list[int] = field(default_factory=list)
    lost_messages: list[int] = field(default_factory=list)
    resumed_plans: list[int] = field(default_factory=list)
    units: list[int] = field(default_factory=list)  # added by resumed plans: send them

    @property
    def resends(self) -> int:
        return len(self.expired_claims) + len(self.lost_messages) + len(self.resumed_plans)


def sweep(rt: Runtime, *, owner: str | None = None) -> SweepReport:
    """One pass. ``owner`` (the embedded default's start-up): this process owns the home, so
    every claim of another process and every unclaimed message is from a dead run — resume all."""
    settings = rt.settings
    with transaction(rt.sessions) as s:
        if not locks.try_sweeper_lock(s):
            return SweepReport(ran=False)
        now = utcnow()
        report = SweepReport()
        report.expired_claims = units_repo.expire_claims(s, now, not_held_by=owner)
        if owner is not None:
            report.lost_messages = units_repo.resend_all_unclaimed(s)
        else:
            live = units_repo.live_workers(s, now - timedelta(seconds=3 * settings.heartbeat_seconds))
            grace = timedelta(seconds=settings.redeliver_after_seconds)
            idle = [q for q, since in units_repo.idle_queues(live).items() if since <= now - grace]
            report.lost_messages = units_repo.resend_lost(s, idle, sent_before=now - grace)
            units_repo.forget_dead_workers(
                s, now - timedelta(seconds=max(60.0, 10 * settings.heartbeat_seconds))
            )
        for plan in units_repo.stranded_plans(s, older_than=now - timedelta(seconds=2)):
            applied = machine.apply(s, plan, machine.Resume(), rt.queues)
            if applied.units:
                report.resumed_plans.append(plan.id)
                report.units += applied.units
    if report.resends:
        log.info(
            "sweeper: %d expired claim(s), %d lost message(s), %d stranded plan(s) sent again",
            len(report.expired_claims),
            len(report.lost_messages),
            len(report.resumed_plans),
        )
    return report
