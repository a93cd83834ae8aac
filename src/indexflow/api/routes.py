"""Routes under /v1: documents, plans, profiles, search."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from indexflow.api.schemas import (
    Accepted,
    ProfileClone,
    ProfileCreate,
    SearchRequest,
    SearchResponse,
    UriIngest,
)
from indexflow.db import plans as plans_repo
from indexflow.db.models import as_utc
from indexflow.db.session import transaction
from indexflow.errors import ConfigurationError, InputTooLarge, InvalidRequest
from indexflow.reports import plan_view
from indexflow.sources import Source

router = APIRouter(prefix="/v1")


def _ix(request: Request) -> Any:
    return request.app.state.ix


def _accepted(reg: Any) -> JSONResponse:
    body = Accepted(
        document_id=reg.document_id,
        version_id=reg.version_id,
        plan_ids=reg.plan_ids,
        outcome=reg.outcome,
        status_url=f"/v1/documents/{reg.document_id}",
    )
    return JSONResponse(status_code=202, content=body.model_dump())


@router.post("/datasets/{dataset}/documents", status_code=202, response_model=Accepted)
async def upload_document(request: Request, dataset: str) -> JSONResponse:
    """Multipart upload (field ``file``) or JSON ``{"uri": …}``; 202 with document and plan ids."""
    from starlette.concurrency import run_in_threadpool

    ix = _ix(request)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        try:
            form = await request.form()
        except HTTPException as exc:  # Starlette's own 400 would not carry our error body
            raise InvalidRequest(f"malformed multipart body: {exc.detail}") from exc
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidRequest("multipart body needs a file field named 'file'")
        limit = ix.settings.api_max_upload_bytes
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise InputTooLarge(f"upload is over the {limit}-byte limit")
        name = upload.filename or "upload"
        source = str(form.get("source") or f"upload://{dataset}/{name}")
        reg = await run_in_threadpool(ix.enqueue_source, Source(source, name), dataset=dataset, data=data)
        return _accepted(reg)
    try:
        body = UriIngest.model_validate(await request.json())
    except ValueError as exc:
        raise InvalidRequest(f"send multipart/form-data with a file, or JSON {{'uri': …}}: {exc}") from exc
    if "://" not in body.uri or body.uri.startswith("file://"):
        if not ix.settings.api_allow_local_paths:
            raise InvalidRequest("server paths are not allowed (set INDEXFLOW_API_ALLOW_LOCAL_PATHS=true)")
    try:
        reg = await run_in_threadpool(ix.enqueue_source, body.uri, dataset=dataset, profiles=body.profiles)
    except ImportError as exc:  # fsspec has no backend installed for this URI's scheme
        raise ConfigurationError(f"{body.uri}: this server cannot read such URIs ({exc})") from exc
    return _accepted(reg)


@router.get("/documents/{document_id}")
def get_document(request: Request, document_id: int) -> dict[str, Any]:
    return _ix(request).document(document_id)  # type: ignore[no-any-return]


@router.get("/documents")
def list_documents(
    request: Request,
    dataset: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    docs = _ix(request).status(dataset=dataset)
    if status:
        docs = [d for d in docs if d.status == status.upper()]
    return {"documents": [d.to_dict() for d in docs[:limit]]}


@router.delete("/documents/{document_id}")
def delete_document(request: Request, document_id: int) -> dict[str, Any]:
    return _ix(request).delete_document(document_id)  # type: ignore[no-any-return]


@router.post("/documents/{document_id}/deactivate")
def deactivate_document(request: Request, document_id: int, drop_vectors: bool = True) -> dict[str, Any]:
    return _ix(request).deactivate_document(document_id, drop_vectors=drop_vectors)  # type: ignore[no-any-return]


@router.get("/plans/{plan_id}")
def get_plan(request: Request, plan_id: int) -> dict[str, Any]:
    return _ix(request).plan(plan_id)  # type: ignore[no-any-return]


@router.post("/plans/{plan_id}/rerun", status_code=202)
def rerun_plan(request: Request, plan_id: int, requeue_embedding: bool = True) -> dict[str, Any]:
    return _ix(request).rerun_plan(plan_id, requeue_embedding=requeue_embedding)  # type: ignore[no-any-return]


@router.post("/plans/{plan_id}/activate")
def activate_plan(request: Request, plan_id: int, force: bool = False) -> dict[str, Any]:
    return _ix(request).activate_plan(plan_id, force=force)  # type: ignore[no-any-return]


@router.post("/chunks/{chunk_id}/disable")
def disable_chunk(request: Request, chunk_id: int) -> dict[str, Any]:
    return _ix(request).set_chunk_enabled(chunk_id, False)  # type: ignore[no-any-return]


@router.post("/chunks/{chunk_id}/enable")
def enable_chunk(request: Request, chunk_id: int) -> dict[str, Any]:
    return _ix(request).set_chunk_enabled(chunk_id, True)  # type: ignore[no-any-return]


@router.get("/profiles")
def list_profiles(request: Request) -> dict[str, Any]:
    return {"profiles": _ix(request).profiles()}


@router.post("/profiles", status_code=201)
def create_profile(request: Request, body: ProfileCreate) -> dict[str, Any]:
    params = body.model_dump(exclude={"name", "activate"}, exclude_none=True)
    return _ix(request).create_profile(body.name, activate=body.activate, **params)  # type: ignore[no-any-return]


@router.post("/profiles/{name}/clone", status_code=201)
def clone_profile(request: Request, name: str, body: ProfileClone) -> dict[str, Any]:
    overrides = body.model_dump(exclude={"name"}, exclude_none=True)
    return _ix(request).clone_profile(name, body.name, **overrides)  # type: ignore[no-any-return]


@router.post("/profiles/{name}/activate")
def activate_profile(request: Request, name: str) -> dict[str, Any]:
    return _ix(request).activate_profile(name)  # type: ignore[no-any-return]


@router.post("/profiles/{name}/deactivate")
def deactivate_profile(request: Request, name: str) -> dict[str, Any]:
    return _ix(request).deactivate_profile(name)  # type: ignore[no-any-return]


@router.post("/search", response_model=SearchResponse)
def search(request: Request, body: SearchRequest) -> dict[str, Any]:
    ids = body.filters.document_ids if body.filters else None
    hits = _ix(request).search(
        body.query, dataset=body.dataset, k=body.k, profile=body.profile, document_ids=ids
    )
    return {"hits": [h.to_dict() for h in hits]}


EVENTS_PAGE = 500


def plan_changes(
    ix: Any, cursor: tuple[datetime, int], dataset: str | None, document_id: int | None
) -> tuple[list[dict[str, Any]], tuple[datetime, int]]:
    """Plans changed after ``cursor`` = (updated_at, id), in that order, and the next cursor.

    Pages by (updated_at, id), so any number of plans changing within the same instant are
    all delivered, page after page. Once caught up, the cursor steps back a little, so a row
    committed late with an earlier timestamp still shows (the stream drops repeats).
    """
    with transaction(ix.rt.readers) as s:
        ds_id = None
        if dataset is not None:
            from indexflow.db.documents import find_dataset_id

            ds_id = find_dataset_id(s, dataset)
            if ds_id is None:
                return [], cursor
        plans = plans_repo.changed_after(
            s, cursor, dataset_id=ds_id, document_id=document_id, limit=EVENTS_PAGE
        )
        out = [plan_view(p) for p in plans]
    if len(plans) == EVENTS_PAGE:
        last = plans[-1]
        return out, (as_utc(last.updated_at), last.id)
    newest = max((as_utc(p.updated_at) for p in plans), default=cursor[0])
    return out, (max(cursor[0], newest - timedelta(seconds=2)), 0)
