"""Request ids: ``X-Request-ID`` honoured if sent (and sane), generated otherwise, returned in the
response and put on every log line of the request; one access line per request.

The id is in ``indexflow.observability.logs.REQUEST_ID`` while the request runs (Starlette copies
the context into the threads of sync routes), so every record logged meanwhile carries it. The
access line (logger ``indexflow.api.access``) has ``method``, ``path``, ``status`` and
``duration_ms``; for an event stream it is written when the stream ends.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from indexflow.observability.logs import REQUEST_ID

HEADER = "X-Request-ID"
# What we accept from a client: short, and nothing that could forge a log line or a header.
_ACCEPTED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

access_log = logging.getLogger("indexflow.api.access")


def request_id(sent: str | None) -> str:
    """The client's id if it is acceptable, else a new one (32 hex digits)."""
    if sent is not None and _ACCEPTED.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return REQUEST_ID.get()


class RequestIds:
    """ASGI middleware: the request's id, in its context, its response headers and its access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = request_id(sent)
        # Set for the rest of this task, not reset: a bug's 500 is logged by Starlette's outermost
        # handler after this returns, and that line must carry the id too. Each request is its own
        # task (its own context), so nothing leaks into the next one.
        REQUEST_ID.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method, path = scope.get("method", ""), scope.get("path", "")
            ms = round((time.perf_counter() - started) * 1000, 1)
            access_log.info(
                "%s %s %d in %.0f ms",
                method,
                path,
                status,
                ms,
                extra={"method": method, "path": path, "status": status, "duration_ms": ms},
            )
