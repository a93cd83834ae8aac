"""The vector store port: what the pipeline needs from any vector engine.

Contract (every adapter passes ``tests/contract/test_store_contract.py``):

- ``ensure_collection`` is idempotent; calling it again with the same spec is a no-op, with a
  different dimension, distance or ``lexical`` flag it raises ``DimensionMismatch``.
- ``upsert`` with an existing id overwrites that point (never duplicates). Ids are UUID strings.
- ``delete_by_plan`` / ``delete_by_document`` / ``delete_points`` remove matching points and are
  verified: once they return, ``search``, ``search_lexical`` and ``count`` no longer see those
  points. ``set_enabled`` applies to both legs (a point is one record with both).
- ``search`` returns at most ``limit`` hits, best first; ``score`` is a similarity (higher is
  better) for every distance. ``filters`` restrict on payload fields (all must match).
- Lexical leg (optional, ``CollectionSpec.lexical``): the collection also indexes each point's
  ``VectorPoint.text`` for BM25-style keyword search. ``search_lexical`` returns at most ``limit``
  points that share a term with the query, best first (``score`` higher is better: term weight
  times IDF over the collection, summed over the query's terms), under the same ``filters`` as
  ``search``. A query without indexable terms (empty, stopwords only) gives ``[]``; a collection
  created without the leg raises ``InvalidRequest``. Scores are comparable within one
  collection and adapter only (the Qdrant adapters and ``MemoryStore`` share one analyzer,
  ``stores/lexical.py``; PGVector uses PostgreSQL's ``english`` text search). The dense leg of a
  lexical collection behaves exactly as in a collection without one.
- Missing collections behave as empty for reads and deletes.
- Vendor exceptions are translated: unreachable/timeouts → ``StoreUnavailable``; everything
  else that cannot succeed on retry → a ``PermanentError`` subclass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from indexflow.domain.metadata import Condition


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """Everything needed to create one profile's collection."""

    name: str
    dimension: int
    distance: str = "cosine"  # "cosine" | "dot" | "euclid"
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    lexical: bool = False  # the collection also holds a BM25 leg (``search_lexical``)


@dataclass(slots=True)
class VectorPoint:
    """One chunk's vector plus its payload.

    Payload keys written by the pipeline — only what the store filters on or reconcile needs:
    ``plan_id``, ``chunk_id``, ``document_id``, ``dataset_id``, ``version_id``, ``profile_id``,
    ``generation``, ``enabled`` (bool), and ``meta`` (the document's metadata in store form:
    ``domain.metadata.store_values``). Texts, spans and titles are read from the database.

    ``text`` is what the lexical leg indexes (not stored as payload); it is ignored by a
    collection without that leg, and ``None`` in a lexical collection indexes no terms (the
    point is then found by ``search`` only).
    """

    id: str
    vector: Sequence[float]
    payload: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Payload filter: every field that is set must match (``*_ids`` fields match any of).

    ``metadata``: conditions on the ``meta`` payload object (``domain/metadata.py``), all
    required; :meth:`Condition.matches` is the reference semantics (a list value matches when
    any item does; a point without the key never matches).
    """

    dataset_ids: tuple[int, ...] | None = None
    document_ids: tuple[int, ...] | None = None
    plan_ids: tuple[int, ...] | None = None
    only_enabled: bool = True
    metadata: tuple[Condition, ...] = ()


def meta_fields(points: Sequence[VectorPoint]) -> dict[str, type]:
    """The ``meta`` payload keys of ``points`` and their value types (str, float, bool)."""
    out: dict[str, type] = {}
    for p in points:
        for key, value in (p.payload.get("meta") or {}).items():
            first = value[0] if isinstance(value, list) and value else value
            if isinstance(first, bool | str | float) and key not in out:
                out[key] = type(first)
    return out


@dataclass(frozen=True, slots=True)
class StoreHit:
    id: str
    score: float
    payload: dict[str, Any]


@runtime_checkable
class TransactionalStore(Protocol):
    """A store inside the state database, whose writes can join the caller's transaction.

    Contract: ``upsert_in(session, …)`` writes like ``upsert`` but on ``session``'s connection,
    so the points commit (or roll back) with whatever else that transaction changes.
    """

    def upsert_in(self, session: Any, collection: str, points: Sequence[VectorPoint]) -> None: ...


@runtime_checkable
class DeferredIndexStore(Protocol):
    """A store that builds a new collection's ANN index after its first load, not during it.

    Contract: until ``build_index`` runs, ``search`` is exact (a scan) and returns the same
    points; ``build_index`` is idempotent and returns whether this call built the index.
    """

    def index_pending(self, collection: str) -> bool: ...

    def build_index(self, collection: str) -> bool: ...


@runtime_checkable
class VectorStore(Protocol):
    """Vectors in and out of one engine; one collection per index profile."""

    def ensure_collection(self, spec: CollectionSpec) -> None: ...

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None: ...

    def delete_by_plan(self, collection: str, plan_id: int) -> None: ...

    def delete_by_document(self, collection: str, document_id: int) -> None: ...

    def delete_points(self, collection: str, ids: Sequence[str]) -> None: ...

    def set_enabled(self, collection: str, ids: Sequence[str], enabled: bool) -> None:
        """Flip the ``enabled`` payload flag of the given points (disable/enable a chunk)."""
        ...

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        limit: int,
        filters: SearchFilter | None = None,
    ) -> list[StoreHit]: ...

    def search_lexical(
        self,
        collection: str,
        text: str,
        limit: int,
        filters: SearchFilter | None = None,
    ) -> list[StoreHit]:
        """Best BM25-style matches of ``text`` first (higher score is better), at most ``limit``.

        Returns ``[]`` for a missing collection or a query without indexable terms.

        Raises:
            InvalidRequest: the collection exists without a lexical leg.
        """
        ...

    def count(self, collection: str, filters: SearchFilter | None = None) -> int: ...

    def iter_points(self, collection: str, batch_size: int = 1000) -> Iterator[StoreHit]:
        """Every point's id and payload (score 0), for reconciliation with the database."""
        ...

    def drop_collection(self, collection: str) -> None: ...

    def collections(self) -> list[str]:
        """Names of the indexflow collections that exist in the store (``indexflow_*``)."""
        ...

    def close(self) -> None: ...
