"""Qdrant server (or qdrant-client's local mode) through ``qdrant-client``.

One collection per index profile, created with the profile's dimension, distance and HNSW
parameters plus integer/bool payload indexes on the filter fields. Writes use ``wait=True`` so
that, once a call returns, searches and counts see its effect.

A lexical collection (``CollectionSpec.lexical``) keeps the dense vector unnamed (the default
vector, ``""``) and adds the sparse vector ``bm25`` with the ``IDF`` modifier; points carry
``stores.lexical.document_terms(text)`` (the same analyzer as Qdrant Edge), ``search_lexical``
queries ``query_terms(text)`` with ``using="bm25"``. The flag is read back from the collection's
``sparse_vectors`` config, so a new process knows it without any metadata of ours.

A new collection's HNSW graph is built after its first load (``defer_index``, the
``DeferredIndexStore`` port), Qdrant's bulk-upload recipe: it is created with ``m=0`` (no graph
while the points go in; search is exact meanwhile) and the collection's ``metadata`` records the
intended ``m``/``ef_construct`` under ``indexflow_hnsw``; ``build_index`` then sets the real
``m`` with ``update_collection``. Later loads write into the live index. On a server the pending
state is read from the collection itself (``config.hnsw_config.m == 0`` and the marker), so a new
process knows it; qdrant-client's local mode stores no HNSW config (it reports ``m=16`` whatever
was asked, and never builds a graph), so there the marker's ``pending`` flag alone tells.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from indexflow.domain.metadata import Condition
from indexflow.errors import (
    ConfigurationError,
    DimensionMismatch,
    IndexflowError,
    InvalidRequest,
    NotFound,
    PermanentError,
    StoreUnavailable,
)
from indexflow.stores import lexical
from indexflow.stores.base import CollectionSpec, SearchFilter, StoreHit, VectorPoint, meta_fields

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M")
_DISTANCES = {"cosine": models.Distance.COSINE, "dot": models.Distance.DOT, "euclid": models.Distance.EUCLID}
_NAMES = {v: k for k, v in _DISTANCES.items()}
_INT_FIELDS = ("plan_id", "document_id", "dataset_id")
# Collection metadata key of a deferred HNSW index: {"m", "ef_construct", "pending"}.
_HNSW_MARK = "indexflow_hnsw"


class _Unset(enum.Enum):
    """The type of ``_MISSING``: "no ``missing`` value given" (an enum, so it narrows)."""

    TOKEN = enum.auto()


_MISSING = _Unset.TOKEN


def _is_missing(exc: Exception) -> bool:
    """A 'collection not found' from the server (404) or from local mode (ValueError)."""
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code == 404
    return isinstance(exc, ValueError) and "not found" in str(exc)


def _translate(what: str, exc: Exception) -> IndexflowError:
    """Classify a qdrant-client exception as transient or permanent."""
    if isinstance(exc, IndexflowError):
        return exc
    msg = f"qdrant {what}: {exc}"
    if isinstance(exc, ResponseHandlingException | httpx.TransportError | ConnectionError | TimeoutError):
        return StoreUnavailable(msg)
    if isinstance(exc, UnexpectedResponse):
        body = exc.content.decode("utf-8", "replace")[:500]
        msg = f"qdrant {what}: HTTP {exc.status_code} {body}"
        if exc.status_code is None or exc.status_code >= 500 or exc.status_code in (408, 429):
            return StoreUnavailable(msg)
        if "dimension" in body.lower():
            return DimensionMismatch(msg)
        return NotFound(msg) if exc.status_code == 404 else PermanentError(msg)
    if "dimension" in str(exc).lower():
        return DimensionMismatch(msg)
    if _is_missing(exc):
        return NotFound(msg)
    if isinstance(exc, RuntimeError) and "already accessed" in str(exc):  # local path locked
        return StoreUnavailable(msg)
    return PermanentError(msg)


def _filter(filters: SearchFilter | None) -> models.Filter | None:
    if filters is None:
        return None
    must: list[models.Condition] = []
    for key, ids in (
        ("dataset_id", filters.dataset_ids),
        ("document_id", filters.document_ids),
        ("plan_id", filters.plan_ids),
    ):
        if ids is not None:
            must.append(models.FieldCondition(key=key, match=models.MatchAny(any=[int(i) for i in ids])))
    must.extend(_meta_condition(c) for c in filters.metadata)
    must_not: list[models.Condition] = []
    if filters.only_enabled:
        must_not.append(models.FieldCondition(key="enabled", match=models.MatchValue(value=False)))
    return models.Filter(must=must or None, must_not=must_not or None)


def _meta_condition(c: Condition) -> models.Condition:
    """One metadata condition (numbers and datetimes are floats: matched by ranges)."""
    key = f"meta.{c.field}"
    if c.op in ("gt", "gte", "lt", "lte"):
        return models.FieldCondition(key=key, range=models.Range(**{c.op: c.value}))
    values = c.value if c.op == "in" else [c.value]
    if all(isinstance(v, str) for v in values):
        return models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))
    return models.Filter(should=[_equal(key, v) for v in values])


def _equal(key: str, value: Any) -> models.Condition:
    if isinstance(value, bool):
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))


_META_SCHEMAS = {
    str: models.PayloadSchemaType.KEYWORD,
    float: models.PayloadSchemaType.FLOAT,
    bool: models.PayloadSchemaType.BOOL,
}


def _by_field(key: str, value: int) -> models.FilterSelector:
    condition = models.FieldCondition(key=key, match=models.MatchValue(value=int(value)))
    return models.FilterSelector(filter=models.Filter(must=[condition]))


def dense_of(vector: Any) -> list[float]:
    """The dense vector of a retrieved record (a lexical collection's are named: ``""``)."""
    if isinstance(vector, dict):
        vector = vector.get("", next(iter(vector.values())) if vector else [])
    return [float(x) for x in vector]


def _as_list(vector: Sequence[float]) -> list[float]:
    tolist = getattr(vector, "tolist", None)
    return tolist() if tolist is not None else [float(x) for x in vector]


def _point(p: VectorPoint, with_lexical: bool) -> models.PointStruct:
    """The dense vector alone, or unnamed dense + ``bm25`` sparse (when the text has terms: a
    point without one stays outside the lexical leg and its IDF statistics)."""
    dense = _as_list(p.vector)
    if not with_lexical:
        return models.PointStruct(id=p.id, vector=dense, payload=dict(p.payload))
    indices, values = lexical.document_terms(p.text)
    vectors: dict[str, Any] = {"": dense}
    if indices:
        vectors[lexical.SPARSE_NAME] = models.SparseVector(indices=indices, values=values)
    return models.PointStruct(id=p.id, vector=vectors, payload=dict(p.payload))


def _mark(m: int, ef_construct: int, pending: bool) -> dict[str, Any]:
    return {"m": m, "ef_construct": ef_construct, "pending": pending}


def _marker(info: models.CollectionInfo) -> dict[str, Any] | None:
    """The ``indexflow_hnsw`` metadata of a collection created with a deferred index, if any."""
    mark = (info.config.metadata or {}).get(_HNSW_MARK)
    if not isinstance(mark, dict) or not isinstance(mark.get("m"), int) or mark["m"] <= 0:
        return None
    return {
        "m": mark["m"],
        "ef_construct": int(mark.get("ef_construct") or 100),
        "pending": mark.get("pending") is True,
    }


class QdrantStore:
    """Vector store on a Qdrant server, or on qdrant-client's local mode for tests and dev.

    Args:
        url: server URL, e.g. ``http://localhost:6333``.
        api_key: server API key.
        timeout: per-request timeout in seconds.
        location: ``":memory:"`` for an in-memory local-mode client.
        path: folder of a persistent local-mode client.
        client: an already built ``QdrantClient`` (the other connection arguments are ignored).
        batch_size: points per upsert request.
        defer_index: a new collection is created without an HNSW graph (``m=0``) and
            ``build_index`` sets the profile's ``m``/``ef_construct`` once its first load is over
            (the pipeline calls it when no plan of the profile is still building); later loads
            write into the live index.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        *,
        location: str | None = None,
        path: str | None = None,
        client: QdrantClient | None = None,
        batch_size: int = 256,
        defer_index: bool = True,
    ) -> None:
        if client is None:
            if location is not None or path is not None:
                # The worker thread and the API share the client; the store serialises its calls.
                client = QdrantClient(location=location, path=path, force_disable_check_same_thread=True)
            elif url:
                client = QdrantClient(url=url, api_key=api_key, timeout=max(1, math.ceil(timeout)))
            else:
                raise ConfigurationError("QdrantStore needs a url, a location/path or a client")
        self._client = client
        # Local mode is a pure-Python engine without locking and without payload indexes.
        self._local = type(getattr(client, "_client", None)).__name__ == "QdrantLocal"
        self._lock: AbstractContextManager[Any] = threading.RLock() if self._local else nullcontext()
        self._batch = batch_size
        self._known: dict[str, tuple[int, str, bool]] = {}  # (dimension, distance, lexical)
        self._indexed: set[tuple[str, str]] = set()  # (collection, meta key) indexed by this process
        self._defer_index = defer_index
        self._built: set[str] = set()  # collections whose HNSW index is set (never unset by us)

    def _call(
        self, what: str, fn: Callable[..., T], *args: Any, missing: M | _Unset = _MISSING, **kw: Any
    ) -> T | M:
        """Run one client call; a missing collection returns ``missing`` when given."""
        try:
            with self._lock:
                return fn(*args, **kw)
        except Exception as exc:
            if missing is not _MISSING and _is_missing(exc):
                return missing
            raise _translate(what, exc) from exc

    def _params(self, collection: str) -> tuple[int, str, bool] | None:
        """The collection's (dimension, distance, lexical), cached; ``None`` if it does not exist."""
        if collection not in self._known:
            info = self._call(f"get {collection}", self._client.get_collection, collection, missing=None)
            params = info.config.params.vectors if info is not None else None
            if info is None or not isinstance(params, models.VectorParams):
                return None
            sparse = info.config.params.sparse_vectors or {}
            self._known[collection] = (
                params.size,
                _NAMES.get(params.distance, "cosine"),
                lexical.SPARSE_NAME in sparse,
            )
        return self._known[collection]

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the collection and its payload indexes unless it exists with this spec.

        Raises:
            DimensionMismatch: the collection exists with another dimension, distance or
                ``lexical`` flag.
        """
        if spec.distance not in _DISTANCES:
            raise PermanentError(f"unknown distance {spec.distance!r}")
        if self._params(spec.name) is None:
            sparse = (
                {lexical.SPARSE_NAME: models.SparseVectorParams(modifier=models.Modifier.IDF)}
                if spec.lexical
                else None
            )
            defer = self._defer_index and spec.hnsw_m > 0
            try:
                self._create(spec, sparse, defer)
            except PermanentError:
                if self._params(spec.name) is not None:  # a lost creation race
                    defer = False
                elif not defer:
                    raise
                else:  # a server that rejects the metadata field (before 1.16): index kept live
                    log.warning(
                        "qdrant: could not create %s with a deferred index; keeping it live", spec.name
                    )
                    defer = False
                    try:
                        self._create(spec, sparse, defer)
                    except PermanentError:
                        if self._params(spec.name) is None:  # a real error
                            raise
            if defer:
                self._check_deferred(spec)
            if not self._local:
                for field in _INT_FIELDS:
                    self._index(spec.name, field, models.PayloadSchemaType.INTEGER)
                self._index(spec.name, "enabled", models.PayloadSchemaType.BOOL)
        found = self._params(spec.name)
        if found != (spec.dimension, spec.distance, spec.lexical):
            raise DimensionMismatch(
                f"collection {spec.name!r} has (dimension, distance, lexical) {found}, "
                f"not ({spec.dimension}, {spec.distance!r}, {spec.lexical})"
            )

    def _create(self, spec: CollectionSpec, sparse: dict[str, Any] | None, defer: bool) -> None:
        self._call(
            f"create {spec.name}",
            self._client.create_collection,
            spec.name,
            vectors_config=models.VectorParams(size=spec.dimension, distance=_DISTANCES[spec.distance]),
            sparse_vectors_config=sparse,
            hnsw_config=models.HnswConfigDiff(
                m=0 if defer else spec.hnsw_m, ef_construct=spec.hnsw_ef_construct
            ),
            metadata={_HNSW_MARK: _mark(spec.hnsw_m, spec.hnsw_ef_construct, True)} if defer else None,
        )

    def _check_deferred(self, spec: CollectionSpec) -> None:
        """Log the deferral, or build the index at once on a server that kept no metadata (Qdrant
        before 1.16): without the marker no process could tell that the ``m=0`` is temporary."""
        info = self._call(f"get {spec.name}", self._client.get_collection, spec.name, missing=None)
        if info is None or _marker(info) is not None:
            log.info("qdrant: created %s; its HNSW index is built after the first load", spec.name)
            return
        log.warning(
            "qdrant: the server keeps no collection metadata (Qdrant < 1.16); %s keeps its HNSW "
            "index live while loading",
            spec.name,
        )
        self._call(
            f"hnsw {spec.name}",
            self._client.update_collection,
            spec.name,
            hnsw_config=models.HnswConfigDiff(m=spec.hnsw_m, ef_construct=spec.hnsw_ef_construct),
        )
        self._built.add(spec.name)

    def _pending(self, collection: str) -> tuple[int, int] | None:
        """The intended (m, ef_construct) of a collection whose HNSW index is still deferred."""
        if collection in self._built:
            return None
        info = self._call(f"get {collection}", self._client.get_collection, collection, missing=None)
        if info is None:
            return None
        mark = _marker(info)
        # Local mode stores no HNSW config (always reports m=16): the marker alone tells there.
        pending = mark is not None and mark["pending"] and (self._local or info.config.hnsw_config.m == 0)
        if mark is None or not pending:
            self._built.add(collection)  # indexflow never goes back to m=0: ask once
            return None
        return mark["m"], mark["ef_construct"]

    def index_pending(self, collection: str) -> bool:
        """Whether the collection was created without its HNSW graph and has not got it yet (a
        first load, deferred); read from the collection's config, so any process can tell."""
        return self._pending(collection) is not None

    def build_index(self, collection: str) -> bool:
        """Give a deferred collection its profile's HNSW ``m``; True when this call set it.

        On a server the graph is then built in the background by Qdrant's optimizers: the call
        returns at once, writes go on, and search stays exact (and correct) on the segments not
        indexed yet. Idempotent; two processes racing here both send the same configuration,
        which is harmless. Local mode records the change only (it never builds a graph).
        """
        intended = self._pending(collection)
        if intended is None:
            return False
        m, ef_construct = intended
        started = time.monotonic()
        points = self.count(collection)
        done = self._call(
            f"build index {collection}",
            self._client.update_collection,
            collection,
            hnsw_config=models.HnswConfigDiff(m=m, ef_construct=ef_construct),
            metadata={_HNSW_MARK: _mark(m, ef_construct, False)},
            missing=None,
        )
        if done is None:  # dropped meanwhile
            return False
        self._built.add(collection)
        log.info(
            "qdrant: built the HNSW index of %s after its first load (%s points) in %.1f s%s",
            collection,
            points,
            time.monotonic() - started,
            "" if self._local else " (the server indexes it in the background; search stays exact meanwhile)",
        )
        return True

    def _index(self, collection: str, field: str, schema: models.PayloadSchemaType) -> None:
        self._call(
            f"index {collection}.{field}",
            self._client.create_payload_index,
            collection,
            field,
            field_schema=schema,
            wait=True,
        )

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        """Insert or overwrite ``points`` in batches, each acknowledged before the next.

        In a lexical collection each point's ``text`` is analysed into its ``bm25`` vector.

        Raises:
            NotFound: the collection does not exist.
            DimensionMismatch: a vector does not have the collection's dimension.
        """
        if not points:
            return
        params = self._params(collection)
        if params is None:
            raise NotFound(f"vector collection {collection!r} does not exist; ensure_collection first")
        self._index_meta(collection, points)
        for i in range(0, len(points), self._batch):
            batch = [_point(p, params[2]) for p in points[i : i + self._batch]]
            self._call(f"upsert {collection}", self._client.upsert, collection, batch, wait=True)

    def _index_meta(self, collection: str, points: Sequence[VectorPoint]) -> None:
        """A payload index on each metadata key the first time this process writes it (Qdrant
        makes a repeated index creation a no-op), so metadata filters stay fast at scale."""
        if self._local:
            return  # qdrant-client's local mode has no payload indexes (it scans)
        for key, kind in meta_fields(points).items():
            if (collection, key) not in self._indexed:
                self._index(collection, f"meta.{key}", _META_SCHEMAS[kind])
                self._indexed.add((collection, key))

    def _delete(self, collection: str, selector: Any) -> None:
        self._call(f"delete {collection}", self._client.delete, collection, selector, wait=True, missing=None)

    def delete_by_plan(self, collection: str, plan_id: int) -> None:
        self._delete(collection, _by_field("plan_id", plan_id))

    def delete_by_document(self, collection: str, document_id: int) -> None:
        self._delete(collection, _by_field("document_id", document_id))

    def delete_points(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            self._delete(collection, models.PointIdsList(points=list(ids)))

    def set_enabled(self, collection: str, ids: Sequence[str], enabled: bool) -> None:
        """Flip ``enabled`` on the given points; ids that do not exist are ignored."""
        if not ids:
            return
        # By filter, because set_payload by id fails (404) on the first id that is gone.
        selector = models.Filter(must=[models.HasIdCondition(has_id=list(ids))])
        self._call(
            f"set_payload {collection}",
            self._client.set_payload,
            collection,
            {"enabled": enabled},
            selector,
            wait=True,
            missing=None,
        )

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        limit: int,
        filters: SearchFilter | None = None,
    ) -> list[StoreHit]:
        """Nearest ``limit`` points, best first; euclid scores are negated distances."""
        if limit <= 0:
            return []
        response = self._call(
            f"search {collection}",
            self._client.query_points,
            collection,
            query=_as_list(vector),
            limit=limit,
            query_filter=_filter(filters),
            # Local mode is always exact and warns about search params.
            search_params=None if self._local else models.SearchParams(hnsw_ef=max(64, limit)),
            with_payload=True,
            missing=None,
        )
        if response is None:
            return []
        params = self._params(collection)
        sign = -1.0 if params is not None and params[1] == "euclid" else 1.0
        return [
            StoreHit(id=str(p.id), score=sign * p.score, payload=p.payload or {}) for p in response.points
        ]

    def search_lexical(
        self,
        collection: str,
        text: str,
        limit: int,
        filters: SearchFilter | None = None,
    ) -> list[StoreHit]:
        """Best BM25 matches first: the ``bm25`` sparse vector, IDF over the whole collection.

        Raises:
            InvalidRequest: the collection has no lexical leg.
        """
        params = self._params(collection)
        if params is None:
            return []
        if not params[2]:
            raise InvalidRequest(f"collection {collection!r} has no lexical leg (created without lexical)")
        indices, values = lexical.query_terms(text)
        if not indices or limit <= 0:
            return []
        response = self._call(
            f"search_lexical {collection}",
            self._client.query_points,
            collection,
            query=models.SparseVector(indices=indices, values=values),
            using=lexical.SPARSE_NAME,
            limit=limit,
            query_filter=_filter(filters),
            with_payload=True,
            missing=None,
        )
        if response is None:
            self._known.pop(collection, None)
            return []
        return [
            StoreHit(id=str(p.id), score=float(p.score), payload=p.payload or {}) for p in response.points
        ]

    def count(self, collection: str, filters: SearchFilter | None = None) -> int:
        result = self._call(
            f"count {collection}",
            self._client.count,
            collection,
            count_filter=_filter(filters),
            exact=True,
            missing=None,
        )
        return 0 if result is None else int(result.count)

    def get_vectors(self, collection: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """Point id -> dense vector for the ids that exist (``indexflow export --vectors``)."""
        if not ids:
            return {}
        records = self._call(
            f"retrieve {collection}",
            self._client.retrieve,
            collection,
            list(ids),
            with_payload=False,
            with_vectors=True,
            missing=None,
        )
        return {str(r.id): dense_of(r.vector) for r in records or [] if r.vector is not None}

    def iter_points(self, collection: str, batch_size: int = 1000) -> Iterator[StoreHit]:
        """Every point's id and payload (score 0), in id order."""
        offset: Any = None
        while True:
            page = self._call(
                f"scroll {collection}",
                self._client.scroll,
                collection,
                limit=batch_size,
                offset=offset,
                with_payload=True,
                missing=None,
            )
            if page is None:
                return
            records, offset = page
            for r in records:
                yield StoreHit(id=str(r.id), score=0.0, payload=r.payload or {})
            if offset is None:
                return

    def collections(self) -> list[str]:
        found = self._call("list collections", self._client.get_collections)
        return sorted(c.name for c in found.collections if c.name.startswith("indexflow_"))

    def drop_collection(self, collection: str) -> None:
        self._known.pop(collection, None)
        self._built.discard(collection)
        self._call(f"drop {collection}", self._client.delete_collection, collection, missing=None)

    def close(self) -> None:
        self._call("close", self._client.close)
