"""Vector store adapters, one module per engine."""

from indexflow.stores.base import CollectionSpec, SearchFilter, StoreHit, VectorPoint, VectorStore

__all__ = ["CollectionSpec", "SearchFilter", "StoreHit", "VectorPoint", "VectorStore"]
