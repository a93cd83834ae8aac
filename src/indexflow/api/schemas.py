"""Request bodies, typed parameters and the error body of the HTTP API (responses are views).

Every body forbids unknown fields (a misspelt ``"filter"`` is a 422, not a silently unfiltered
search), and every string and integer is bounded by the column it ends up in
(``indexflow.limits``), so a request that cannot be stored is a 422 naming the field before it
reaches the facade. The facade checks the same limits again for the library and the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from indexflow.limits import (
    DATASET_NAME_MAX,
    ENCODER_NAME_MAX,
    EVENT_TYPE_MAX,
    ID_MAX,
    INT_MAX,
    NAME_PATTERN,
    PROFILE_NAME_MAX,
    SOURCE_MAX,
    WEBHOOK_SECRET_MAX,
    WEBHOOK_URL_MAX,
)

# -- statuses (the values of db.models.PlanStatus; tests/e2e/test_api_validation.py keeps them equal)
PlanStatusName = Literal["PENDING", "BUNDLING", "READY", "EMBEDDING", "EMBEDDED", "FAILED"]
DocumentStatusName = Literal["PENDING", "BUNDLING", "READY", "EMBEDDING", "EMBEDDED", "FAILED", "INACTIVE"]


def _upper(value: Any) -> Any:
    """Statuses are matched in any case ("embedded" is EMBEDDED)."""
    return value.upper() if isinstance(value, str) else value


# -- parameters -----------------------------------------------------------------------------------
Id = Annotated[int, Path(ge=1, le=ID_MAX, description="a database id")]
DatasetPath = Annotated[
    str, Path(min_length=1, max_length=DATASET_NAME_MAX, description="the dataset's name")
]
DatasetQuery = Annotated[str | None, Query(min_length=1, max_length=DATASET_NAME_MAX)]
IdQuery = Annotated[int | None, Query(ge=1, le=ID_MAX)]
ProfileName = Annotated[str, Path(min_length=1, max_length=PROFILE_NAME_MAX)]
DocumentStatusQuery = Annotated[
    DocumentStatusName | None,
    BeforeValidator(_upper),
    Query(description="only documents in this status (any case)"),
]
PlanStatusQuery = Annotated[
    PlanStatusName | None, BeforeValidator(_upper), Query(description="only plans in this status (any case)")
]


# -- bodies ---------------------------------------------------------------------------------------
class Body(BaseModel):
    """Base of every request body: an unknown field is an error, never ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


# A new profile's name follows limits.NAME_RULE; a reference to one only has to fit the column.
NewProfileName = Annotated[str, Field(min_length=1, max_length=PROFILE_NAME_MAX, pattern=NAME_PATTERN)]
ProfileRef = Annotated[str, Field(min_length=1, max_length=PROFILE_NAME_MAX)]
EncoderName = Annotated[str | None, Field(min_length=1, max_length=ENCODER_NAME_MAX)]
Dimension = Annotated[int | None, Field(ge=1, le=65_536)]
Tokens = Annotated[int | None, Field(ge=8, le=INT_MAX)]
Overlap = Annotated[int | None, Field(ge=0, le=INT_MAX)]
Positive = Annotated[int | None, Field(ge=1, le=INT_MAX)]


MetaScalar = StrictStr | StrictInt | StrictFloat | StrictBool
Metadata = Annotated[
    dict[str, MetaScalar | list[MetaScalar] | dict[str, Any]] | None,
    Field(
        default=None,
        max_length=64,
        description="key/value metadata (strings, numbers, booleans, ISO dates, lists of them); "
        "filterable in search with `where`",
    ),
]
WhereTest = MetaScalar | list[MetaScalar] | dict[Literal["eq", "in", "gt", "gte", "lt", "lte"], Any]


class UriIngest(Body):
    uri: str = Field(
        min_length=1,
        max_length=SOURCE_MAX,
        description="fsspec URI (s3://, gs://, https://…) or, if allowed, a server path",
    )
    profiles: list[ProfileRef] | None = Field(default=None, max_length=100)
    metadata: Metadata = None


