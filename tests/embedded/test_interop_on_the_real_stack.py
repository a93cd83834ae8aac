"""The retrievers, AsyncIndexflow and export on the real stack: all-MiniLM-L6-v2, Qdrant Edge,
SQLite (the unit tier runs them on the doubles: tests/unit/interop)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from indexflow import AsyncIndexflow
from indexflow.integrations.langchain import IndexflowRetriever as LangChainRetriever
from indexflow.integrations.llamaindex import IndexflowRetriever as LlamaIndexRetriever
from tests.lifecycle_support import BEES, TRAINS, write_doc
from tests.texts import BEE_QUERY

if TYPE_CHECKING:
    from indexflow.service import Indexflow


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_retrievers_and_export_with_the_real_model(ix: Indexflow, tmp_path: Path) -> None:
    write_doc(tmp_path / "in" / "bees.md", BEES, paragraphs=6)
    write_doc(tmp_path / "in" / "trains.md", TRAINS, paragraphs=6)
    async with AsyncIndexflow(ix) as aix:
        report = await aix.ingest([str(tmp_path / "in")], dataset="docs", wait=True, timeout=300)
        assert [d.status for d in report.documents] == ["EMBEDDED", "EMBEDDED"]

        lc = LangChainRetriever(ix=ix, dataset="docs", k=2, mode="dense")
        docs = await lc.ainvoke(BEE_QUERY)
        assert docs == lc.invoke(BEE_QUERY)
        assert docs[0].metadata["source"].endswith("bees.md") and "waggle dance" in docs[0].page_content
        li = LlamaIndexRetriever(ix, dataset="docs", k=2, mode="dense")
        nodes = await li.aretrieve(BEE_QUERY)
        assert nodes[0].node.metadata["source"].endswith("bees.md")
        assert nodes[0].score == pytest.approx(docs[0].metadata["score"])

        buf = io.StringIO()
        n = await aix.export_to("docs", buf)
        rows = [json.loads(line) for line in buf.getvalue().splitlines()]
        assert n == len(rows) >= 2 and {Path(r["source"]).name for r in rows} == {"bees.md", "trains.md"}
        # Qdrant Edge reads the stored vectors back: each row carries its chunk's, as searched
        assert ix.export.vectors_readable is True
        exported = list(ix.export("docs", vectors=True))
        assert all(r.vector is not None and len(r.vector) == 384 for r in exported)
        top = ix.search(BEE_QUERY, dataset="docs", k=1, mode="dense")[0]
        row = next(r for r in exported if r.chunk_id == top.chunk.id)
        assert row.vector is not None and abs(sum(x * x for x in row.vector) - 1.0) < 1e-3  # normalized
        # metadata filters reach the retrievers: a filter no document passes returns nothing
        ix.ingest([str(tmp_path / "in" / "bees.md")], dataset="docs", metadata={"team": "hive"}, timeout=300)
        hive = LangChainRetriever(ix=ix, dataset="docs", k=2, where={"team": "hive"}).invoke(BEE_QUERY)
        assert hive and all(d.metadata["team"] == "hive" for d in hive)
        assert (
            LlamaIndexRetriever(ix, dataset="docs", k=2, where={"team": "nobody"}).retrieve(BEE_QUERY) == []
        )
