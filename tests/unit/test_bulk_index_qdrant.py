"""A first load into a Qdrant collection builds its HNSW graph after the load, not during it
(issue 14, part 5): created with ``m=0``, then ``update_collection`` to the profile's ``m``; later
loads keep the live index. qdrant-client's local mode (no server needed), SQLite, in-process
worker; ``ServerLike`` plays a server's HNSW config, which local mode does not keep."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from indexflow import Indexflow
from indexflow.settings import Settings
from indexflow.stores.base import CollectionSpec, DeferredIndexStore, VectorPoint
from indexflow.stores.qdrant import QdrantStore
from indexflow.testing import HashEncoder

NAME = "indexflow_bulk"
DIM = 8


def _points(n: int, start: int = 0, seed: int = 7) -> list[VectorPoint]:
    vectors = np.random.default_rng(seed).standard_normal((start + n, DIM)).astype(np.float32)
    return [
        VectorPoint(id=str(uuid.UUID(int=i + 1)), vector=vectors[i].tolist(), payload={"plan_id": 1})
        for i in range(start, start + n)
    ]


def _mark(store: QdrantStore, collection: str) -> Any:
    return (store._client.get_collection(collection).config.metadata or {}).get("indexflow_hnsw")


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "qdrant")


def test_a_first_load_is_pending_until_build_index_and_search_is_the_same(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="indexflow")
    store = QdrantStore(path=path)
    assert isinstance(store, DeferredIndexStore)
    store.ensure_collection(CollectionSpec(NAME, DIM, hnsw_m=12, hnsw_ef_construct=48))
    points = _points(40)
    store.upsert(NAME, points)
    assert store.index_pending(NAME) is True
    assert _mark(store, NAME) == {"m": 12, "ef_construct": 48, "pending": True}  # the intended config
    queries = [p.vector for p in points[:5]]
    before = [[(h.id, round(h.score, 5)) for h in store.search(NAME, q, 5)] for q in queries]
    assert [b[0][0] for b in before] == [p.id for p in points[:5]]  # exact: each finds itself first

    assert store.build_index(NAME) is True
    assert store.index_pending(NAME) is False
    assert store.build_index(NAME) is False  # idempotent
    assert _mark(store, NAME) == {"m": 12, "ef_construct": 48, "pending": False}
    after = [[(h.id, round(h.score, 5)) for h in store.search(NAME, q, 5)] for q in queries]
    assert after == before
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"created {NAME}; its HNSW index is built after the first load" in m for m in messages)
    built = [m for m in messages if "built the HNSW index of" in m]
    assert len(built) == 1 and "after its first load (40 points)" in built[0], built
    store.close()


def test_a_new_store_object_reads_the_state_back_from_the_collection(path: str) -> None:
    store = QdrantStore(path=path)
    store.ensure_collection(CollectionSpec(NAME, DIM))
    store.upsert(NAME, _points(10))
    store.close()

    other = QdrantStore(path=path)  # a new process: nothing cached
    assert other.index_pending(NAME) is True
    assert other.build_index(NAME) is True
    other.close()

    third = QdrantStore(path=path)
    assert third.index_pending(NAME) is False
    assert third.build_index(NAME) is False
    third.close()


def test_an_incremental_load_into_a_built_collection_keeps_it_built(path: str) -> None:
    store = QdrantStore(path=path)
    spec = CollectionSpec(NAME, DIM)
    store.ensure_collection(spec)
    store.upsert(NAME, _points(10))
    assert store.build_index(NAME) is True
    store.ensure_collection(spec)  # what a later plan does first
    more = _points(5, start=10)
    store.upsert(NAME, more)
    assert store.index_pending(NAME) is False
    assert store.build_index(NAME) is False
    assert _mark(store, NAME)["pending"] is False
    assert store.search(NAME, more[2].vector, 1)[0].id == more[2].id
    assert store.count(NAME) == 15
    store.close()


def test_without_defer_index_the_collection_has_its_index_from_the_start(path: str) -> None:
    store = QdrantStore(path=path, defer_index=False)
    store.ensure_collection(CollectionSpec(NAME, DIM))
    store.upsert(NAME, _points(3))
    assert store.index_pending(NAME) is False
    assert store.build_index(NAME) is False
    assert _mark(store, NAME) is None
    store.close()


def test_a_dropped_collection_is_not_pending_and_a_new_one_is_again(path: str) -> None:
    store = QdrantStore(path=path)
    store.ensure_collection(CollectionSpec(NAME, DIM))
    assert store.build_index(NAME) is True
    store.drop_collection(NAME)
    assert store.index_pending(NAME) is False
    assert store.build_index(NAME) is False
    store.ensure_collection(CollectionSpec(NAME, DIM))  # recreated: a first load again
    assert store.index_pending(NAME) is True
    store.close()


class ServerLike:
    """Local mode reporting the HNSW ``m`` it was given, as a Qdrant server does (local mode
    always reports 16); ``keeps_metadata=False`` plays a server before collection metadata."""

    _client = None  # not qdrant-client's local engine: the store takes the server branch

    def __init__(self, path: str, *, keeps_metadata: bool = True, rejects_metadata: bool = False) -> None:
        self.inner = QdrantClient(path=path)
        self.keeps_metadata = keeps_metadata
        self.rejects_metadata = rejects_metadata
        self.m: dict[str, int] = {}
        self.hnsw_updates: list[tuple[str, int | None, int | None]] = []
        self.payload_indexes: list[tuple[str, str]] = []

    def create_collection(self, name: str, *, hnsw_config: models.HnswConfigDiff, **kw: Any) -> bool:
        if self.rejects_metadata and kw.get("metadata") is not None:
            body = b'{"status":{"error":"Format error in JSON body: unknown field `metadata`"}}'
            raise UnexpectedResponse(400, "Bad Request", body, httpx.Headers())
        self.m[name] = hnsw_config.m if hnsw_config.m is not None else 16
        if not self.keeps_metadata:
            kw.pop("metadata", None)
        return self.inner.create_collection(name, **kw)

    def update_collection(
        self, name: str, *, hnsw_config: models.HnswConfigDiff | None = None, **kw: Any
    ) -> bool:
        if hnsw_config is not None:
            self.m[name] = hnsw_config.m if hnsw_config.m is not None else self.m[name]
            self.hnsw_updates.append((name, hnsw_config.m, hnsw_config.ef_construct))
        if not self.keeps_metadata:
            kw.pop("metadata", None)
        return self.inner.update_collection(name, **kw)

    def create_payload_index(self, name: str, field_name: str, **kw: Any) -> bool:
        # A server builds it; local mode would only warn that it has no effect.
        self.payload_indexes.append((name, field_name))
        return True

    def get_collection(self, name: str) -> models.CollectionInfo:
        info = self.inner.get_collection(name)
        hnsw = info.config.hnsw_config.model_copy(update={"m": self.m.get(name, 16)})
        return info.model_copy(update={"config": info.config.model_copy(update={"hnsw_config": hnsw})})

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)


def test_on_a_server_the_collection_is_created_with_m_0_and_built_with_the_profiles_m(path: str) -> None:
    client = ServerLike(path)
    store = QdrantStore(client=client)  # type: ignore[arg-type]
    assert not store._local  # the server branch: the state is read from hnsw_config.m
    store.ensure_collection(CollectionSpec(NAME, DIM, hnsw_m=24, hnsw_ef_construct=200))
    assert client.m[NAME] == 0  # no graph while loading
    store.upsert(NAME, _points(10))
    assert store.index_pending(NAME) is True
    assert QdrantStore(client=client).index_pending(NAME) is True  # type: ignore[arg-type]
    assert store.build_index(NAME) is True
    assert client.hnsw_updates == [(NAME, 24, 200)]
    assert client.m[NAME] == 24
    assert store.build_index(NAME) is False
    assert QdrantStore(client=client).index_pending(NAME) is False  # type: ignore[arg-type]
    client.m[NAME] = 0  # marker says built: an m=0 set by hand is not ours to undo
    assert QdrantStore(client=client).index_pending(NAME) is False  # type: ignore[arg-type]
    client.inner.close()


def test_a_server_without_collection_metadata_keeps_the_index_live(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="indexflow")
    client = ServerLike(path, keeps_metadata=False)
    store = QdrantStore(client=client)  # type: ignore[arg-type]
    store.ensure_collection(CollectionSpec(NAME, DIM, hnsw_m=16, hnsw_ef_construct=100))
    assert client.m[NAME] == 16  # set at once: no process could tell that m=0 was temporary
    assert client.hnsw_updates == [(NAME, 16, 100)]
    assert store.index_pending(NAME) is False
    assert QdrantStore(client=client).index_pending(NAME) is False  # type: ignore[arg-type]
    assert any("keeps no collection metadata" in r.getMessage() for r in caplog.records)
    client.inner.close()


def test_a_server_that_rejects_collection_metadata_gets_a_live_index(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="indexflow")
    client = ServerLike(path, rejects_metadata=True)
    store = QdrantStore(client=client)  # type: ignore[arg-type]
    store.ensure_collection(CollectionSpec(NAME, DIM, hnsw_m=16, hnsw_ef_construct=100))
    assert client.m[NAME] == 16
    assert store.index_pending(NAME) is False
    store.upsert(NAME, _points(2))
    assert store.count(NAME) == 2
    assert any("could not create" in r.getMessage() for r in caplog.records)
    client.inner.close()


# -- the pipeline -------------------------------------------------------------------------

TOPICS = (
    "apple orchard harvest",
    "river delta flood",
    "castle siege tower",
    "violin concerto strings",
    "glacier ice melt",
    "bakery sourdough oven",
    "comet orbit telescope",
    "volcano lava ash",
)


def _docs(folder: Path, n: int, start: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + n):
        file = folder / f"doc_{i:03}.md"
        file.write_text(f"# Note {i}\n\n" + " ".join([TOPICS[i % len(TOPICS)]] * 40))
        out.append(str(file))
    return out


@pytest.fixture(params=["qdrant", "qdrant-edge"])
def ix(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[Indexflow]:
    from indexflow.stores.qdrant_edge import QdrantEdgeStore

    store: QdrantStore | QdrantEdgeStore = (
        QdrantStore(path=str(tmp_path / "q"))
        if request.param == "qdrant"
        else QdrantEdgeStore(tmp_path / "e")
    )
    with Indexflow(settings, store=store, encoder=HashEncoder()) as instance:
        yield instance


def test_the_pipeline_builds_the_index_after_the_first_load_and_later_loads_keep_it(
    ix: Indexflow, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="indexflow")
    assert ix.ingest(_docs(tmp_path / "a", 6), dataset="d", timeout=120).ok
    [collection] = ix.rt.store.collections()
    store = ix.rt.store
    assert isinstance(store, DeferredIndexStore)
    deadline = time.monotonic() + 30  # built just after the load's last commit
    while store.index_pending(collection) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.index_pending(collection) is False
    messages = [r.getMessage() for r in caplog.records]
    assert any("its HNSW index is built after the first load" in m for m in messages), messages
    assert sum("built the HNSW index" in m and "after its first load" in m for m in messages) == 1, messages
    hits = ix.search("castle siege tower", dataset="d", k=3, mode="dense")
    assert hits and hits[0].document.source.endswith("doc_002.md")

    caplog.clear()
    assert ix.ingest(_docs(tmp_path / "b", 2, start=6), dataset="d", timeout=120).ok
    assert store.index_pending(collection) is False
    assert not any("built the HNSW index" in r.getMessage() for r in caplog.records)
    assert ix.search("volcano lava ash", dataset="d", k=1, mode="dense")[0].document.source.endswith(
        "doc_007.md"
    )


# -- Qdrant Edge: writes never build the graph; build_index runs optimize after the first load --


def test_edge_builds_the_graph_after_the_first_load_and_a_new_process_knows_the_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from indexflow.stores.qdrant_edge import QdrantEdgeStore

    caplog.set_level(logging.INFO, logger="indexflow")
    dim, n = 1024, 2700  # > the engine's default indexing threshold (10 MB of vectors)
    vectors = np.random.default_rng(3).standard_normal((n, dim)).astype(np.float32)
    points = [VectorPoint(str(uuid.UUID(int=i + 1)), vectors[i], {"plan_id": 1}) for i in range(n)]
    store = QdrantEdgeStore(tmp_path / "vectors")
    assert isinstance(store, DeferredIndexStore)
    store.ensure_collection(CollectionSpec(NAME, dim, hnsw_m=8, hnsw_ef_construct=16))
    store.upsert(NAME, points)
    assert store.index_pending(NAME) is True
    assert store._require(NAME).info().indexed_vectors_count == 0  # no graph while loading
    queries = [vectors[i].tolist() for i in (0, 99, 1234)]
    before = [[h.id for h in store.search(NAME, q, 3)] for q in queries]
    assert [b[0] for b in before] == [points[i].id for i in (0, 99, 1234)]
    store.close()

    store = QdrantEdgeStore(tmp_path / "vectors")  # a new process: read from the folder
    assert store.index_pending(NAME) is True
    assert store.build_index(NAME) is True
    assert store.index_pending(NAME) is False
    assert store.build_index(NAME) is False  # idempotent
    assert store._require(NAME).info().indexed_vectors_count == n  # the graph is there
    assert [store.search(NAME, q, 1)[0].id for q in queries] == [b[0] for b in before]
    more = [VectorPoint(str(uuid.UUID(int=n + 1)), [1.0] * dim, {"plan_id": 2})]
    store.upsert(NAME, more)  # an incremental load: no rebuild, still found
    assert store.index_pending(NAME) is False
    assert store.search(NAME, [1.0] * dim, 1)[0].id == more[0].id
    store.close()
    assert QdrantEdgeStore(tmp_path / "vectors").index_pending(NAME) is False
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"created {NAME}; its HNSW index is built after the first load" in m for m in messages)
    assert (
        sum(f"built the HNSW index of {NAME} after its first load ({n} points)" in m for m in messages) == 1
    )


def test_edge_without_defer_index_the_shard_is_never_pending(tmp_path: Path) -> None:
    from indexflow.stores.qdrant_edge import QdrantEdgeStore

    store = QdrantEdgeStore(tmp_path / "vectors", defer_index=False)
    store.ensure_collection(CollectionSpec(NAME, DIM))
    store.upsert(NAME, _points(3))
    assert store.index_pending(NAME) is False
    assert store.build_index(NAME) is False
    assert store.index_pending("indexflow_missing") is False
    store.close()
