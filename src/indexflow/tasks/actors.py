"""Thin actors: ids in, a pipeline stage, follow-up messages out. Retries declared on the actor."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from indexflow.errors import PermanentError
from indexflow.pipeline import stages
from indexflow.pipeline.runtime import Runtime, Work

log = logging.getLogger(__name__)

MINUTE_MS = 60_000


@dataclass
class Actors:
    parse_version: dramatiq.Actor[Any, Any]
    bundle_plan: dramatiq.Actor[Any, Any]
    embed_batch: dramatiq.Actor[Any, Any]

    def send(self, work: Work) -> None:
        actor = {"parse": self.parse_version, "bundle": self.bundle_plan, "embed": self.embed_batch}[
            work.stage
        ]
        actor.send(*work.args)

    def send_all(self, work: Sequence[Work]) -> None:
        for item in work:
            self.send(item)


def _retries() -> int:
    message = CurrentMessage.get_current_message()
    return int(message.options.get("retries", 0)) if message is not None else 0


def build_actors(broker: dramatiq.Broker, rt: Runtime) -> Actors:
    """Declare the actors on ``broker``, bound to ``rt`` (one Runtime per worker process)."""
    s = rt.settings
    max_retries = s.max_embed_retries
    holder: dict[str, Actors] = {}

    def guarded(run: Callable[[], list[Work]], on_fail: Callable[[str], None]) -> None:
        try:
            work = run()
        except PermanentError as exc:
            on_fail(str(exc))
            return
        except Exception as exc:
            # Transient (or unknown) errors retry with backoff; the last try fails the plan.
            if _retries() >= max_retries:
                on_fail(f"gave up after {max_retries} retries: {type(exc).__name__}: {exc}")
                return
            log.warning("retrying after %s: %s", type(exc).__name__, exc)
            raise
        holder["actors"].send_all(work)

    def parse_version(version_id: int) -> None:
        guarded(
            lambda: stages.parse_version(rt, version_id),
            lambda msg: stages.fail_version(rt, version_id, msg),
        )

    def bundle_plan(plan_id: int, generation: int, embed: bool = True) -> None:
        guarded(
            lambda: stages.bundle_plan(rt, plan_id, generation, embed),
            lambda msg: stages.fail_plan(rt, plan_id, msg),
        )

    def embed_batch(plan_id: int, generation: int, chunk_ids: list[int]) -> None:
        guarded(
            lambda: stages.embed_batch(rt, plan_id, generation, chunk_ids),
            lambda msg: stages.fail_plan(rt, plan_id, msg, chunk_ids),
        )

    common: dict[str, Any] = {
        "broker": broker,
        "max_retries": max_retries,
        "min_backoff": 500,
        "max_backoff": 5 * MINUTE_MS,
    }
    actors = Actors(
        parse_version=dramatiq.actor(
            actor_name="indexflow.parse_version", queue_name=s.plan_queue, time_limit=60 * MINUTE_MS, **common
        )(parse_version),
        bundle_plan=dramatiq.actor(
            actor_name="indexflow.bundle_plan", queue_name=s.plan_queue, time_limit=60 * MINUTE_MS, **common
        )(bundle_plan),
        embed_batch=dramatiq.actor(
            actor_name="indexflow.embed_batch", queue_name=s.embed_queue, time_limit=30 * MINUTE_MS, **common
        )(embed_batch),
    )
    holder["actors"] = actors
    return actors
