"""Routes under /v1: documents, plans, chunks, profiles, search, eval.

Every route calls the facade and answers with its typed views; none touches the database. Each
declares the role it needs (``who: Reader | Writer | Admin``, see ``api/auth.py``) and passes
``who.scope`` to the facade, so objects outside the key's datasets are 404 like missing ones.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from indexflow.api.auth import Admin, Reader, Writer, require_dataset, require_searchable
from indexflow.api.limits import read_body
from indexflow.api.schemas import (
    DatasetPath,
    DatasetQuery,
    DocumentStatusQuery,
    EvalRequest,
    Id,
    ProfileClone,
    ProfileCreate,
    ProfileDefault,
    ProfileName,
    SearchRequest,
    UriIngest,
    WebhookCreate,
    describe_errors,
    upload_request_body,
)
from indexflow.errors import ConfigurationError, ConflictError, InvalidRequest, RequestTooLarge
from indexflow.service import Indexflow
from indexflow.sources import Source, UriPolicy
from indexflow.views import (
    Accepted,
    ChunkList,
    ChunkToggle,
    CreatedWebhook,
    DocumentList,
    DocumentRemoval,
    DocumentSearchResponse,
    DocumentView,
    EvalReport,
    GateResult,
    PlanView,
    ProfileActivation,
    ProfileDeactivation,
    ProfileList,
    ProfileView,
    Registered,
    SearchResponse,
    WebhookList,
    WebhookView,
)

router = APIRouter(prefix="/v1")


def _ix(request: Request) -> Indexflow:
    ix: Indexflow = request.app.state.ix
    return ix


def _accepted(reg: Registered) -> JSONResponse:
    body = Accepted(**reg.model_dump(), status_url=f"/v1/documents/{reg.document_id}")
    return JSONResponse(status_code=202, content=body.to_dict())


@router.post(
    "/datasets/{dataset}/documents",
    status_code=202,
    response_model=Accepted,
    openapi_extra={"requestBody": upload_request_body()},  # the body is read by hand below
)
async def upload_document(request: Request, dataset: DatasetPath, who: Writer) -> JSONResponse:
    """Multipart upload (field ``file``) or JSON ``{"uri": …}``; 202 with document and plan ids."""
    require_dataset(who, dataset)
    ix = _ix(request)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        try:
            # one file and a few small fields; the file part is bounded by RequestLimits
            form = await request.form(max_files=1, max_fields=16, max_part_size=64 * 1024)
        except HTTPException as exc:  # Starlette's own 400 would not carry our error body
            raise InvalidRequest(f"malformed multipart body: {exc.detail}") from exc
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidRequest("multipart body needs a file field named 'file'")
        limit = ix.settings.api_max_upload_bytes
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise RequestTooLarge(f"upload is over the {limit}-byte limit")
        name = upload.filename or "upload"
        source = str(form.get("source") or f"upload://{dataset}/{name}")
        metadata = _form_metadata(form.get("metadata"))
        reg = await run_in_threadpool(
            ix.enqueue_source, Source(source, name), dataset=dataset, data=data, metadata=metadata
        )
        return _accepted(reg)
    try:
        body = UriIngest.model_validate_json(await read_body(request, ix.settings.api_max_json_bytes))
    except ValidationError as exc:
        why = describe_errors(exc.errors())
        raise InvalidRequest(f"send multipart/form-data with a file, or JSON {{'uri': …}}: {why}") from exc
    policy = UriPolicy.from_settings(ix.settings)  # schemes, local roots, vetted hosts: 422 if refused
    try:
        reg = await run_in_threadpool(
            ix.enqueue_source,
            body.uri,
            dataset=dataset,
            profiles=body.profiles,
            policy=policy,
            metadata=body.metadata,
        )
    except ImportError as exc:  # fsspec has no backend installed for this URI's scheme
        raise ConfigurationError(f"{body.uri}: this server cannot read such URIs ({exc})") from exc
    return _accepted(reg)


def _form_metadata(raw: object) -> dict[str, Any] | None:
    """The multipart ``metadata`` field: empty, or a JSON object (checked again on registration)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise InvalidRequest("the metadata field must be text: a JSON object")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"the metadata field is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("the metadata field must be a JSON object of key/value pairs")
    return value


@router.get("/documents/{document_id}", response_model=DocumentView)
def get_document(request: Request, document_id: Id, who: Reader) -> DocumentView:
    return _ix(request).documents.get(document_id, datasets=who.scope)


