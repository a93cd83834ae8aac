"""Webhooks: receivers of signed event notifications (add, list, remove).

A webhook is a URL, a secret that signs every delivery (``X-Indexflow-Signature: sha256=<hex
HMAC-SHA256 of the body>``), and optional filters: event types and one dataset. Events are
recorded in the transaction of the change they report and POSTed after it commits, at least
once (``tasks/webhooks.py``); docs/webhooks.md describes the events and their payloads.

The secret is kept as given (signing needs it) and never listed: ``add`` returns it once.
URLs are http(s) only and vetted like the API's URI ingest (``sources/policy.py``): an address
that is not public is refused unless ``webhook_allow_private`` or ``webhook_allow_hosts`` allows
it; every delivery vets the address again before it connects.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from indexflow.db import webhooks as webhooks_repo
from indexflow.db.models import Webhook
from indexflow.domain.webhooks import EVENT_TYPES
from indexflow.errors import InvalidRequest
from indexflow.limits import DATASET_NAME_MAX, WEBHOOK_SECRET_MAX, WEBHOOK_URL_MAX, check_length, check_name
from indexflow.manage.context import Context
from indexflow.sources.policy import UriPolicy
from indexflow.views import CreatedWebhook, WebhookView, iso

SECRET_MIN = 16


class Webhooks:
    """``ix.webhooks``: who hears of plans and documents changing, signed."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def add(
        self,
        url: str,
        *,
        events: Iterable[str] | None = None,
        dataset: str | None = None,
        secret: str | None = None,
    ) -> CreatedWebhook:
        """Add a webhook; the returned view holds its secret, which is never shown again.

        Args:
            url: where to POST (http or https; a public address unless allowed by settings).
            events: the event types it receives (``indexflow.domain.webhooks.EVENT_TYPES``);
                None = every type, also those added later.
            dataset: only events of this dataset; None = every dataset.
            secret: the signing secret (16-200 printable characters, no spaces); by default a
                random one (``secrets.token_urlsafe(32)``).

        Raises:
            InvalidRequest: a URL that is not http(s) or whose host the policy refuses, an
                unknown event type, a malformed dataset name or secret.
        """
        url = _checked_url(url, UriPolicy.for_webhooks(self._ctx.settings))
        wanted = _checked_events(events)
        if dataset is not None:
            check_name("dataset", dataset, DATASET_NAME_MAX)
        generated = secret is None
        key = secrets.token_urlsafe(32) if secret is None else _checked_secret(secret)
        with self._ctx.write() as s:
            row = webhooks_repo.create(s, url=url, secret=key, events=wanted, dataset=dataset)
            view = WebhookView.of(row)
        return CreatedWebhook(**view.model_dump(exclude={"secret"}), secret=key, generated=generated)

    def list(self) -> builtins.list[WebhookView]:
        """Every webhook, oldest first, with its delivery counts (the secret masked)."""
        with self._ctx.read() as s:
            counts = webhooks_repo.counts(s)
            return [_view(w, counts.get(w.id)) for w in webhooks_repo.list_all(s)]

    def get(self, webhook_id: int) -> WebhookView:
        """One webhook (the secret masked).

        Raises:
            NotFound: no webhook has this id.
        """
        with self._ctx.read() as s:
            return _view(webhooks_repo.get(s, webhook_id), webhooks_repo.counts(s).get(webhook_id))

    def remove(self, webhook_id: int) -> WebhookView:
        """Remove a webhook and its pending deliveries: nothing more is sent to it (an attempt
        already under way still ends). The view shows what it had, ``pending`` included.

        Raises:
            NotFound: no webhook has this id.
        """
        with self._ctx.write() as s:
            view = _view(webhooks_repo.get(s, webhook_id), webhooks_repo.counts(s).get(webhook_id))
            webhooks_repo.delete_webhook(s, webhook_id)
        return view

    def pending(self) -> int:
        """Deliveries not made yet, over every webhook."""
        with self._ctx.read() as s:
            return webhooks_repo.pending(s)


def _view(w: Webhook, c: webhooks_repo.Counts | None) -> WebhookView:
    c = c or webhooks_repo.Counts()
    return WebhookView.of(
        w, pending=c.pending, delivered=c.delivered, last_delivered_at=iso(c.last_delivered_at)
    )


def _checked_url(url: str, policy: UriPolicy) -> str:
    url = check_length("url", url.strip(), WEBHOOK_URL_MAX)
    if not url:
        raise InvalidRequest("url: may not be empty")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidRequest(f"url: {url!r} is not a valid URL ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidRequest(f"url: {url!r} must be http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest("url: credentials in the URL are not allowed (the secret signs each delivery)")
    if parts.fragment:
        raise InvalidRequest("url: a fragment (#…) is never sent; drop it")
    policy.vet_http(url)  # scheme, host, every address it resolves to (InvalidRequest if refused)
    return url


def _checked_events(events: Iterable[str] | None) -> builtins.list[str] | None:
    if events is None:
        return None
    if isinstance(events, str):
        events = [events]
    given = [e.strip() for e in events]
    if not given:
        raise InvalidRequest("events: name one or more event types (or none for every type)")
    unknown = sorted({e for e in given if e not in EVENT_TYPES})
    if unknown:
        raise InvalidRequest(f"events: unknown {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    return [e for e in EVENT_TYPES if e in given]


def _checked_secret(secret: str) -> str:
    if not SECRET_MIN <= len(secret) <= WEBHOOK_SECRET_MAX:
        raise InvalidRequest(
            f"secret: give {SECRET_MIN}-{WEBHOOK_SECRET_MAX} characters ({len(secret)} given)"
        )
    if not secret.isprintable() or any(c.isspace() for c in secret):
        raise InvalidRequest("secret: printable characters only, no spaces")
    return secret
