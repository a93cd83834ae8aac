"""Repository: webhooks and their deliveries (the webhooks' outbox).

An event is recorded by :func:`announce_plan` / :func:`announce_document` in the caller's
transaction (the state machine's, activation's, a document's removal): one delivery row per
subscribed webhook, carrying the JSON body that will be signed and sent. So an event exists
exactly when its status change committed. The delivery loop (``tasks/webhooks.py``) claims due
rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers), POSTs them after
that commit and marks them delivered, or notes the failure and backs the webhook off.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from indexflow.db.models import ChunkPlan, Document, Webhook, WebhookDelivery, utcnow
from indexflow.domain.webhooks import event_body
from indexflow.errors import NotFound

_recorded = itertools.count(1)
_last_recorded = 0


def recorded() -> int:
    """How many events this process recorded so far (committed or not): 0 = nothing to flush."""
    return _last_recorded


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery, with what sending it needs."""

    delivery_id: int
    webhook_id: int
    url: str
    secret: str
    event_id: str
    event_type: str
    body: str
    attempts: int
    token: str


@dataclass(frozen=True, slots=True)
class Counts:
    pending: int = 0
    delivered: int = 0
    last_delivered_at: datetime | None = None


# -- webhooks ------------------------------------------------------------------------------------
def create(s: Session, *, url: str, secret: str, events: list[str] | None, dataset: str | None) -> Webhook:
    row = Webhook(url=url, secret=secret, events=events, dataset=dataset, failures=0)
    s.add(row)
    s.flush()
    return row


def list_all(s: Session) -> list[Webhook]:
    return list(s.scalars(select(Webhook).order_by(Webhook.id)))


def get(s: Session, webhook_id: int) -> Webhook:
    row = s.get(Webhook, webhook_id)
    if row is None:
        raise NotFound(f"webhook {webhook_id} does not exist")
    return row


def delete_webhook(s: Session, webhook_id: int) -> None:
    """Delete a webhook and every delivery it still had (pending ones are never sent)."""
    s.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
    s.execute(delete(Webhook).where(Webhook.id == webhook_id))


def counts(s: Session) -> dict[int, Counts]:
    """Per webhook: deliveries pending, delivered (still kept), and the last delivery's time."""
    delivered = WebhookDelivery.delivered_at.is_not(None)
    rows = s.execute(
        select(
            WebhookDelivery.webhook_id,
            func.count().filter(~delivered),
            func.count().filter(delivered),
            func.max(WebhookDelivery.delivered_at),
        ).group_by(WebhookDelivery.webhook_id)
    )
    return {wid: Counts(int(p), int(d), last) for wid, p, d, last in rows}


# -- events --------------------------------------------------------------------------------------
def _subscribers(s: Session, event_type: str) -> list[Webhook]:
    return [h for h in list_all(s) if h.events is None or event_type in h.events]


def _record(
    s: Session, hooks: Sequence[Webhook], event_type: str, dataset: str | None, fields: dict[str, Any]
) -> str | None:
    """One event: a delivery per webhook of ``hooks`` that wants ``dataset``; its id, if any."""
    targets = [h for h in hooks if h.dataset is None or h.dataset == dataset]
    if not targets:
        return None
    global _last_recorded
    _last_recorded = next(_recorded)
    event_id = str(uuid.uuid4())
    body = event_body(event_id, event_type, utcnow().isoformat(), {"dataset": dataset, **fields})
    text = body.decode("utf-8")
    for h in targets:
        s.add(
            WebhookDelivery(webhook_id=h.id, event_id=event_id, event_type=event_type, body=text, attempts=0)
        )
    s.flush()
    return event_id


def announce_plan(s: Session, event_type: str, plan: ChunkPlan, **extra: Any) -> str | None:
    """Record a plan's event (``plan.embedded``, ``plan.failed``, ``document.activated`` …)."""
    hooks = _subscribers(s, event_type)
    if not hooks:
        return None  # the common case: nothing subscribed, nothing else read
    doc = s.get(Document, plan.document_id)
    fields: dict[str, Any] = {
        "document_id": plan.document_id,
        "source": doc.source if doc is not None else None,
        "version_id": plan.version_id,
        "plan_id": plan.id,
        "profile": plan.profile.name,
        "generation": plan.generation,
        "status": plan.status.value,
        **extra,
    }
    return _record(s, hooks, event_type, doc.dataset.name if doc is not None else None, fields)