@router.get("/documents", response_model=DocumentList)
def list_documents(
    request: Request,
    who: Reader,
    dataset: DatasetQuery = None,
    status: DocumentStatusQuery = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> DocumentList:
    docs = _ix(request).documents.list(dataset=dataset, status=status, limit=limit, datasets=who.scope)
    return DocumentList(documents=docs)


@router.delete("/documents/{document_id}", response_model=DocumentRemoval)
def delete_document(request: Request, document_id: Id, who: Writer) -> DocumentRemoval:
    return _ix(request).documents.delete(document_id, datasets=who.scope)


@router.post("/documents/{document_id}/deactivate", response_model=DocumentRemoval)
def deactivate_document(
    request: Request, document_id: Id, who: Writer, drop_vectors: bool = True
) -> DocumentRemoval:
    return _ix(request).documents.deactivate(document_id, drop_vectors=drop_vectors, datasets=who.scope)


@router.get("/plans/{plan_id}", response_model=PlanView)
def get_plan(request: Request, plan_id: Id, who: Reader) -> PlanView:
    return _ix(request).plans.get(plan_id, datasets=who.scope)


@router.post("/plans/{plan_id}/rerun", status_code=202, response_model=PlanView)
def rerun_plan(request: Request, plan_id: Id, who: Writer, requeue_embedding: bool = True) -> PlanView:
    return _ix(request).plans.rerun(plan_id, embed=requeue_embedding, datasets=who.scope)


@router.post("/plans/{plan_id}/activate", response_model=PlanView)
def activate_plan(request: Request, plan_id: Id, who: Writer, force: bool = False) -> PlanView:
    return _ix(request).plans.activate(plan_id, force=force, datasets=who.scope)


@router.get("/plans/{plan_id}/chunks", response_model=ChunkList)
def list_chunks(
    request: Request, plan_id: Id, who: Reader, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
) -> ChunkList:
    return ChunkList(chunks=_ix(request).chunks.list(plan_id, limit=limit, datasets=who.scope))


@router.post("/chunks/{chunk_id}/disable", response_model=ChunkToggle)
def disable_chunk(request: Request, chunk_id: Id, who: Writer) -> ChunkToggle:
    return _ix(request).chunks.disable(chunk_id, datasets=who.scope)


@router.post("/chunks/{chunk_id}/enable", response_model=ChunkToggle)
def enable_chunk(request: Request, chunk_id: Id, who: Writer) -> ChunkToggle:
    return _ix(request).chunks.enable(chunk_id, datasets=who.scope)


@router.get("/profiles", response_model=ProfileList)
def list_profiles(request: Request, who: Reader) -> ProfileList:
    return ProfileList(profiles=_ix(request).profiles.list())


@router.post("/profiles", status_code=201, response_model=ProfileActivation | ProfileView)
def create_profile(request: Request, body: ProfileCreate, who: Admin) -> ProfileView:
    params = body.model_dump(exclude={"name", "activate"}, exclude_none=True)
    return _ix(request).profiles.create(body.name, activate=body.activate, **params)


@router.post("/profiles/{name}/clone", status_code=201, response_model=ProfileView)
def clone_profile(request: Request, name: ProfileName, body: ProfileClone, who: Admin) -> ProfileView:
    overrides = body.model_dump(exclude={"name"}, exclude_none=True)
    return _ix(request).profiles.clone(name, body.name, **overrides)


@router.post("/profiles/{name}/activate", response_model=ProfileActivation)
def activate_profile(request: Request, name: ProfileName, who: Admin) -> ProfileActivation:
    return _ix(request).profiles.activate(name)


@router.post("/profiles/{name}/default", response_model=GateResult)
def default_profile(request: Request, name: ProfileName, body: ProfileDefault, who: Admin) -> GateResult:
    """Make the profile the one search uses; with ``gate``, only if it is no worse on those
    queries (409 while the candidate's plans are still being built: retry when they are)."""
    try:
        return _ix(request).switch_default(
            name, gate=body.gate, margin=body.margin, k=body.k, dataset=body.dataset, timeout=0
        )
    except TimeoutError as exc:
        raise ConflictError(
            f"profile {name!r} is being built (its plans have been started); "
            "ask again when they are EMBEDDED (GET /v1/plans)"
        ) from exc


@router.post("/profiles/{name}/deactivate", response_model=ProfileDeactivation)
def deactivate_profile(request: Request, name: ProfileName, who: Admin) -> ProfileDeactivation:
    return _ix(request).profiles.deactivate(name)


@router.post("/search", response_model=SearchResponse | DocumentSearchResponse)
def search(request: Request, body: SearchRequest, who: Reader) -> SearchResponse | DocumentSearchResponse:
    """404 for a dataset that does not exist or the key does not see (naming those it sees).

    With ``group_by: "document"`` the answer is ``{"documents": [...]}``: the k best documents,
    each with its best chunk's score and its top chunks as evidence.
    """
    ix = _ix(request)
    require_searchable(ix, who, body.dataset)
    ids = body.filters.document_ids if body.filters else None
    common: dict[str, Any] = {
        "dataset": body.dataset,
        "k": body.k,
        "profile": body.profile,
        "document_ids": ids,
        "mode": body.mode,
        "max_per_document": body.max_per_document,
        "where": body.where,
        "full_bundle": body.full_bundle,
    }
    if body.group_by == "document":
        return DocumentSearchResponse(documents=ix.search(body.query, group_by="document", **common))
    return SearchResponse(hits=ix.search(body.query, **common))


@router.post("/eval", response_model=EvalReport)
def evaluate(request: Request, body: EvalRequest, who: Reader) -> EvalReport:
    """Retrieval figures (hit@1, hit@5, hit@K, MRR@K, nDCG@K, recall@K) on judged queries."""
    ix = _ix(request)
    require_searchable(ix, who, body.dataset)
    return ix.evaluate(
        body.queries,
        dataset=body.dataset,
        profiles=body.profiles,
        k=body.k,
        mode=body.mode,
        max_per_document=body.max_per_document,
    )


@router.post("/webhooks", status_code=201, response_model=CreatedWebhook)
def add_webhook(request: Request, body: WebhookCreate, who: Admin) -> CreatedWebhook:
    """Add a webhook; the answer holds its signing secret (generated if none is given), once."""
    return _ix(request).webhooks.add(body.url, events=body.events, dataset=body.dataset, secret=body.secret)


@router.get("/webhooks", response_model=WebhookList)
def list_webhooks(request: Request, who: Admin) -> WebhookList:
    """Every webhook with its delivery counts; secrets are masked."""
    return WebhookList(webhooks=_ix(request).webhooks.list())


@router.delete("/webhooks/{webhook_id}", response_model=WebhookView)
def remove_webhook(request: Request, webhook_id: Id, who: Admin) -> WebhookView:
    """Remove a webhook and drop its pending deliveries."""
    return _ix(request).webhooks.remove(webhook_id)
