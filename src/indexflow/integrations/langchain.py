"""A LangChain retriever over ``Indexflow.search`` (``pip install 'indexflow[langchain]'``).

    from indexflow import Indexflow
    from indexflow.integrations.langchain import IndexflowRetriever

    retriever = IndexflowRetriever(ix=Indexflow(), dataset="docs", k=4)
    docs = retriever.invoke("how do I install it?")        # or: await retriever.ainvoke(...)

Each ``Document`` holds the chunk's text as ``page_content`` and ``hit_metadata`` (document id,
source, title, dataset, bundle title and paths, chunk id and span, plan id, score) as metadata.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from indexflow.aio import AsyncIndexflow
from indexflow.integrations import hit_metadata, search_kwargs
from indexflow.views import Hit


class IndexflowRetriever(BaseRetriever):
    """The ``k`` best chunks of ``dataset`` for a query (``Indexflow.search``).

    Attributes:
        ix: the ``Indexflow`` to search (not closed by the retriever).
        dataset, k, profile, mode, max_per_document, document_ids: as ``Indexflow.search``.
        where: a metadata filter, as ``Indexflow.search`` (``{"team": "ops", "year": {"gte": 2020}}``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    ix: Any = Field(description="the Indexflow facade to search")
    dataset: str = "default"
    k: int = 4
    profile: str | None = None
    mode: str | None = None
    max_per_document: int | None = None
    document_ids: list[int] | None = None
    where: dict[str, Any] | None = None

    def _kwargs(self) -> dict[str, Any]:
        return search_kwargs(
            self.dataset,
            self.k,
            self.profile,
            self.mode,
            self.max_per_document,
            self.document_ids,
            self.where,
        )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits: list[Hit] = self.ix.search(query, **self._kwargs())
        return [_document(h) for h in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = await AsyncIndexflow(self.ix).search_hits(query, **self._kwargs())
        return [_document(h) for h in hits]


def _document(hit: Hit) -> Document:
    return Document(page_content=hit.text, metadata=hit_metadata(hit))


__all__ = ["IndexflowRetriever"]
