"""Webhook delivery: POST the committed events, signed, at least once.

Events are delivery rows written in the transaction of the status change they report
(``db/webhooks.py``), so nothing is sent for a change that rolled back and nothing committed is
missed. This loop runs in every process that runs a worker (the embedded default's in-process
worker, each ``indexflow worker``), polling every ``webhook_poll_seconds``; a process that
changed something and closes (a CLI command, ``serve`` stopping) makes one last bounded pass.

Each pass claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers never send the
same row at once; a crashed sender's claim expires and the row is sent again), POSTs each with
``X-Indexflow-Signature: sha256=<HMAC of the body>``, and marks it delivered on a 2xx answer.
Anything else (a refusal, a timeout, a connection error, an address the policy refuses) counts
as a failure: the webhook backs off exponentially (capped at ``webhook_max_backoff_seconds``)
and its rows wait, however long the receiver is down. Receivers deduplicate by the event id
(``X-Indexflow-Delivery``), which every attempt of an event repeats.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from indexflow.db import webhooks as webhooks_repo
from indexflow.db.models import utcnow
from indexflow.db.session import transaction
from indexflow.db.webhooks import Due
from indexflow.domain.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign
from indexflow.errors import IndexflowError
from indexflow.pipeline.machine import backoff
from indexflow.runtime import Runtime
from indexflow.sources.policy import UriPolicy
from indexflow.sources.uri import post_http

log = logging.getLogger(__name__)

BATCH = 100
KEEP_DELIVERED = timedelta(days=7)  # delivered rows stay this long (counts in `webhooks list`)
PRUNE_EVERY_SECONDS = 3600.0


class WebhookSender:
    """Claims due deliveries and POSTs them (one pass at a time; thread-safe to share)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.policy = UriPolicy.for_webhooks(rt.settings)
        self._next_prune = 0.0
        self._lock = threading.Lock()

    @property
    def lease_seconds(self) -> float:
        """How long a claim holds: longer than any attempt can take, then another loop resends."""
        return 2 * self.rt.settings.webhook_timeout_seconds + 30

    def deliver(self, *, budget: float | None = None) -> int:
        """Send what is due until nothing is (or ``budget`` seconds passed); how many got a 2xx."""
        deadline = None if budget is None else time.monotonic() + budget
        sent = 0
        with self._lock:
            while True:
                claimed, ok = self._pass(deadline)
                sent += ok
                if claimed < BATCH or (deadline is not None and time.monotonic() > deadline):
                    break
            self._prune()
        return sent

    def _pass(self, deadline: float | None) -> tuple[int, int]:
        with transaction(self.rt.sessions) as s:
            dues = webhooks_repo.claim_due(s, utcnow(), lease_seconds=self.lease_seconds, limit=BATCH)
        ok = 0
        failing: set[int] = set()
        untried: list[Due] = []
        for due in dues:
            if due.webhook_id in failing or (deadline is not None and time.monotonic() > deadline):
                untried.append(due)  # its receiver just failed (it backs off), or out of time
                continue
            if self._attempt(due):
                ok += 1
            else:
                failing.add(due.webhook_id)
        if untried:
            with transaction(self.rt.sessions) as s:
                webhooks_repo.release(s, untried)
        return len(dues) - len(untried), ok

    def _attempt(self, due: Due) -> bool:
        body = due.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(due.secret, body),
            EVENT_HEADER: due.event_type,
            DELIVERY_HEADER: due.event_id,
        }
        status: int | None = None
        try:
            target = self.policy.vet_http(due.url)  # again at every attempt: DNS may have changed
            status = post_http(target, body, headers, self.policy)
            error = None if 200 <= status < 300 else f"the receiver answered {status}"
        except IndexflowError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any client error is a failed attempt, retried
            error = f"{type(exc).__name__}: {exc}"
        now = utcnow()
        cap = self.rt.settings.webhook_max_backoff_seconds
        with transaction(self.rt.sessions) as s:
            if error is None and status is not None:
                webhooks_repo.delivered(s, due, status, now)
                return True
            retry_at = webhooks_repo.failed(
                s, due, status=status, error=error or "failed", now=now, delay=lambda n: backoff(n, cap=cap)
            )
        log.warning(
            "webhook %s: %s delivery %s failed (%s); retrying at %s",
            due.webhook_id,
            due.event_type,
            due.event_id,
            error,
            retry_at.isoformat() if retry_at is not None else "never (removed)",
        )
        return False

    def _prune(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        with transaction(self.rt.sessions) as s:
            webhooks_repo.prune_delivered(s, utcnow() - KEEP_DELIVERED)


def flush_recorded(rt: Runtime, sender: WebhookSender | None = None) -> None:
    """On close: if this process recorded events, one pass of at most ``webhook_timeout_seconds``
    to send them now (best effort: what is left waits for the next worker's loop)."""
    if webhooks_repo.recorded() == 0:
        return  # this process recorded no event: nothing of its own to send
    try:
        (sender or WebhookSender(rt)).deliver(budget=rt.settings.webhook_timeout_seconds)
    except Exception as exc:  # noqa: BLE001 - best effort: the rows stay for the next worker
        log.warning("webhook delivery at close failed: %s", exc)


class WebhookThread(threading.Thread):
    """Runs ``sender.deliver()`` every ``interval`` seconds until stopped."""

    def __init__(self, sender: WebhookSender, interval: float) -> None:
        super().__init__(name="indexflow-webhooks", daemon=True)
        self.sender, self.interval = sender, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.sender.deliver()
            except Exception as exc:  # noqa: BLE001 - must outlive a database hiccup; claims expire
                log.warning("webhook delivery pass failed: %s", exc)

    def stop(self, timeout: float | None = None) -> None:
        self._stop_event.set()
        self.join(timeout)
