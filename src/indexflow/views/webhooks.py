"""Webhooks as listed (the secret masked) and as just added (the secret, this once)."""

from __future__ import annotations

from pydantic import Field

from indexflow.db.models import Webhook
from indexflow.views.base import View, iso

MASK = "********"


class WebhookView(View):
    """A webhook: where it posts, what it hears of, how its deliveries go. Never its secret."""

    webhook_id: int
    url: str
    events: list[str] | None = Field(description="event types it receives; null = every type")
    dataset: str | None = Field(description="the dataset it hears of; null = every dataset")
    secret: str = Field(default=MASK, description="always masked: it was shown once, when added")
    created_at: str | None
    pending: int = Field(default=0, description="deliveries not made yet")
    delivered: int = Field(default=0, description="deliveries made (kept 7 days)")
    last_delivered_at: str | None = None
    failures: int = Field(default=0, description="failed attempts in a row (0: healthy)")
    retry_at: str | None = Field(default=None, description="while failing: its next attempt")
    last_error: str | None = Field(default=None, description="why the last attempt failed")

    @classmethod
    def of(
        cls, w: Webhook, *, pending: int = 0, delivered: int = 0, last_delivered_at: str | None = None
    ) -> WebhookView:
        return cls(
            webhook_id=w.id,
            url=w.url,
            events=None if w.events is None else list(w.events),
            dataset=w.dataset,
            created_at=iso(w.created_at),
            pending=pending,
            delivered=delivered,
            last_delivered_at=last_delivered_at,
            failures=w.failures,
            retry_at=iso(w.retry_at),
            last_error=w.last_error,
        )


class CreatedWebhook(WebhookView):
    """A webhook just added, with its signing secret: shown this once, never listed."""

    secret: str = Field(description="signs every delivery (HMAC-SHA256); not shown again")
    generated: bool = Field(description="whether indexflow generated the secret (none was given)")


class WebhookList(View):
    webhooks: list[WebhookView]
