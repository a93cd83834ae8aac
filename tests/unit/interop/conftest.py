"""Interop tests (retrievers, AsyncIndexflow, export) on the shipped doubles: a real Indexflow
(SQLite, tokenizer, chunker, in-process worker) over MemoryStore and HashEncoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from indexflow.settings import Settings
from tests.lifecycle_support import BEES, TRAINS, write_doc

if TYPE_CHECKING:
    from indexflow.service import Indexflow


@pytest.fixture
def ix(settings: Settings) -> Iterator[Indexflow]:
    from indexflow import Indexflow
    from indexflow.testing import HashEncoder, MemoryStore

    with Indexflow(settings, store=MemoryStore(), encoder=HashEncoder()) as instance:
        yield instance


@pytest.fixture
def corpus(ix: Indexflow, tmp_path: Path) -> Indexflow:
    """Two documents (bees, trains) ingested into dataset ``docs``."""
    folder = tmp_path / "corpus"
    write_doc(folder / "bees.md", BEES, paragraphs=20)
    write_doc(folder / "trains.md", TRAINS, paragraphs=20)
    report = ix.ingest([str(folder)], dataset="docs", wait=True, timeout=120)
    assert all(d.status == "EMBEDDED" for d in report.documents), report
    return ix


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
