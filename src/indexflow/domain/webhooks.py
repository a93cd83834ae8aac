"""Webhook events: their types, the JSON body and its HMAC-SHA256 signature (pure, no I/O).

A delivery is a JSON POST whose body is :func:`event_body` and whose header
``X-Indexflow-Signature`` is :func:`sign` of that exact body with the webhook's secret. The body
is serialised once, when the event is recorded, so every attempt of a delivery (and the
delivery of one event to several webhooks) sends the same bytes under the same event id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

PLAN_EMBEDDED = "plan.embedded"
PLAN_FAILED = "plan.failed"
PLAN_CANCELLED = "plan.cancelled"
DOCUMENT_ACTIVATED = "document.activated"
DOCUMENT_DEACTIVATED = "document.deactivated"
DOCUMENT_DELETED = "document.deleted"

EVENT_TYPES: tuple[str, ...] = (
    PLAN_EMBEDDED,
    PLAN_FAILED,
    PLAN_CANCELLED,
    DOCUMENT_ACTIVATED,
    DOCUMENT_DEACTIVATED,
    DOCUMENT_DELETED,
)
"""Every event a webhook can subscribe to (see docs/webhooks.md)."""

SIGNATURE_HEADER = "X-Indexflow-Signature"
EVENT_HEADER = "X-Indexflow-Event"
DELIVERY_HEADER = "X-Indexflow-Delivery"
SIGNATURE_SCHEME = "sha256="


def event_body(event_id: str, event_type: str, time: str, fields: Mapping[str, Any]) -> bytes:
    """The JSON body of an event: ``id``, ``type``, ``time`` first, then its fields (UTF-8)."""
    doc = {"id": event_id, "type": event_type, "time": time, **fields}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """The ``X-Indexflow-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SIGNATURE_SCHEME + digest


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` (the header's value) signs ``body`` with ``secret`` (constant time).

    What a receiver runs on the raw request body, before parsing it.
    """
    if not signature or not signature.startswith(SIGNATURE_SCHEME):
        return False
    return hmac.compare_digest(sign(secret, body), signature.strip())
