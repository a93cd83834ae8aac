"""The retrieval options on the scale-out stores: PostgreSQL state with pgvector (its full-text
leg) and with Qdrant (qdrant-client local mode, sparse vectors with the IDF modifier).

Qdrant Edge runs the same flows in the embedded tier (``tests/unit/lifecycle/test_retrieval.py``
collected again by ``tests/embedded/test_lifecycle_on_the_real_stack.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indexflow import Indexflow
from indexflow.settings import Settings
from indexflow.stores.base import VectorStore
from indexflow.testing import HashEncoder

pytestmark = pytest.mark.integration

DOCS = {
    "bees.md": "# Bees\n\n"
    + "\n\n".join(f"Part {i}. Honey bees dance to tell the hive where flowers are." for i in range(8)),
    "trains.md": "# Trains\n\nSteam locomotives pull carriages along the railway line.",
    "codes.md": "# Error codes\n\n## Storage\n\nError E7731 means the ledger volume is full.",
}


@pytest.fixture(params=["pgvector", "qdrant"])
def ix(request: pytest.FixtureRequest, pg_database: str, tmp_path: Path) -> Iterator[Indexflow]:
    store: VectorStore
    if request.param == "pgvector":
        from indexflow.stores.pgvector import PgVectorStore

        store = PgVectorStore(pg_database)
    else:
        from indexflow.stores.qdrant import QdrantStore

        store = QdrantStore(location=":memory:")
    settings = Settings(home=tmp_path / "home", database_url=pg_database, vector_store=request.param)
    with Indexflow(settings, store=store, encoder=HashEncoder()) as instance:
        yield instance


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    return folder


def test_hybrid_profile_with_headers_on_the_store(ix: Indexflow, corpus: Path) -> None:
    ix.profiles.create(
        "rich", lexical=True, context_template="{title}\n{section}", chunk_size=24, chunk_overlap=4
    )
    report = ix.ingest([str(corpus)], dataset="docs", profiles=["rich"], timeout=120)
    assert report.ok, report
    # BM25 finds the identifier; the header (title, section) was indexed with the text
    sparse = ix.search("E7731", dataset="docs", profile="rich", mode="sparse")
    assert sparse and sparse[0].document.source.endswith("codes.md")
    assert ix.search("zzzunknownterm", dataset="docs", profile="rich", mode="sparse") == []
    by_header = ix.search("Storage", dataset="docs", profile="rich", mode="sparse", k=1)
    assert by_header and by_header[0].document.source.endswith("codes.md")
    hybrid = ix.search("E7731 ledger", dataset="docs", profile="rich")
    assert hybrid[0].document.source.endswith("codes.md")

    # results spread across documents, or grouped by them
    spread = ix.search("honey bees flowers", dataset="docs", profile="rich", k=3, max_per_document=1)
    assert len({h.document.id for h in spread}) == len(spread) == 3
    groups = ix.search("honey bees", dataset="docs", profile="rich", k=2, group_by="document")
    assert groups[0].document.source.endswith("bees.md") and len(groups[0].hits) == 3

    # disabling a chunk and deleting a document reach the lexical leg too
    chunk = sparse[0].chunk.id
    ix.chunks.disable(chunk)
    assert all(h.chunk.id != chunk for h in ix.search("E7731", dataset="docs", profile="rich", mode="sparse"))
    ix.chunks.enable(chunk)
    ix.documents.delete(sparse[0].document.id)
    assert ix.search("E7731", dataset="docs", profile="rich", mode="sparse") == []


def test_evaluate_and_the_gate_on_the_store(ix: Indexflow, corpus: Path) -> None:
    assert ix.ingest([str(corpus)], dataset="docs", timeout=120).ok
    queries = [
        {"query": "honey bees dance", "relevant": ["bees.md"]},
        {"query": "steam locomotives railway", "relevant": ["trains.md"]},
        {"query": "ledger volume full", "relevant": ["codes.md"]},
    ]
    report = ix.evaluate(queries, dataset="docs", k=3)
    assert report.profiles[0].metrics["hit@1"] == 1.0 and report.profiles[0].misses == []

    ix.profiles.clone("default", "bm25", lexical=True)
    result = ix.switch_default("bm25", gate=queries, dataset="docs", timeout=120)
    assert result.switched, result
    assert ix.profiles.default().name == "bm25"  # type: ignore[union-attr]
    assert ix.search("E7731", dataset="docs")[0].plan_id in {
        p.plan_id for p in ix.plans.list() if p.profile == "bm25"
    }
