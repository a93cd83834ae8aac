"""The one place that reads the environment.

Entry points (CLI, API, worker, the ``Indexflow`` facade) build a ``Settings`` and pass values
down; nothing else reads ``os.environ`` and nothing connects at import time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

StoreKind = Literal["qdrant-edge", "qdrant", "pgvector"]


class Settings(BaseSettings):
    """Effective configuration; every field can be set by the environment variable in its alias."""

    model_config = SettingsConfigDict(env_prefix="INDEXFLOW_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path(".indexflow"), description="state folder of the embedded default")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<home>/indexflow.db"
    )
    broker_url: str | None = Field(
        default=None, description="unset = in-process worker; redis://… or amqp://…"
    )
    vector_store: StoreKind = "qdrant-edge"

    qdrant_url: str | None = Field(default=None, validation_alias=AliasChoices("QDRANT_URL"))
    qdrant_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("QDRANT_API_KEY"))
    qdrant_timeout: float = Field(default=30.0, validation_alias=AliasChoices("QDRANT_TIMEOUT"))

    plan_queue: str = Field(default="indexing-plan", validation_alias=AliasChoices("INDEXING_PLAN_QUEUE"))
    embed_queue: str = Field(default="indexing-embed", validation_alias=AliasChoices("INDEXING_EMBED_QUEUE"))
    embed_batch_size: int = Field(
        default=128, ge=1, le=4096, validation_alias=AliasChoices("INDEXING_EMBED_BATCH_SIZE")
    )
    max_embed_retries: int = Field(
        default=5, ge=0, le=100, validation_alias=AliasChoices("INDEXING_MAX_EMBED_RETRIES")
    )

    encoder_device: str | None = Field(default=None, description="cpu, cuda, cuda:1 … (auto)")
    encoder_precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    encoder_batch_size: int | None = Field(
        default=None, ge=1, description="most rows per forward pass (default: 64 on CPU, 512 on CUDA)"
    )
    encoder_backend: Literal["torch", "openvino", "auto"] = Field(
        default="auto",
        description="what runs hf models: torch, openvino, or auto (the fastest runtime faithful to "
        "torch fp32 on this machine, measured once per machine and cached)",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="derived files (converted models, backend choices); default ~/.cache/indexflow",
    )
    encoder_threads: int | None = Field(
        default=None, ge=1, description="torch threads per process (default: all cores; split by --processes)"
    )
    # openai:<model> encoders (indexflow.encoders.openai): any OpenAI-compatible POST /embeddings.
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        validation_alias=AliasChoices("INDEXFLOW_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
        description="OpenAI-compatible API root that openai:<model> encoders POST /embeddings to",
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("INDEXFLOW_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_timeout_seconds: float = Field(default=60.0, gt=0, description="one embeddings request")
    openai_max_inputs_per_request: int = Field(default=256, ge=1, description="texts per embeddings request")
    openai_max_tokens_per_request: int = Field(
        default=100_000, ge=1, description="tokens per embeddings request (counted conservatively)"
    )
    openai_max_retries: int = Field(
        default=4, ge=0, description="retries of a 429 or failed request, then the unit backs off"
    )
    openai_max_retry_wait_seconds: float = Field(
        default=60.0, ge=0, description="longest Retry-After waited in place; longer ones back the unit off"
    )
    openai_max_tokens: int = Field(
        default=512, ge=3, description="input limit of openai:<model> models not known to indexflow"
    )

    default_profile: str = Field(
        default="default",
        description="profile search uses when none is named and none is marked default (profiles default)",
    )
    max_per_document: int = Field(
        default=1,
        ge=0,
        description="search returns at most this many chunks of one document (0: no limit)",
    )
    hit_context_chars: int = Field(
        default=4000,
        ge=0,
        description="a hit's bundle text is at most this many characters around the chunk "
        "(0: the whole bundle); search(full_bundle=True) / --full-bundle returns it whole",
    )
    lease_seconds: int = Field(
        default=600,
        ge=2,
        description="a claimed unit whose worker sent no heartbeat for this long is run again elsewhere",
    )
    retry_max_backoff_seconds: float = Field(
        default=300.0, gt=0, description="cap of the exponential backoff while a service is down"
    )
    parse_timeout_seconds: int = Field(
        default=120,
        ge=1,
        description="a document's parse (in its sandbox process) running longer fails; the parse and "
        "bundle stages as a whole get 60 s more",
    )
    parse_max_memory_mb: int = Field(
        default=2048,
        ge=128,
        description="address space of a parse's sandbox process: a document needing more fails",
    )
    embed_timeout_seconds: int = Field(default=1800, ge=1, description="an embed batch running longer fails")
    worker_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="with a broker, how long ingest looks for a live worker before refusing",
    )
    redeliver_after_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a sent message no idle worker took within this long was lost by the broker: send again",
    )
    max_document_bytes: int = Field(default=200_000_000, ge=1)
    in_process_threads: int = Field(default=2, ge=1, le=64)
    malloc_mmap_threshold_kb: int = Field(
        default=1024,
        ge=0,
        le=32 * 1024,
        description="glibc: blocks of this many KiB or more (encoder activations) are mapped and "
        "returned to the system when freed instead of fragmenting the heap (0: glibc's dynamic "
        "threshold; an ingest of 8 MB of HTML on torch then peaks at 2.3 GB instead of 1.1 GB)",
    )

    api_allow_local_paths: bool = Field(
        default=False, description="let POST /documents {'uri'} read the server's own files"
    )
    api_local_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="the only folders API path ingest may read (comma- or os.pathsep-separated)",
    )
    api_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="non-public hosts, addresses, networks API URI ingest may fetch (comma-separated)",
    )
    api_max_upload_bytes: int = Field(default=100_000_000, ge=1)
    api_max_json_bytes: int = Field(default=1_048_576, ge=1, description="cap on a JSON request body")
    uri_timeout_seconds: float = Field(
        default=30.0, gt=0, description="connect and read timeout of an API URI fetch (whole fetch: 10x)"
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_format: Literal["text", "json"] = Field(
        default="text", description="serve and worker log lines: text, or one JSON object per line"
    )

    webhook_allow_private: bool = Field(
        default=False,
        description="let webhooks reach private, loopback and link-local addresses (on-prem receivers, "
        "tests); cloud metadata addresses stay refused unless listed in webhook_allow_hosts",
    )
    webhook_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="non-public hosts, addresses, networks webhooks may reach (comma-separated)",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="connect and read timeout of one webhook delivery attempt"
    )
    webhook_max_backoff_seconds: float = Field(
        default=300.0, gt=0, description="cap of the exponential backoff while a webhook receiver fails"
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, description="how often a worker looks for webhook deliveries to send"
    )

    @field_validator("api_local_roots", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        return _split_list(value, (",", os.pathsep))

    @field_validator("api_allow_hosts", "webhook_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        return _split_list(value, (",",))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'indexflow.db').resolve()}"

    @property
    def heartbeat_seconds(self) -> float:
        """How often a worker renews its claims and its row in ``workers``."""
        return max(0.5, min(10.0, self.lease_seconds / 3))

    @property
    def effective_cache_dir(self) -> Path:
        """Where derived, machine-wide files go (converted models, ``auto``'s measured choice):
        ``cache_dir``, else the user's cache (``$XDG_CACHE_HOME/indexflow`` or
        ``~/.cache/indexflow``), shared by every home on the machine, which is measured and
        converted once; ``<home>/cache`` where that folder cannot be created."""
        if self.cache_dir is not None:
            return self.cache_dir
        return user_cache_dir() or self.home / "cache"

    @property
    def vector_path(self) -> Path:
        return self.home / "vectors"

    def masked(self) -> dict[str, Any]:
        """Effective settings for display, with secrets and URL passwords masked."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, str) and "://" in value:
                value = mask_url(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, list):
                value = [str(v) if isinstance(v, Path) else v for v in value]
            out[name] = value
        out["database_url"] = mask_url(self.effective_database_url)
        return out


def _split_list(value: Any, separators: tuple[str, ...]) -> Any:
    """An environment list: a JSON array, or items separated by any of ``separators``."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        return json.loads(value)
    for sep in separators[1:]:
        value = value.replace(sep, separators[0])
    return [item.strip() for item in value.split(separators[0]) if item.strip()]


def mask_url(url: str) -> str:
    """Hide the password in ``scheme://user:password@host``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}" if ":" in creds else url


def export_environment(name: str, value: str) -> None:
    """Set ``name`` for this process and the processes it starts.

    For libraries configured only through the environment, such as prometheus_client's
    multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by ``indexflow worker --processes N
    --metrics-port P`` for its children): the one other place indexflow touches it.
    """
    os.environ[name] = value


def user_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/indexflow`` or ``~/.cache/indexflow``, created; None where it cannot be."""
    root = os.environ.get("XDG_CACHE_HOME") or ""
    try:
        folder = (Path(root) if root else Path.home() / ".cache") / "indexflow"
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # no home, or a read-only one
        return None
    return folder
