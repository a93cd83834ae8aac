"""An in-memory ``VectorStore``: exact search with numpy, the whole port, no engine.

It passes the same contract suite as the real adapters (``tests/contract``), so code tested
against it behaves the same on Qdrant Edge, Qdrant or PGVector. Data lives as long as the
object: ``close`` releases nothing and the store stays usable (like the real adapters, which
may be used again after ``close``), so "reopening" means using the same instance.

A collection created with ``lexical=True`` also scores BM25 over the points' ``text``, with the
analyzer the Qdrant adapters use (``indexflow.stores.lexical``) and Qdrant's IDF computed over
the collection's live points, so its lexical scores equal the engines' on the same data.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexflow.errors import DimensionMismatch, InvalidRequest, NotFound, PermanentError
from indexflow.stores import lexical
from indexflow.stores.base import CollectionSpec, SearchFilter, StoreHit, VectorPoint

DISTANCES = ("cosine", "dot", "euclid")
_FILTER_FIELDS = (("dataset_ids", "dataset_id"), ("document_ids", "document_id"), ("plan_ids", "plan_id"))


@dataclass
class _Collection:
    spec: CollectionSpec
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Lexical leg: term id -> BM25 term-frequency weight, only for points with at least one term.
    terms: dict[str, dict[int, float]] = field(default_factory=dict)
    # Search snapshot (ids in insertion order, one row each), rebuilt after a write.
    _ids: list[str] | None = None
    _matrix: np.ndarray | None = None

    def changed(self) -> None:
        self._ids = self._matrix = None

    def matrix(self) -> tuple[list[str], np.ndarray]:
        if self._ids is None or self._matrix is None:
            self._ids = list(self.vectors)
            rows = [self.vectors[i] for i in self._ids]
            self._matrix = np.vstack(rows) if rows else np.empty((0, self.spec.dimension), np.float32)
        return self._ids, self._matrix


def _point_id(value: str) -> str:
    """The canonical form of a UUID point id (as the engines give ids back)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise PermanentError(f"point id {value!r} is not a UUID") from exc


def _matches(payload: dict[str, Any], filters: SearchFilter | None) -> bool:
    if filters is None:
        return True
    for attribute, key in _FILTER_FIELDS:
        wanted: tuple[int, ...] | None = getattr(filters, attribute)
        if wanted is not None:
            value = payload.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value not in wanted:
                return False
    if filters.metadata:
        meta = payload.get("meta") or {}
        if not all(c.field in meta and c.matches(meta[c.field]) for c in filters.metadata):
            return False
    return not (filters.only_enabled and payload.get("enabled") is False)


