"""Qdrant Edge: the Qdrant engine in-process, the embedded default vector store.

One on-disk shard per collection under ``<path>/<collection>/``. A shard's write-ahead log is
locked by the process that opens it, so one process at a time may use a store path; inside that
process the instance is shared by the worker thread and the search API (writes are serialised
by a lock, reads run concurrently).

Edge has no background flusher or optimiser: writes land in the WAL at once (a reopen replays
it), segments are flushed at most every ``flush_interval`` seconds and on ``close``, and the
HNSW graph is built only when ``optimize`` is called (until then search is an exact scan).
So a load never builds the graph point by point: a new collection gets it after its first load
(``defer_index``, the ``DeferredIndexStore`` port): the file ``hnsw_pending`` in its folder marks it
until ``build_index`` runs ``optimize`` (segments under the engine's indexing threshold stay
exact scans, as Qdrant chooses anyway). Later loads go to an appendable segment, searched exactly
next to the indexed one, until the next ``optimize``.

A lexical collection (``CollectionSpec.lexical``) keeps the dense vector as the unnamed default
vector (so shards made before the lexical leg existed open unchanged) and adds a sparse vector
``bm25`` with the ``Idf`` modifier: points carry ``stores.lexical.document_terms(text)``, queries
``query_terms(text)``, and the engine multiplies by the IDF over the shard at query time.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from indexflow.domain.metadata import Condition
from indexflow.errors import (
    DimensionMismatch,
    IndexflowError,
    InvalidRequest,
    NotFound,
    PermanentError,
    StoreUnavailable,
)
from indexflow.stores import lexical
from indexflow.stores.base import CollectionSpec, SearchFilter, StoreHit, VectorPoint, meta_fields

_DISTANCES = {"cosine": qe.Distance.Cosine, "dot": qe.Distance.Dot, "euclid": qe.Distance.Euclid}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_META = "indexflow.json"
_PENDING = "hnsw_pending"  # in a collection's folder: its HNSW graph is built after the first load
_INT_FIELDS = ("plan_id", "document_id", "dataset_id")
_BATCH = 512
# The bindings extract a Python bool as an integer (True -> 1), so MatchValue(False) would
# never match a stored JSON boolean; numpy's bool is not an int subclass and converts correctly.
_FALSE: Any = np.False_

log = logging.getLogger(__name__)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn the engine's plain ``Exception``s into indexflow errors, by their message."""
    try:
        yield
    except IndexflowError:
        raise
    except Exception as exc:  # the bindings raise bare Exception/ValueError with a message
        msg = str(exc)
        if "dimension" in msg.lower() or "ncompatible" in msg:
            raise DimensionMismatch(f"qdrant-edge {what}: {msg}") from exc
        if "WouldBlock" in msg:
            raise StoreUnavailable(
                f"qdrant-edge {what}: the shard is open in another process (embedded store is "
                f"single-process; use qdrant or pgvector to share vectors between processes)"
            ) from exc
        if msg.startswith("Service runtime error") or isinstance(exc, OSError):
            raise StoreUnavailable(f"qdrant-edge {what}: {msg}") from exc
        raise PermanentError(f"qdrant-edge {what}: {msg}") from exc


def _edge_filter(filters: SearchFilter | None) -> qe.Filter | None:
    if filters is None:
        return None
    must: list[Any] = []
    for key, ids in (
        ("dataset_id", filters.dataset_ids),
        ("document_id", filters.document_ids),
        ("plan_id", filters.plan_ids),
    ):
        if ids is not None:
            must.append(qe.FieldCondition(key=key, match=qe.MatchAny([int(i) for i in ids])))
    must.extend(_meta_condition(c) for c in filters.metadata)
    must_not: list[Any] = []
    if filters.only_enabled:
        must_not.append(qe.FieldCondition(key="enabled", match=qe.MatchValue(_FALSE)))
    return qe.Filter(must=must or None, must_not=must_not or None)


def _meta_condition(c: Condition) -> Any:
    """One metadata condition (numbers and datetimes are floats: matched by ranges)."""
    key = f"meta.{c.field}"
    if c.op in ("gt", "gte", "lt", "lte"):
        return qe.FieldCondition(key=key, range=qe.RangeFloat(**{c.op: c.value}))
    values = c.value if c.op == "in" else [c.value]
    if all(isinstance(v, str) for v in values):
        return qe.FieldCondition(key=key, match=qe.MatchAny(list(values)))
    return qe.Filter(should=[_equal(key, v) for v in values])


def _equal(key: str, value: Any) -> Any:
    if isinstance(value, bool):
        flag: Any = np.bool_(value)  # see _FALSE: a Python bool would arrive as an integer
        return qe.FieldCondition(key=key, match=qe.MatchValue(flag))
    return qe.FieldCondition(key=key, range=qe.RangeFloat(gte=value, lte=value))


