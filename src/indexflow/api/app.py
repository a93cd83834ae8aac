"""The HTTP service: the facade over FastAPI, with JSON errors and server-sent status events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexflow.api import routes
from indexflow.errors import (
    ConflictError,
    IndexflowError,
    NotFound,
    PermanentError,
    TransientError,
)
from indexflow.settings import Settings
from indexflow.views import Health

if TYPE_CHECKING:
    from indexflow.service import Indexflow

_STATUS = ((NotFound, 404), (ConflictError, 409), (PermanentError, 422), (TransientError, 503))


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the facade (and its in-process worker, if no broker) lives with it."""
    from indexflow.service import Indexflow

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ix = Indexflow(settings or Settings())
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
    )

    @app.exception_handler(IndexflowError)
    async def _ours(_: Request, exc: IndexflowError) -> JSONResponse:
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 400)
        return error_response(status, exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(ValueError)
    async def _value(_: Request, exc: ValueError) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc))

    @app.get("/healthz", response_model=Health)
    def healthz(request: Request) -> Health:
        """The database answers (else 503), and live workers per queue ("degraded" if one has none)."""
        ix: Indexflow = request.app.state.ix
        return ix.maintenance.health()

    @app.get("/v1/events")
    async def events(
        request: Request,
        dataset: str | None = None,
        document_id: int | None = None,
        since: datetime | None = None,
    ) -> Any:
        """Server-sent events: one ``plan`` event per plan status/progress change.

        Starts with every matching plan changed after ``since`` (default: the document's whole
        history when ``document_id`` is given, else the last few seconds), then follows changes.
        """
        from sse_starlette.sse import EventSourceResponse

        ix: Indexflow = request.app.state.ix
        if since is None:
            start = (
                datetime(1970, 1, 1, tzinfo=UTC) if document_id else datetime.now(UTC) - timedelta(seconds=5)
            )
        else:
            start = since if since.tzinfo is not None else since.replace(tzinfo=UTC)

        async def stream() -> AsyncIterator[dict[str, str]]:
            cursor: tuple[datetime, int] = (start - timedelta(microseconds=1), 0)
            seen: dict[int, tuple[str, int | None]] = {}
            while not await request.is_disconnected():
                page = await run_in_threadpool(
                    ix.plans.changed_after, cursor, dataset=dataset, document_id=document_id
                )
                cursor = page.cursor
                for plan in page.plans:
                    key = (plan.status, plan.embedded_count)
                    if seen.get(plan.plan_id) != key:
                        seen[plan.plan_id] = key
                        yield {"event": "plan", "data": json.dumps(plan.to_dict())}
                if not page.full_page:
                    await asyncio.sleep(0.5)  # caught up; a full page is followed at once

        return EventSourceResponse(stream(), ping=15)

    app.include_router(routes.router)
    return app