class MemoryStore:
    """A thread-safe, in-memory vector store with exact cosine/dot/euclid search.

    Scores follow the port: cosine similarity, dot product, and the negated euclidean distance,
    so higher is always better. Payloads are copied on the way in and out.
    """

    def __init__(self) -> None:
        self._data: dict[str, _Collection] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        with self._lock:
            sizes = {name: len(c.vectors) for name, c in self._data.items()}
        return f"MemoryStore({sizes})"

    # -- collections ------------------------------------------------------------------------

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the collection unless it exists with this spec.

        Raises:
            DimensionMismatch: it exists with another dimension or distance.
            PermanentError: unknown distance, a dimension below 1 or an empty name.
        """
        if spec.distance not in DISTANCES:
            raise PermanentError(f"unknown distance {spec.distance!r}; choose one of {', '.join(DISTANCES)}")
        if spec.dimension < 1 or not spec.name:
            raise PermanentError(f"invalid collection spec {spec!r}")
        with self._lock:
            known = self._data.get(spec.name)
            if known is None:
                self._data[spec.name] = _Collection(spec)
                return
            have = (known.spec.dimension, known.spec.distance, known.spec.lexical)
            if have != (spec.dimension, spec.distance, spec.lexical):
                raise DimensionMismatch(
                    f"collection {spec.name!r} has dimension/distance/lexical {have}, "
                    f"not {(spec.dimension, spec.distance, spec.lexical)}"
                )

    def collections(self) -> list[str]:
        """Names of the ``indexflow_*`` collections, sorted."""
        with self._lock:
            return sorted(name for name in self._data if name.startswith("indexflow_"))

    def drop_collection(self, collection: str) -> None:
        with self._lock:
            self._data.pop(collection, None)

    def close(self) -> None:
        """Nothing to release: the data stays, and the store remains usable."""

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        """Insert or overwrite ``points``; all or nothing.

        Raises:
            NotFound: the collection does not exist.
            DimensionMismatch: a vector does not have the collection's dimension.
            PermanentError: an id is not a UUID or a vector is not finite.
        """
        with self._lock:
            coll = self._data.get(collection)
            if coll is None:
                raise NotFound(f"vector collection {collection!r} does not exist; ensure_collection first")
            dim = coll.spec.dimension
            staged: list[tuple[str, np.ndarray, dict[str, Any], dict[int, float]]] = []
            for p in points:
                vector = np.asarray(p.vector, dtype=np.float32).reshape(-1)
                if vector.shape != (dim,):
                    raise DimensionMismatch(
                        f"collection {collection!r} holds {dim}-d vectors, point {p.id} has {vector.size}"
                    )
                if not np.isfinite(vector).all():
                    raise PermanentError(f"point {p.id} has a vector that is not finite")
                terms = dict(zip(*lexical.document_terms(p.text), strict=True)) if coll.spec.lexical else {}
                staged.append((_point_id(p.id), vector.copy(), copy.deepcopy(dict(p.payload)), terms))
            for point_id, vector, payload, terms in staged:
                coll.vectors.pop(point_id, None)  # an overwrite moves to the end, like a fresh insert
                coll.vectors[point_id] = vector
                coll.payloads[point_id] = payload
                coll.terms.pop(point_id, None)
                if terms:
                    coll.terms[point_id] = terms
            if staged:
                coll.changed()

    def _remove(self, collection: str, ids: Sequence[str]) -> None:
        coll = self._data.get(collection)
        if coll is None:
            return
        removed = False
        for point_id in ids:
            if coll.vectors.pop(point_id, None) is not None:
                coll.payloads.pop(point_id, None)
                coll.terms.pop(point_id, None)
                removed = True
        if removed:
            coll.changed()

    def _where(self, collection: str, key: str, value: int) -> list[str]:
        coll = self._data.get(collection)
        if coll is None:
            return []
        return [i for i, payload in coll.payloads.items() if payload.get(key) == value]

    def delete_by_plan(self, collection: str, plan_id: int) -> None:
        with self._lock:
            self._remove(collection, self._where(collection, "plan_id", int(plan_id)))

    def delete_by_document(self, collection: str, document_id: int) -> None:
        with self._lock:
            self._remove(collection, self._where(collection, "document_id", int(document_id)))

    def delete_points(self, collection: str, ids: Sequence[str]) -> None:
        with self._lock:
            self._remove(collection, [_point_id(i) for i in ids])

    def set_enabled(self, collection: str, ids: Sequence[str], enabled: bool) -> None:
        """Flip ``enabled`` on the given points; ids that do not exist are ignored."""
        with self._lock:
            coll = self._data.get(collection)
            if coll is None:
                return
            for point_id in (_point_id(i) for i in ids):
                payload = coll.payloads.get(point_id)
                if payload is not None:
                    payload["enabled"] = bool(enabled)

    # -- reads ------------------------------------------------------------------------------

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        limit: int,
        filters: SearchFilter | None = None,
    ) -> list[StoreHit]:
        """The ``limit`` best points, exactly, best first (ties keep insertion order).

        Raises:
            DimensionMismatch: the query vector does not have the collection's dimension.
        """
        with self._lock:
            coll = self._data.get(collection)
            if coll is None or limit <= 0:
                return []
            query = np.asarray(vector, dtype=np.float32).reshape(-1)
            if query.shape != (coll.spec.dimension,):
                dim = coll.spec.dimension
                raise DimensionMismatch(
                    f"collection {collection!r} holds {dim}-d vectors, the query has {query.size}"
                )
            ids, matrix = coll.matrix()
            keep = np.fromiter((_matches(coll.payloads[i], filters) for i in ids), dtype=bool, count=len(ids))
            rows = np.flatnonzero(keep)
            if rows.size == 0:
                return []
            scores = _scores(coll.spec.distance, matrix[rows], query)
            best = np.argsort(-scores, kind="stable")[:limit]
            return [
                StoreHit(
                    id=ids[int(rows[b])],
                    score=float(scores[b]),
                    payload=copy.deepcopy(coll.payloads[ids[int(rows[b])]]),
                )
                for b in best
            ]

    def search_lexical(
        self,
        collection: str,
        text: str,
        limit: int,
        filters: SearchFilter | None = None,
    ) -> list[StoreHit]:
        """BM25: sum over the query's terms of IDF times the point's term weight, best first.

        The IDF counts every live point of the collection that has a term (filters narrow the
        hits, not the statistics), as Qdrant's global IDF does; ties keep insertion order.

        Raises:
            InvalidRequest: the collection has no lexical leg.
        """
        with self._lock:
            coll = self._data.get(collection)
            if coll is None:
                return []
            if not coll.spec.lexical:
                raise InvalidRequest(
                    f"collection {collection!r} has no lexical leg (created without lexical)"
                )
            query = dict(zip(*lexical.query_terms(text), strict=True))
            if not query or limit <= 0:
                return []
            frequency = dict.fromkeys(query, 0)
            for weights in coll.terms.values():
                for term in query:
                    if term in weights:
                        frequency[term] += 1
            idf = {term: lexical.idf(len(coll.terms), n) for term, n in frequency.items() if n}
            scored: list[tuple[float, int, str]] = []
            for order, point_id in enumerate(coll.vectors):  # insertion order breaks ties
                doc = coll.terms.get(point_id)
                if not doc or not _matches(coll.payloads[point_id], filters):
                    continue
                matched = [t for t in query if t in doc]
                if matched:
                    score = sum(query[t] * idf[t] * doc[t] for t in matched)
                    scored.append((-score, order, point_id))
            scored.sort()
            return [
                StoreHit(id=point_id, score=-negated, payload=copy.deepcopy(coll.payloads[point_id]))
                for negated, _, point_id in scored[:limit]
            ]

    def count(self, collection: str, filters: SearchFilter | None = None) -> int:
        with self._lock:
            coll = self._data.get(collection)
            if coll is None:
                return 0
            if filters is None:
                return len(coll.payloads)
            return sum(1 for payload in coll.payloads.values() if _matches(payload, filters))

    def iter_points(self, collection: str, batch_size: int = 1000) -> Iterator[StoreHit]:
        """Every point's id and payload (score 0), in id order, as of the call."""
        with self._lock:
            coll = self._data.get(collection)
            snapshot = (
                [] if coll is None else [(i, copy.deepcopy(coll.payloads[i])) for i in sorted(coll.payloads)]
            )
        return (StoreHit(id=i, score=0.0, payload=payload) for i, payload in snapshot)

    def get_vectors(self, collection: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """Point id -> stored vector for the ids that exist (not part of the port: the optional
        ``VectorReader`` that ``ix.export`` uses when a store has it)."""
        with self._lock:
            coll = self._data.get(collection)
            if coll is None:
                return {}
            found = ((i, coll.vectors.get(_point_id(i))) for i in ids)
            return {i: [float(x) for x in v] for i, v in found if v is not None}


def _scores(distance: str, matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Similarity of each row to ``query``, higher is better, in float64."""
    rows = matrix.astype(np.float64)
    q = query.astype(np.float64)
    if distance == "dot":
        result: np.ndarray = rows @ q
    elif distance == "euclid":
        result = -np.linalg.norm(rows - q, axis=1)
    else:
        norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(q)
        dots = rows @ q
        result = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return result
