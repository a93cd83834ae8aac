"""The LangChain and LlamaIndex retrievers, with the real packages, over a real Indexflow."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, TextNode

from indexflow.integrations import hit_metadata
from indexflow.integrations.langchain import IndexflowRetriever as LangChainRetriever
from indexflow.integrations.llamaindex import IndexflowRetriever as LlamaIndexRetriever
from tests.texts import BEE_QUERY

if TYPE_CHECKING:
    from indexflow.service import Indexflow

META = {
    "document_id", "source", "title", "dataset", "bundle_id", "bundle_title", "bundle_paths",
    "chunk_id", "chunk_seq", "char_start", "char_end", "plan_id", "score",
}  # fmt: skip


def test_langchain_documents_are_the_hits_with_their_metadata(corpus: Indexflow) -> None:
    retriever = LangChainRetriever(ix=corpus, dataset="docs", k=3, max_per_document=0)
    docs = retriever.invoke(BEE_QUERY)
    hits = corpus.search(BEE_QUERY, dataset="docs", k=3, max_per_document=0)
    assert len(docs) == len(hits) == 3
    assert all(isinstance(d, Document) for d in docs)
    assert [d.page_content for d in docs] == [h.text for h in hits]
    assert [d.metadata for d in docs] == [hit_metadata(h) for h in hits]
    first = docs[0].metadata
    # the document's own metadata (parser's: title, format) comes first, then the hit's fields
    assert set(first) == META | set(hits[0].document.metadata) and first["format"] == "markdown"
    assert first["source"].endswith("bees.md") and first["dataset"] == "docs"
    assert first["char_end"] > first["char_start"] >= 0 and first["score"] == hits[0].score


@pytest.mark.anyio
async def test_langchain_async_gives_what_sync_gives(corpus: Indexflow) -> None:
    retriever = LangChainRetriever(ix=corpus, dataset="docs", k=4, max_per_document=1)
    docs = await retriever.ainvoke(BEE_QUERY)
    assert docs == retriever.invoke(BEE_QUERY)
    assert len({d.metadata["document_id"] for d in docs}) == len(docs) == 2  # one per document


def test_langchain_passes_the_search_options(corpus: Indexflow) -> None:
    dense = LangChainRetriever(ix=corpus, dataset="docs", k=2, mode="dense").invoke(BEE_QUERY)
    assert [d.page_content for d in dense] == [
        h.text for h in corpus.search(BEE_QUERY, dataset="docs", k=2, mode="dense")
    ]
    assert LangChainRetriever(ix=corpus, dataset="nowhere").invoke(BEE_QUERY) == []


def test_llamaindex_nodes_carry_text_span_metadata_and_score(corpus: Indexflow) -> None:
    retriever = LlamaIndexRetriever(corpus, dataset="docs", k=3, max_per_document=0)
    nodes = retriever.retrieve(BEE_QUERY)
    hits = corpus.search(BEE_QUERY, dataset="docs", k=3, max_per_document=0)
    assert len(nodes) == 3
    for node, hit in zip(nodes, hits, strict=True):
        assert isinstance(node, NodeWithScore) and isinstance(node.node, TextNode)
        assert node.node.text == hit.text and node.score == hit.score
        assert node.node.metadata == hit_metadata(hit)
        span = (node.node.start_char_idx, node.node.end_char_idx)
        assert span == (hit.chunk.char_start, hit.chunk.char_end)
        assert node.node.node_id == f"indexflow-chunk-{hit.chunk.id}"
    assert nodes[0].node.metadata["source"].endswith("bees.md")
    # what the LLM sees: the title and source, not the ids and scores
    llm_text = nodes[0].node.get_content(metadata_mode="llm")  # type: ignore[arg-type]
    assert "source" in llm_text and "chunk_id" not in llm_text


@pytest.mark.anyio
async def test_llamaindex_async_gives_what_sync_gives(corpus: Indexflow) -> None:
    retriever = LlamaIndexRetriever(corpus, dataset="docs", k=4, max_per_document=1)
    nodes = await retriever.aretrieve(BEE_QUERY)
    again = retriever.retrieve(BEE_QUERY)
    assert [(n.node.node_id, n.score) for n in nodes] == [(n.node.node_id, n.score) for n in again]
    assert len({n.node.metadata["document_id"] for n in nodes}) == 2
