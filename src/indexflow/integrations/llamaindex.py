"""A LlamaIndex retriever over ``Indexflow.search`` (``pip install 'indexflow[llamaindex]'``).

    from indexflow import Indexflow
    from indexflow.integrations.llamaindex import IndexflowRetriever

    retriever = IndexflowRetriever(Indexflow(), dataset="docs", k=4)
    nodes = retriever.retrieve("how do I install it?")      # or: await retriever.aretrieve(...)

Each ``NodeWithScore`` holds a ``TextNode`` (the chunk's text, its character span in the
document, ``hit_metadata`` as metadata) and the hit's score. Ids, spans and scores are kept
out of what the LLM and the embedder see (``excluded_*_metadata_keys``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from indexflow.aio import AsyncIndexflow
from indexflow.integrations import hit_metadata, search_kwargs

if TYPE_CHECKING:
    from indexflow.service import Indexflow
    from indexflow.views import Hit

_HIDDEN = [
    "document_id",
    "dataset",
    "bundle_id",
    "bundle_paths",
    "chunk_id",
    "chunk_seq",
    "char_start",
    "char_end",
    "plan_id",
    "score",
]


class IndexflowRetriever(BaseRetriever):
    """The ``k`` best chunks of ``dataset`` for a query (``Indexflow.search``).

    Args:
        ix: the ``Indexflow`` to search (not closed by the retriever).
        dataset, k, profile, mode, max_per_document, document_ids: as ``Indexflow.search``.
        where: a metadata filter, as ``Indexflow.search`` (``{"team": "ops", "year": {"gte": 2020}}``).
    """

    def __init__(
        self,
        ix: Indexflow,
        *,
        dataset: str = "default",
        k: int = 4,
        profile: str | None = None,
        mode: str | None = None,
        max_per_document: int | None = None,
        document_ids: list[int] | None = None,
        where: dict[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
        **kwargs: Any,
    ) -> None:
        self.ix = ix
        self.dataset = dataset
        self.k = k
        self.profile = profile
        self.mode = mode
        self.max_per_document = max_per_document
        self.document_ids = document_ids
        self.where = where
        super().__init__(callback_manager=callback_manager, **kwargs)

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

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits: list[Hit] = self.ix.search(query_bundle.query_str, **self._kwargs())
        return [_node(h) for h in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = await AsyncIndexflow(self.ix).search_hits(query_bundle.query_str, **self._kwargs())
        return [_node(h) for h in hits]


def _node(hit: Hit) -> NodeWithScore:
    node = TextNode(
        id_=f"indexflow-chunk-{hit.chunk.id}",
        text=hit.text,
        metadata=hit_metadata(hit),
        start_char_idx=hit.chunk.char_start,
        end_char_idx=hit.chunk.char_end,
        excluded_llm_metadata_keys=list(_HIDDEN),
        excluded_embed_metadata_keys=list(_HIDDEN),
    )
    return NodeWithScore(node=node, score=hit.score)


__all__ = ["IndexflowRetriever"]
