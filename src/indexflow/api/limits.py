"""Request body limits, enforced before and while a body is read (a pure ASGI middleware).

A ``Content-Length`` over the limit is answered 413 at once, without reading the body; a body
without one (chunked) is counted while it streams and cut off at the limit with 413. JSON bodies
(``application/json``, ``application/*+json``) have their own, smaller cap. Whatever the app was
doing with the body when it was cut off (a multipart parser spooling to disk, FastAPI parsing a
JSON model), its answer is replaced by the 413, so no route can spool more than the limit.

The limits are ``api_max_upload_bytes`` and ``api_max_json_bytes`` of the running facade's
settings (``app.state.ix.settings``; their defaults before it exists), unless given to the
middleware.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from indexflow.errors import RequestTooLarge
from indexflow.settings import Settings


def is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/<something>+json`` (parameters ignored)."""
    main = (content_type or "").split(";", 1)[0].strip().lower()
    return main == "application/json" or (main.startswith("application/") and main.endswith("+json"))


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, but never more than ``limit`` bytes of it (``RequestTooLarge`` past that)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


class RequestLimits:
    """Refuse request bodies over the limits with 413 ``too_large`` (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int | None = None, max_json_bytes: int | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_json_bytes

    def _limit(self, scope: Scope, json_body: bool) -> int:
        given = self.max_json_bytes if json_body else self.max_bytes
        if given is not None:
            return given
        name = "api_max_json_bytes" if json_body else "api_max_upload_bytes"
        ix = getattr(getattr(scope.get("app"), "state", None), "ix", None)
        value = getattr(getattr(ix, "settings", None), name, None)
        if isinstance(value, int):
            return value
        default = Settings.model_fields[name].default  # no facade (yet): the defaults, never no limit
        return int(default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self._limit(scope, is_json(headers.get("content-type")))
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _error(send, 422, "invalid_request", f"invalid Content-Length {declared!r}")
                return
            if int(declared) > limit:
                await _too_large(send, f"request body of {declared} bytes is over the {limit}-byte limit")
                return
        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise RequestTooLarge(f"request body is over the {limit}-byte limit")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise RequestTooLarge(f"request body is over the {limit}-byte limit")
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's answer to a cut-off body is replaced by the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await _too_large(send, f"request body is over the {limit}-byte limit")


async def _too_large(send: Send, message: str) -> None:
    await _error(send, 413, RequestTooLarge.code, message)


async def _error(send: Send, status: int, code: str, message: str) -> None:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            # the rest of the body is not read: the client must not reuse this connection
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
