"""make_store picks the adapter and imports only the chosen engine's SDK."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from indexflow.errors import ConfigurationError
from indexflow.stores.base import VectorStore
from indexflow.stores.factory import make_store


def test_qdrant_edge_lives_under_home_and_imports_no_other_sdk(tmp_path: Path):
    script = textwrap.dedent(
        """
        import sys
        from indexflow.stores.factory import make_store
        store = make_store("qdrant-edge", home=sys.argv[1])
        print(type(store).__name__, *sorted(m for m in ("qdrant_client", "psycopg") if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], check=True, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.split() == ["QdrantEdgeStore"]


@pytest.mark.parametrize("url", [":memory:", "path:{tmp}"])
def test_qdrant_local_mode_urls(tmp_path: Path, url: str):
    store = make_store("qdrant", qdrant_url=url.format(tmp=tmp_path / "q"))
    assert isinstance(store, VectorStore)
    assert store.count("nothing") == 0
    store.close()


def test_pgvector_accepts_sqlalchemy_urls_without_connecting():
    store = make_store("pgvector", database_url="postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert type(store).__name__ == "PgVectorStore"
    store.close()


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("faiss", {}),
        ("qdrant-edge", {}),
        ("qdrant", {}),
        ("pgvector", {}),
        ("pgvector", {"database_url": "sqlite:///x.db"}),
    ],
)
def test_unusable_settings_raise_configuration_error(kind: str, kwargs: dict[str, Any]):
    with pytest.raises(ConfigurationError):
        make_store(kind, **kwargs)