def upload_request_body() -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of the upload route, which reads its body itself: a multipart
    form with a binary ``file`` (and an optional ``source``), or a JSON ``UriIngest``; ``/docs``
    then offers a file picker."""
    multipart = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "the document's bytes"},
            "source": {
                "type": "string",
                "maxLength": SOURCE_MAX,
                # an empty default: /docs would otherwise fill in "string" as the source
                "default": "",
                "description": "the source to record (empty: upload://<dataset>/<file name>)",
            },
            "metadata": {
                "type": "string",
                "maxLength": 64 * 1024,
                "default": "",
                "description": 'metadata as a JSON object, e.g. {"team": "ops", "year": 2024}',
            },
        },
    }
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": multipart},
            "application/json": {"schema": UriIngest.model_json_schema()},
        },
    }


class SearchFilters(Body):
    document_ids: list[Annotated[int, Field(ge=1, le=ID_MAX)]] | None = Field(default=None, max_length=10_000)


class SearchRequest(Body):
    query: str = Field(min_length=1, max_length=10_000)
    dataset: str = Field(default="default", min_length=1, max_length=DATASET_NAME_MAX)
    k: int = Field(default=10, ge=1, le=1000)
    profile: str | None = Field(default=None, min_length=1, max_length=PROFILE_NAME_MAX)
    filters: SearchFilters | None = None
    mode: Literal["dense", "sparse", "hybrid"] | None = Field(
        default=None, description="default: hybrid for a profile with a lexical leg, else dense"
    )
    max_per_document: int | None = Field(
        default=None, ge=0, le=1000, description="at most this many chunks per document (0: no limit)"
    )
    group_by: Literal["document"] | None = Field(
        default=None, description='"document": the k best documents, each with its top chunks'
    )
    where: dict[str, WhereTest] | None = Field(
        default=None,
        max_length=64,
        description='metadata filter, all must hold: {"team": "ops"}, {"tag": ["a", "b"]} (any of), '
        '{"year": {"gte": 2020, "lt": 2024}}, {"published": {"gte": "2024-01-01"}}; an unknown key is a 422',
    )
    full_bundle: bool = Field(
        default=False, description="each hit's whole bundle text (default: a window around the chunk)"
    )


class ProfileCreate(Body):
    name: NewProfileName
    encoder: EncoderName = None
    tokenizer: EncoderName = None
    dimension: Dimension = None
    distance: Literal["cosine", "dot", "euclid"] | None = None
    max_tokens: Tokens = None
    chunk_size: Tokens = None
    chunk_overlap: Overlap = None
    target_bundle_tokens: Positive = None
    hnsw_m: Annotated[int | None, Field(ge=2, le=INT_MAX)] = None
    hnsw_ef_construct: Annotated[int | None, Field(ge=4, le=INT_MAX)] = None
    context_template: Annotated[str | None, Field(max_length=500)] = None
    lexical: bool | None = None
    activate: bool = False


class ProfileClone(Body):
    name: NewProfileName
    chunk_size: Tokens = None
    chunk_overlap: Overlap = None
    target_bundle_tokens: Positive = None
    encoder: EncoderName = None
    tokenizer: EncoderName = None
    dimension: Dimension = None
    max_tokens: Tokens = None
    context_template: Annotated[str | None, Field(max_length=500)] = None
    lexical: bool | None = None


class ProfileDefault(Body):
    """Make a profile the one search uses; with ``gate``, only if it is no worse on them."""

    gate: list[dict[str, Any]] | None = Field(
        default=None, max_length=10_000, description='judged queries: {"query": …, "relevant": [source, …]}'
    )
    margin: float = Field(default=0.01, ge=0, le=1)
    k: int = Field(default=10, ge=1, le=1000)
    dataset: str = Field(default="default", min_length=1, max_length=DATASET_NAME_MAX)


class EvalRequest(Body):
    queries: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    dataset: str = Field(default="default", min_length=1, max_length=DATASET_NAME_MAX)
    profiles: list[Annotated[str, Field(min_length=1, max_length=PROFILE_NAME_MAX)]] | None = Field(
        default=None, max_length=20
    )
    k: int = Field(default=10, ge=1, le=1000)
    mode: Literal["dense", "sparse", "hybrid"] | None = None
    max_per_document: int | None = Field(default=None, ge=0, le=1000)


class WebhookCreate(Body):
    url: str = Field(min_length=1, max_length=WEBHOOK_URL_MAX, description="where to POST (http or https)")
    events: list[Annotated[str, Field(min_length=1, max_length=EVENT_TYPE_MAX)]] | None = Field(
        default=None,
        max_length=20,
        description="event types to receive (plan.embedded, plan.failed, document.activated …); "
        "null = every type",
    )
    dataset: str | None = Field(
        default=None, min_length=1, max_length=DATASET_NAME_MAX, description="null = every dataset"
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=WEBHOOK_SECRET_MAX,
        description="the signing secret; null = generate one (returned once)",
    )


# -- error messages -------------------------------------------------------------------------------
def describe_errors(errors: Sequence[Any]) -> str:
    """Validation errors as one line: "body.filter: Extra inputs are not permitted; query.k: …".

    Never the raw pydantic dump (no input values, no documentation links).
    """
    parts: list[str] = []
    for e in errors:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        if e.get("type") == "json_invalid":
            reason = (e.get("ctx") or {}).get("error")
            msg = f"invalid JSON ({reason})" if reason else "invalid JSON"
            loc = loc.split(".", 1)[0]  # "body", not "body.1" (the character offset)
        else:
            msg = str(e.get("msg", "invalid"))
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"
