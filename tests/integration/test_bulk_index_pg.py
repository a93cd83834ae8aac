"""A first load into PGVector builds its HNSW index after the load, not during it (issue 14,
part 5); later loads insert into the live index. PostgreSQL state + pgvector, in-process worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from indexflow import Indexflow
from indexflow.settings import Settings
from indexflow.stores.pgvector import PgVectorStore
from indexflow.stores.pgvector_sql import normalise_dsn, table_name
from indexflow.testing import HashEncoder

pytestmark = pytest.mark.integration


@pytest.fixture
def ix(pg_database: str, tmp_path: Path) -> Iterator[Indexflow]:
    settings = Settings(home=tmp_path / "home", database_url=pg_database, vector_store="pgvector")
    with Indexflow(settings, store=PgVectorStore(pg_database), encoder=HashEncoder()) as instance:
        yield instance


def _indexes(dsn: str, collection: str) -> set[str]:
    with psycopg.connect(normalise_dsn(dsn)) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s", (table_name(collection),)
        ).fetchall()
    return {r[0].removeprefix(table_name(collection) + "_") for r in rows}


TOPICS = (
    "apple orchard harvest",
    "river delta flood",
    "castle siege tower",
    "violin concerto strings",
    "glacier ice melt",
    "bakery sourdough oven",
    "comet orbit telescope",
    "volcano lava ash",
    "chess opening gambit",
    "coral reef fish",
    "desert dune camel",
    "lighthouse harbor fog",
    "tram depot rails",
    "bees hive honey",
    "kite wind string",
    "lantern paper festival",
)


def _docs(folder: Path, n: int, start: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + n):
        path = folder / f"doc_{i:03}.md"
        path.write_text(f"# Note {i}\n\n" + " ".join([TOPICS[i % len(TOPICS)]] * 40))
        out.append(str(path))
    return out


def test_the_first_load_builds_the_index_after_it_and_later_loads_keep_it(
    ix: Indexflow, pg_database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="indexflow")
    report = ix.ingest(_docs(tmp_path / "a", 12), dataset="d", timeout=300)
    assert report.ok
    [collection] = ix.rt.store.collections()
    # the index is built just after the load's last commit: wait for it (never more than 30 s)
    deadline = time.monotonic() + 30
    while "hnsw" not in _indexes(pg_database, collection) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "hnsw" in _indexes(pg_database, collection)
    messages = [r.getMessage() for r in caplog.records]
    assert any("its HNSW index is built after the first load" in m for m in messages), messages
    assert any("built the HNSW index" in m and "after its first load" in m for m in messages), messages
    hits = ix.search("castle siege tower", dataset="d", k=3, mode="dense")
    assert hits and hits[0].document.source.endswith("doc_002.md")

    # an incremental load inserts into the live index: it is never dropped or rebuilt
    caplog.clear()
    assert ix.ingest(_docs(tmp_path / "b", 3, start=12), dataset="d", timeout=300).ok
    assert "hnsw" in _indexes(pg_database, collection)
    assert not any("built the HNSW index" in r.getMessage() for r in caplog.records)
    assert ix.search("bees hive honey", dataset="d", k=1, mode="dense")[0].document.source.endswith(
        "doc_013.md"
    )


def test_search_before_the_index_is_exact_and_build_index_is_idempotent(pg_database: str) -> None:
    from indexflow.stores.base import CollectionSpec, VectorPoint

    store = PgVectorStore(pg_database)
    try:
        store.ensure_collection(CollectionSpec("indexflow_bulk", 4, "cosine"))
        vectors = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.7, 0.7, 0.0, 0.0]]
        points = [
            VectorPoint(id=f"00000000-0000-0000-0000-00000000000{i}", vector=v, payload={"plan_id": 1})
            for i, v in enumerate(vectors, 1)
        ]
        store.upsert("indexflow_bulk", points)
        assert store.index_pending("indexflow_bulk") is True
        before = [h.id for h in store.search("indexflow_bulk", [1.0, 0.1, 0.0, 0.0], 3)]
        assert before == [points[0].id, points[2].id, points[1].id]  # exact order, no index yet
        assert store.build_index("indexflow_bulk") is True
        assert store.index_pending("indexflow_bulk") is False
        assert store.build_index("indexflow_bulk") is False  # already there
        assert [h.id for h in store.search("indexflow_bulk", [1.0, 0.1, 0.0, 0.0], 3)] == before
        assert "hnsw" in _indexes(pg_database, "indexflow_bulk")
        assert PgVectorStore(pg_database).index_pending("indexflow_bulk") is False  # another process sees it
    finally:
        store.drop_collection("indexflow_bulk")
        store.close()
