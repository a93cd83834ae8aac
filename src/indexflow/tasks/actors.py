"""Thin actors: a unit id in, ``run_unit`` does the rest. One actor per kind of unit.

Retries live in the outbox (backoff recorded in the database, so they survive restarts); the
only Dramatiq retry left is for a state database that cannot be reached at all, where nothing
can be recorded: the message itself is retried, with backoff, for as long as that lasts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq

from indexflow.db.models import UnitKind
from indexflow.errors import DatabaseUnavailable
from indexflow.runtime import Runtime
from indexflow.tasks.execute import run_unit, time_limit_seconds
from indexflow.tasks.heartbeat import WorkerState
from indexflow.tasks.outbox import Outbox

log = logging.getLogger(__name__)

MINUTE_MS = 60_000


def _database_down(_retries: int, exc: BaseException) -> bool:
    return isinstance(exc, DatabaseUnavailable)


@dataclass
class Actors:
    by_kind: dict[UnitKind, dramatiq.Actor[Any, Any]]

    def send(self, kind: UnitKind, unit_id: int) -> None:
        self.by_kind[kind].send(unit_id)


def build_actors(broker: dramatiq.Broker, rt: Runtime, worker: WorkerState, outbox: Outbox) -> Actors:
    """Declare the actors on ``broker``, bound to ``rt`` and this process's worker state."""
    s = rt.settings

    def run(unit_id: int) -> None:
        run_unit(rt, unit_id, worker, outbox)

    common: dict[str, Any] = {
        "broker": broker,
        "retry_when": _database_down,
        "min_backoff": 1000,
        "max_backoff": int(s.retry_max_backoff_seconds * 1000),
    }
    by_kind: dict[UnitKind, dramatiq.Actor[Any, Any]] = {}
    for kind, queue in (
        (UnitKind.PARSE, s.plan_queue),
        (UnitKind.BUNDLE, s.plan_queue),
        (UnitKind.EMBED, s.embed_queue),
    ):
        # A stage over its time limit gets TimeLimitExceeded (a BaseException) in its thread;
        # run_unit turns that into a readable failure ("parse exceeded 180 s"). A parse's own
        # limit (its sandbox, parse_timeout_seconds) is lower, so a slow document fails with
        # the sandbox's message first.
        # dramatiq.actor(fn=..., **options) only type-checks in its decorator form.
        by_kind[kind] = dramatiq.actor(
            actor_name=f"indexflow.{kind.value}_unit",
            queue_name=queue,
            time_limit=time_limit_seconds(rt, kind) * 1000,
            **common,
        )(_named(run, kind))
    return Actors(by_kind)


def _named(fn: Callable[[int], None], kind: UnitKind) -> Callable[[int], None]:
    def unit(unit_id: int) -> None:
        fn(unit_id)

    unit.__name__ = f"{kind.value}_unit"
    return unit
