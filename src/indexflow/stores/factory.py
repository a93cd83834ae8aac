"""Build the configured vector store; each engine's SDK is imported only when it is chosen."""

from __future__ import annotations

from pathlib import Path

from indexflow.errors import ConfigurationError
from indexflow.stores.base import VectorStore

KINDS = ("qdrant-edge", "qdrant", "pgvector")


def make_store(
    kind: str,
    *,
    home: Path | None = None,
    qdrant_url: str | None = None,
    qdrant_api_key: str | None = None,
    qdrant_timeout: float = 30.0,
    database_url: str | None = None,
) -> VectorStore:
    """Return the vector store named ``kind``.

    Args:
        kind: ``"qdrant-edge"`` (embedded, under ``home/vectors``), ``"qdrant"`` or ``"pgvector"``.
        home: state folder of the embedded default.
        qdrant_url: server URL; ``":memory:"`` or ``"path:<folder>"`` select qdrant-client's local
            mode (tests, development).
        qdrant_api_key: server API key.
        qdrant_timeout: per-request timeout in seconds.
        database_url: PostgreSQL URL (libpq or SQLAlchemy form) for pgvector.

    Raises:
        ConfigurationError: unknown kind or a setting the kind needs is missing.
    """
    if kind == "qdrant-edge":
        if home is None:
            raise ConfigurationError("vector store qdrant-edge needs a home folder")
        from indexflow.stores.qdrant_edge import QdrantEdgeStore

        return QdrantEdgeStore(Path(home) / "vectors")
    if kind == "qdrant":
        if not qdrant_url:
            raise ConfigurationError("vector store qdrant needs QDRANT_URL")
        from indexflow.stores.qdrant import QdrantStore

        if qdrant_url == ":memory:":
            return QdrantStore(location=":memory:")
        if qdrant_url.startswith("path:"):
            return QdrantStore(path=qdrant_url.removeprefix("path:"))
        return QdrantStore(qdrant_url, api_key=qdrant_api_key, timeout=qdrant_timeout)
    if kind == "pgvector":
        if not database_url or not database_url.startswith(("postgres://", "postgresql")):
            raise ConfigurationError("vector store pgvector needs a PostgreSQL database_url")
        from indexflow.stores.pgvector import PgVectorStore

        return PgVectorStore(database_url)
    raise ConfigurationError(f"unknown vector store {kind!r}; choose one of {', '.join(KINDS)}")
