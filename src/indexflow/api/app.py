"""The HTTP service: the facade over FastAPI, with JSON errors and server-sent status events."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexflow.api import routes
from indexflow.api.auth import Admin, Reader, check_every_route_has_a_role, require_dataset, still_allowed
from indexflow.api.limits import RequestLimits
from indexflow.api.pages import add_pages
from indexflow.api.request_ids import HEADER as REQUEST_ID_HEADER
from indexflow.api.request_ids import RequestIds, current_request_id
from indexflow.api.schemas import DatasetQuery, IdQuery, describe_errors
from indexflow.errors import (
    ConflictError,
    Forbidden,
    IndexflowError,
    InputTooLarge,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
)
from indexflow.settings import Settings
from indexflow.views import Health

if TYPE_CHECKING:
    from indexflow.encoders.base import Encoder
    from indexflow.service import Indexflow
    from indexflow.stores.base import VectorStore

_STATUS = (
    (NotFound, 404),
    (ConflictError, 409),
    (InputTooLarge, 413),
    (PermanentError, 422),
    (TransientError, 503),
    (Unauthorized, 401),
    (Forbidden, 403),
)


log = logging.getLogger(__name__)

_RECHECK_SECONDS = 5.0  # how often a long event stream checks that its key still holds


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message}}, headers=headers
    )


def create_app(
    settings: Settings | None = None,
    *,
    store: VectorStore | None = None,
    encoder: Encoder | None = None,
) -> FastAPI:
    """Build the app; the facade (and its in-process worker, if no broker) lives with it.

    ``store`` and ``encoder`` go to ``Indexflow`` (e.g. ``indexflow.testing`` doubles in tests).
    Routes need an API key once one exists (``indexflow.api.auth``).
    """
    from indexflow.service import Indexflow

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ix = Indexflow(settings or Settings(), store=store, encoder=encoder)
        app.state.ix = ix
        if ix.in_process:
            ix.start_worker()
        try:
            yield
        finally:
            await run_in_threadpool(ix.close)

    app = FastAPI(
        title="indexflow",
        version="0.1.0",
        description="Document ingestion and indexing for RAG: upload, follow status, search.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: api/pages.py, with assets from the package (no CDN)
        redoc_url=None,
    )

    @app.exception_handler(IndexflowError)
    async def _ours(_: Request, exc: IndexflowError) -> JSONResponse:
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return error_response(status, exc.code, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", describe_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(ValueError)
    async def _value(_: Request, exc: ValueError) -> JSONResponse:
        # A pydantic ValidationError is a ValueError too: say what is wrong, not its raw dump.
        message = describe_errors(exc.errors()) if isinstance(exc, ValidationError) else str(exc)
        return error_response(422, "invalid_request", message)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # A bug, never the caller's fault: the error body still, and no internals in it.
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        message = f"internal error ({type(exc).__name__}); see the server log"
        # Starlette answers this one outside RequestIds: give it the request's id here.
        rid = current_request_id()
        return error_response(500, "internal_error", message, {REQUEST_ID_HEADER: rid} if rid else None)

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics(request: Request, who: Admin) -> Response:
        """Prometheus metrics (text format): stages, embedding, retries, failures, Dramatiq, and
        plans, documents and queues read from the database now. Needs an admin key once keys
        exist: the gauges name every dataset."""
        ix: Indexflow = request.app.state.ix
        exp = ix.metrics.exposition(datasets=who.scope)
        return Response(exp.text, media_type=exp.content_type)

    @app.get("/healthz", response_model=Health)
    def healthz(request: Request) -> Health:
        """The database answers (else 503), and live workers per queue ("degraded" if one has none)."""
        ix: Indexflow = request.app.state.ix
        return ix.maintenance.health()

    @app.get("/v1/events")
    async def events(
        request: Request,
        who: Reader,
        dataset: DatasetQuery = None,
        document_id: IdQuery = None,
        since: datetime | None = None,
    ) -> Any:
        """Server-sent events: one ``plan`` event per plan status/progress change.

        Starts with every matching plan changed after ``since`` (default: the document's whole
        history when ``document_id`` is given, else the last few seconds), then follows changes.
        Only the key's datasets show; the stream ends when its key is revoked.
        """
        from sse_starlette.sse import EventSourceResponse

        ix: Indexflow = request.app.state.ix
        if dataset is not None:
            require_dataset(who, dataset)
        if since is None:
            start = (
                datetime(1970, 1, 1, tzinfo=UTC) if document_id else datetime.now(UTC) - timedelta(seconds=5)
            )
        else:
            start = since if since.tzinfo is not None else since.replace(tzinfo=UTC)

        async def stream() -> AsyncIterator[dict[str, str]]:
            cursor: tuple[datetime, int] = (start - timedelta(microseconds=1), 0)
            seen: dict[int, tuple[str, int | None, int, bool]] = {}
            recheck = time.monotonic() + _RECHECK_SECONDS
            while not await request.is_disconnected():
                if time.monotonic() >= recheck:
                    if not await run_in_threadpool(still_allowed, ix, request, who):
                        return  # the key was revoked (or the API got its first key)
                    recheck = time.monotonic() + _RECHECK_SECONDS
                page = await run_in_threadpool(
                    ix.plans.changed_after,
                    cursor,
                    dataset=dataset,
                    document_id=document_id,
                    datasets=who.scope,
                )
                cursor = page.cursor
                for plan in page.plans:
                    # the generation too: a rerun that ends where it began (FAILED again,
                    # EMBEDDED again) within one poll is still a change
                    key = (plan.status, plan.embedded_count, plan.generation, plan.is_active)
                    if seen.get(plan.plan_id) != key:
                        seen[plan.plan_id] = key
                        yield {"event": "plan", "data": json.dumps(plan.to_dict())}
                if not page.full_page:
                    await asyncio.sleep(0.5)  # caught up; a full page is followed at once

        return EventSourceResponse(stream(), ping=15)

    app.include_router(routes.router)
    add_pages(app)  # the dashboard at /, /docs, /redoc and their static files
    app.add_middleware(RequestLimits)  # body limits (413) from the facade's settings, before reading
    app.add_middleware(RequestIds)  # outermost: X-Request-ID on every answer, its id on every log line
    check_every_route_has_a_role(app)
    return app
