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
        # Qdrant Edge's adapter does not read vectors back (no get_vectors): rows carry none
        assert ix.export.vectors_readable is False
        assert all(r.vector is None for r in ix.export("docs", vectors=True))
