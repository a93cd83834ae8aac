"""indexflow: document ingestion and indexing for retrieval-augmented generation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from indexflow.aio import AsyncIndexflow
    from indexflow.service import Indexflow


def __getattr__(name: str) -> Any:
    # Lazy so `import indexflow` stays cheap (no torch, no SQLAlchemy engine) until used.
    if name == "Indexflow":
        from indexflow.service import Indexflow

        return Indexflow
    if name == "AsyncIndexflow":
        from indexflow.aio import AsyncIndexflow

        return AsyncIndexflow
    raise AttributeError(name)


__all__ = ["AsyncIndexflow", "Indexflow", "__version__"]