_META_SCHEMAS = {
    str: qe.PayloadSchemaType.Keyword,
    float: qe.PayloadSchemaType.Float,
    bool: qe.PayloadSchemaType.Bool,
}


def _by_field(key: str, value: int) -> qe.Filter:
    return qe.Filter(must=[qe.FieldCondition(key=key, match=qe.MatchValue(int(value)))])


def _as_list(vector: Sequence[float]) -> list[float]:
    return vector.tolist() if isinstance(vector, np.ndarray) else [float(x) for x in vector]


def _edge_point(p: VectorPoint, with_lexical: bool) -> qe.Point:
    """The engine's point: the dense vector alone, or with the ``bm25`` sparse vector when the
    text has terms (a point without one is outside the lexical leg and its IDF statistics)."""
    dense = _as_list(p.vector)
    if not with_lexical:
        return qe.Point(p.id, dense, dict(p.payload))
    indices, values = lexical.document_terms(p.text)
    vectors: dict[str, Any] = {"": dense}
    if indices:
        vectors[lexical.SPARSE_NAME] = qe.SparseVector(indices, values)
    return qe.Point(p.id, vectors, dict(p.payload))


class QdrantEdgeStore:
    """Embedded vector store: one Qdrant Edge shard per collection under ``path``.

    Args:
        path: folder of the shards.
        flush_interval: seconds between segment flushes (the WAL is durable at once).
        defer_index: a new collection's HNSW graph is built by ``build_index`` once its first
            load is over (the pipeline calls it when no plan of the profile is still building).
    """

    def __init__(self, path: str | Path, *, flush_interval: float = 5.0, defer_index: bool = True) -> None:
        self._root = Path(path)
        self._defer_index = defer_index
        self._flush_interval = flush_interval
        self._shards: dict[str, qe.EdgeShard] = {}
        self._specs: dict[str, CollectionSpec] = {}
        self._dirty: dict[str, float] = {}  # collection -> time of the first unflushed write
        self._indexed: set[tuple[str, str]] = set()  # (collection, meta key) with a payload index
        self._lock = threading.RLock()

    # -- shards ---------------------------------------------------------------------------

    def _dir(self, collection: str) -> Path:
        if not _NAME.match(collection):
            raise PermanentError(f"invalid collection name {collection!r}")
        return self._root / collection

    def _open(self, collection: str) -> qe.EdgeShard | None:
        """The cached shard, loading it from disk on first use; ``None`` if it does not exist."""
        with self._lock:
            shard = self._shards.get(collection)
            if shard is None:
                folder = self._dir(collection)
                if not (folder / "edge_config.json").exists():
                    return None
                with _translated(f"load {collection}"):
                    shard = qe.EdgeShard.load(str(folder))
                self._shards[collection] = shard
                self._specs.setdefault(collection, self._read_meta(folder, collection))
            return shard

    def _require(self, collection: str) -> qe.EdgeShard:
        shard = self._open(collection)
        if shard is None:
            raise NotFound(f"vector collection {collection!r} does not exist; ensure_collection first")
        return shard

    @staticmethod
    def _read_meta(folder: Path, collection: str) -> CollectionSpec:
        try:
            return CollectionSpec(**json.loads((folder / _META).read_text()))
        except (OSError, ValueError, TypeError):
            # A shard without our metadata: dimension unknown, assume a similarity metric; the
            # engine's own config still tells whether the lexical leg is there.
            try:
                config = json.loads((folder / "edge_config.json").read_text())
                sparse = config.get("sparse_vectors") or {}
            except (OSError, ValueError, AttributeError):
                sparse = {}
            return CollectionSpec(name=collection, dimension=0, lexical=lexical.SPARSE_NAME in sparse)

    def _write(self, collection: str, ops: list[Any]) -> None:
        with self._lock, _translated(f"write {collection}"):
            shard = self._require(collection)
            for op in ops:
                shard.update(op)
            now = time.monotonic()
            first = self._dirty.setdefault(collection, now)
            # The WAL already makes the write durable; flushing bounds the WAL replayed on reopen.
            if now - first >= self._flush_interval:
                shard.flush()
                self._dirty.pop(collection, None)

    # -- VectorStore ----------------------------------------------------------------------

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the collection's shard (with payload indexes) unless it exists with this spec.

        Raises:
            DimensionMismatch: the collection exists with another dimension, distance or
                ``lexical`` flag.
        """
        if spec.distance not in _DISTANCES:
            raise PermanentError(f"unknown distance {spec.distance!r}")
        folder = self._dir(spec.name)
        with self._lock:
            known = self._specs.get(spec.name) if self._open(spec.name) is not None else None
            if known is not None and (known.dimension or known.lexical != spec.lexical):
                have = (known.dimension, known.distance, known.lexical)
                if have != (spec.dimension, spec.distance, spec.lexical):
                    raise DimensionMismatch(
                        f"collection {spec.name!r} has dimension/distance/lexical {have}, "
                        f"not {(spec.dimension, spec.distance, spec.lexical)}"
                    )
                return
            sparse = (
                {lexical.SPARSE_NAME: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
                if spec.lexical
                else None
            )
            config = qe.EdgeConfig(
                vectors=qe.EdgeVectorParams(size=spec.dimension, distance=_DISTANCES[spec.distance]),
                sparse_vectors=sparse,
                hnsw_config=qe.HnswIndexConfig(
                    m=spec.hnsw_m, ef_construct=spec.hnsw_ef_construct, full_scan_threshold=10_000
                ),
            )
            with _translated(f"create {spec.name}"):
                shard = self._shards.pop(spec.name, None)
                if shard is not None:  # loaded without metadata: reopen with the config to check it
                    shard.close()
                    shard = qe.EdgeShard.load(str(folder), config)
                else:
                    shard = qe.EdgeShard.create(str(folder), config)
                    if self._defer_index and spec.hnsw_m > 0:
                        (folder / _PENDING).touch()
                        log.info(
                            "qdrant-edge: created %s; its HNSW index is built after the first load", spec.name
                        )
                self._shards[spec.name] = shard
                for field in _INT_FIELDS:
                    shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Integer))
                shard.update(qe.UpdateOperation.create_field_index("enabled", qe.PayloadSchemaType.Bool))
                shard.flush()
            tmp = folder / (_META + ".tmp")
            tmp.write_text(json.dumps(asdict(spec)))
            tmp.replace(folder / _META)
            self._specs[spec.name] = spec

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        """Insert or overwrite ``points`` (ids are UUID strings).

        In a lexical collection each point's ``text`` is analysed into its ``bm25`` vector.

        Raises:
            NotFound: the collection does not exist.
            DimensionMismatch: a vector does not have the collection's dimension.
        """
        if not points:
            return
        self._require(collection)
        spec = self._specs.get(collection)
        with_lexical = spec is not None and spec.lexical
        ops = [
            qe.UpdateOperation.create_field_index(f"meta.{key}", _META_SCHEMAS[kind])
            for key, kind in meta_fields(points).items()
            if (collection, key) not in self._indexed
        ]
        indexed = {(collection, key) for key in meta_fields(points)}
        ops += [
            qe.UpdateOperation.upsert_points([_edge_point(p, with_lexical) for p in points[i : i + _BATCH]])
            for i in range(0, len(points), _BATCH)
        ]
        if ops:
            self._write(collection, ops)
        self._indexed |= indexed

    def _delete(self, collection: str, op: Any) -> None:
        if self._open(collection) is not None:
            self._write(collection, [op])

    def delete_by_plan(self, collection: str, plan_id: int) -> None:
        self._delete(collection, qe.UpdateOperation.delete_points_by_filter(_by_field("plan_id", plan_id)))

    def delete_by_document(self, collection: str, document_id: int) -> None:
        flt = _by_field("document_id", document_id)
        self._delete(collection, qe.UpdateOperation.delete_points_by_filter(flt))

    def delete_points(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            self._delete(collection, qe.UpdateOperation.delete_points(list(ids)))

    def set_enabled(self, collection: str, ids: Sequence[str], enabled: bool) -> None:
        """Flip ``enabled`` on the given points; ids that do not exist are ignored."""
        if ids:
            # By filter, because set_payload by id fails on the first id that is gone.
            flt = qe.Filter(must=[qe.HasIdCondition(set(ids))])
            self._delete(collection, qe.UpdateOperation.set_payload_by_filter(flt, {"enabled": enabled}))

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        limit: int,
        filters: SearchFilter | None = None,
    ) -> list[StoreHit]:
        """Nearest ``limit`` points, best first; euclid scores are negated distances."""
        shard = self._open(collection)
        if shard is None or limit <= 0:
            return []
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(_as_list(vector)),
            filter=_edge_filter(filters),
            with_payload=True,
            params=qe.SearchParams(hnsw_ef=max(64, limit)),
        )
        with _translated(f"search {collection}"):
            found = shard.query(request)
        spec = self._specs.get(collection)
        sign = -1.0 if spec is not None and spec.distance == "euclid" else 1.0
        return [StoreHit(id=str(p.id), score=sign * p.score, payload=p.payload or {}) for p in found]

    def search_lexical(
        self,
        collection: str,
        text: str,
        limit: int,
        filters: SearchFilter | None = None,
    ) -> list[StoreHit]:
        """Best BM25 matches first: the ``bm25`` sparse vector, IDF over the whole shard.

        Raises:
            InvalidRequest: the collection has no lexical leg.
        """
        shard = self._open(collection)
        if shard is None:
            return []
        spec = self._specs.get(collection)
        if spec is None or not spec.lexical:
            raise InvalidRequest(f"collection {collection!r} has no lexical leg (created without lexical)")
        indices, values = lexical.query_terms(text)
        if not indices or limit <= 0:
            return []
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(qe.SparseVector(indices, values), using=lexical.SPARSE_NAME),
            filter=_edge_filter(filters),
            with_payload=True,
        )
        with _translated(f"search_lexical {collection}"):
            found = shard.query(request)
        return [StoreHit(id=str(p.id), score=float(p.score), payload=p.payload or {}) for p in found]

    def count(self, collection: str, filters: SearchFilter | None = None) -> int:
        shard = self._open(collection)
        if shard is None:
            return 0
        with _translated(f"count {collection}"):
            return int(shard.count(qe.CountRequest(exact=True, filter=_edge_filter(filters))))

    def get_vectors(self, collection: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """Point id -> dense vector for the ids that exist (``indexflow export --vectors``)."""
        shard = self._open(collection)
        if shard is None or not ids:
            return {}
        with _translated(f"retrieve {collection}"):
            records = shard.retrieve(list(ids), False, True)
        out: dict[str, list[float]] = {}
        for r in records:
            vector: Any = r.vector.get("") if isinstance(r.vector, dict) else r.vector
            if isinstance(vector, list):
                out[str(r.id)] = [float(x) for x in vector]
        return out

    def iter_points(self, collection: str, batch_size: int = 1000) -> Iterator[StoreHit]:
        """Every point's id and payload (score 0), in id order."""
        shard = self._open(collection)
        offset: Any = None
        while shard is not None:
            with _translated(f"scroll {collection}"):
                records, offset = shard.scroll(
                    qe.ScrollRequest(offset=offset, limit=batch_size, with_payload=True)
                )
            for r in records:
                yield StoreHit(id=str(r.id), score=0.0, payload=r.payload or {})
            if offset is None:
                return

    def collections(self) -> list[str]:
        if not self._root.is_dir():
            return []
        return sorted(
            p.name
            for p in self._root.iterdir()
            if p.is_dir() and p.name.startswith("indexflow_") and _NAME.match(p.name)
        )

    def drop_collection(self, collection: str) -> None:
        folder = self._dir(collection)
        with self._lock:
            shard = self._shards.pop(collection, None)
            self._specs.pop(collection, None)
            self._dirty.pop(collection, None)
            if shard is not None:
                with _translated(f"close {collection}"):
                    shard.close()
            shutil.rmtree(folder, ignore_errors=True)

    def index_pending(self, collection: str) -> bool:
        """Whether the collection waits for its HNSW graph (a first load, deferred); read from
        its folder, so a new process knows it."""
        return self._open(collection) is not None and (self._dir(collection) / _PENDING).exists()

    def build_index(self, collection: str) -> bool:
        """Build a deferred collection's HNSW graph (``optimize``); True when this call did.

        Blocking, under the store's lock (seconds per 10k vectors): the pipeline calls it only
        once nothing of the profile is loading. Idempotent.
        """
        started = time.monotonic()
        with self._lock:
            if not self.index_pending(collection):
                return False
            shard = self._require(collection)
            with _translated(f"build index {collection}"):
                shard.optimize()
                shard.flush()
                info = shard.info()
            self._dirty.pop(collection, None)
            (self._dir(collection) / _PENDING).unlink(missing_ok=True)
        log.info(
            "qdrant-edge: built the HNSW index of %s after its first load (%s points) in %.1f s%s",
            collection,
            info.points_count,
            time.monotonic() - started,
            ""
            if info.indexed_vectors_count >= info.points_count
            else f" ({info.indexed_vectors_count} in the graph; smaller segments are scanned exactly)",
        )
        return True

    def optimize(self, collection: str) -> bool:
        """Build the HNSW index and merge segments now (blocking; seconds per 10k vectors).

        Returns:
            True if anything was optimised.
        """
        shard = self._open(collection)
        if shard is None:
            return False
        with self._lock, _translated(f"optimize {collection}"):
            return bool(shard.optimize())

    def flush(self) -> None:
        """Persist every open shard's segments (the WAL is already durable)."""
        with self._lock:
            for name in list(self._dirty):
                with _translated(f"flush {name}"):
                    self._shards[name].flush()
                self._dirty.pop(name, None)

    def close(self) -> None:
        """Flush and close every open shard; the instance may be used again afterwards."""
        with self._lock:
            self.flush()
            shards, self._shards = self._shards, {}
            for name, shard in shards.items():
                with _translated(f"close {name}"):
                    shard.close()
