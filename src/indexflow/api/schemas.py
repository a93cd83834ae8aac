"""Request bodies and the error body of the HTTP API (responses are ``indexflow.views``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class UriIngest(BaseModel):
    uri: str = Field(description="fsspec URI (s3://, gs://, https://…) or, if allowed, a server path")
    profiles: list[str] | None = None


class SearchFilters(BaseModel):
    document_ids: list[int] | None = None


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=10_000)
    dataset: str = "default"
    k: int = Field(default=10, ge=1, le=1000)
    profile: str | None = None
    filters: SearchFilters | None = None


class ProfileCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")
    encoder: str | None = None
    tokenizer: str | None = None
    dimension: int | None = Field(default=None, ge=1)
    distance: str | None = None
    max_tokens: int | None = Field(default=None, ge=8)
    chunk_size: int | None = Field(default=None, ge=8)
    chunk_overlap: int | None = Field(default=None, ge=0)
    target_bundle_tokens: int | None = Field(default=None, ge=1)
    hnsw_m: int | None = Field(default=None, ge=2)
    hnsw_ef_construct: int | None = Field(default=None, ge=4)
    activate: bool = False


class ProfileClone(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")
    chunk_size: int | None = Field(default=None, ge=8)
    chunk_overlap: int | None = Field(default=None, ge=0)
    target_bundle_tokens: int | None = Field(default=None, ge=1)
    encoder: str | None = None
    tokenizer: str | None = None
    dimension: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=8)