def announce_document(s: Session, event_type: str, doc: Document, **extra: Any) -> str | None:
    """Record a document's event (``document.deactivated``, ``document.deleted``)."""
    hooks = _subscribers(s, event_type)
    if not hooks:
        return None
    fields: dict[str, Any] = {
        "document_id": doc.id,
        "source": doc.source,
        "version_id": doc.current_version_id,
        "plan_id": None,
        "profile": None,
        **extra,
    }
    return _record(s, hooks, event_type, doc.dataset.name, fields)


def announce_documents(s: Session, event_type: str, document_ids: Sequence[int], **extra: Any) -> int:
    """Record one event per document of ``document_ids`` (read only if a webhook subscribes)."""
    if not document_ids or not _subscribers(s, event_type):
        return 0
    docs = s.scalars(select(Document).where(Document.id.in_(list(document_ids))).order_by(Document.id))
    return sum(announce_document(s, event_type, d, **extra) is not None for d in docs)


# -- delivery ------------------------------------------------------------------------------------
def claim_due(s: Session, now: datetime, *, lease_seconds: float, limit: int = 100) -> list[Due]:
    """Claim up to ``limit`` undelivered rows whose webhook is not backing off.

    Rows a live claim holds (another loop is sending them) are skipped; so are rows another
    transaction has locked (``SKIP LOCKED``). The least tried go first, so one event a receiver
    keeps refusing does not hold back the others.
    """
    rows = list(
        s.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.webhook_id,
                Webhook.url,
                Webhook.secret,
                WebhookDelivery.event_id,
                WebhookDelivery.event_type,
                WebhookDelivery.body,
                WebhookDelivery.attempts,
            )
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(
                WebhookDelivery.delivered_at.is_(None),
                or_(WebhookDelivery.claim_until.is_(None), WebhookDelivery.claim_until < now),
                or_(Webhook.retry_at.is_(None), Webhook.retry_at <= now),
            )
            .order_by(WebhookDelivery.attempts, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        )
    )
    if not rows:
        return []
    token = str(uuid.uuid4())
    s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_([r[0] for r in rows]))
        .values(claim_token=token, claim_until=now + timedelta(seconds=lease_seconds))
    )
    return [Due(*row, token=token) for row in rows]


def delivered(s: Session, due: Due, status: int, now: datetime) -> None:
    """The receiver answered 2xx: the delivery is done; its webhook is healthy again."""
    s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == due.delivery_id)
        .values(
            delivered_at=now,
            attempts=WebhookDelivery.attempts + 1,
            last_status=status,
            last_error=None,
            claim_token=None,
            claim_until=None,
        )
    )
    s.execute(
        update(Webhook)
        .where(Webhook.id == due.webhook_id)
        .values(failures=0, retry_at=None, last_error=None, last_success_at=now)
    )


def failed(
    s: Session,
    due: Due,
    *,
    status: int | None,
    error: str,
    now: datetime,
    delay: Callable[[int], timedelta],
) -> datetime | None:
    """An attempt failed: count it, give the row back, back the webhook off by ``delay(failures)``.

    Returns:
        When the webhook is tried again (None: it was removed meanwhile).
    """
    s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == due.delivery_id, WebhookDelivery.claim_token == due.token)
        .values(
            attempts=WebhookDelivery.attempts + 1,
            last_status=status,
            last_error=error[:2000],
            claim_token=None,
            claim_until=None,
        )
    )
    hook = s.scalar(select(Webhook).where(Webhook.id == due.webhook_id).with_for_update())
    if hook is None:
        return None
    hook.failures += 1
    hook.retry_at = now + delay(hook.failures)
    hook.last_error = error[:2000]
    return hook.retry_at


def release(s: Session, dues: Sequence[Due]) -> None:
    """Give claimed rows back untried (their webhook just failed: they wait for its backoff)."""
    if dues:
        s.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id.in_([d.delivery_id for d in dues]),
                WebhookDelivery.claim_token == dues[0].token,
            )
            .values(claim_token=None, claim_until=None)
        )


def prune_delivered(s: Session, before: datetime) -> int:
    """Forget deliveries made before ``before`` (they are kept a while for ``webhooks list``)."""
    result = s.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.delivered_at.is_not(None), WebhookDelivery.delivered_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def pending(s: Session) -> int:
    """Deliveries not made yet (every webhook)."""
    q = select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.delivered_at.is_(None))
    return int(s.scalar(q) or 0)
