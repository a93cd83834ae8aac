"""Helpers and fixtures of the lifecycle tests (unit tier on doubles, embedded tier on the real
stack): small real documents, encoder call counting, DB/store peeks."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from indexflow.db.models import Chunk, ChunkPlan, DocumentVersion
from indexflow.stores.base import SearchFilter
from tests.texts import BEES as BEES  # re-exported for the lifecycle tests
from tests.texts import TRAINS as TRAINS  # re-exported for the lifecycle tests

if TYPE_CHECKING:
    from indexflow.service import Indexflow


def write_doc(path: Path, text: str, paragraphs: int = 1) -> Path:
    """Write ``paragraphs`` numbered paragraphs of ``text`` (numbers keep chunks distinct)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(f"Section {i + 1}. {text}" for i in range(paragraphs)) + "\n")
    return path


class CountingEncoder:
    """Wraps the real encoder; counts every ``encode`` call and the texts it was given."""

    def __init__(self, inner: Any, log: list[int], lock: threading.Lock) -> None:
        self._inner = inner
        self._log = log
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def encode(self, texts: Sequence[str]) -> Any:
        with self._lock:
            self._log.append(len(texts))
        return self._inner.encode(texts)


@pytest.fixture
def encoder_calls(ix: Indexflow, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every ``encode`` call made through ``ix.rt`` (worker and search alike): one entry per call."""
    log: list[int] = []
    lock = threading.Lock()
    real = ix.rt.encoder
    monkeypatch.setattr(ix.rt, "encoder", lambda profile: CountingEncoder(real(profile), log, lock))
    return log


def ingest_one(ix: Indexflow, path: Path, dataset: str = "docs") -> tuple[int, int]:
    """Ingest one file and wait; returns (document id, plan id of the default profile)."""
    report = ix.ingest([str(path)], dataset=dataset, wait=True, timeout=300)
    [doc] = report.documents
    assert doc.status == "EMBEDDED", doc
    assert doc.document_id is not None, doc
    [plan] = doc.plans
    return doc.document_id, plan.plan_id


def collection(ix: Indexflow, profile: str = "default") -> str:
    return next(p.collection for p in ix.profiles.list() if p.name == profile)


def points(ix: Indexflow, plan_ids: Sequence[int] | None = None, profile: str = "default") -> int:
    """Points in the profile's collection (of ``plan_ids`` if given), enabled or not."""
    flt = SearchFilter(plan_ids=tuple(plan_ids), only_enabled=False) if plan_ids is not None else None
    return int(ix.rt.store.count(collection(ix, profile), flt))


def point_ids(ix: Indexflow, profile: str = "default") -> set[str]:
    return {p.id for p in ix.rt.store.iter_points(collection(ix, profile))}


def chunk_rows(ix: Indexflow, plan_id: int) -> list[Chunk]:
    with ix.rt.sessions() as s:
        return list(s.scalars(select(Chunk).where(Chunk.plan_id == plan_id).order_by(Chunk.seq)))


def versions(ix: Indexflow, document_id: int) -> list[DocumentVersion]:
    with ix.rt.sessions() as s:
        return list(
            s.scalars(
                select(DocumentVersion)
                .where(DocumentVersion.document_id == document_id)
                .order_by(DocumentVersion.id)
            )
        )


def row_counts(ix: Indexflow) -> dict[str, int]:
    with ix.rt.sessions() as s:
        return {
            "plans": s.scalar(select(func.count()).select_from(ChunkPlan)) or 0,
            "chunks": s.scalar(select(func.count()).select_from(Chunk)) or 0,
            "versions": s.scalar(select(func.count()).select_from(DocumentVersion)) or 0,
        }


@pytest.fixture
def docs_dir(tmp_path: Path) -> Iterator[Path]:
    out = tmp_path / "docs"
    out.mkdir()
    yield out
