"""Runtime injection: a given store and encoder replace the configured ones; tokenizers do not change."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from indexflow.encoders.tokenizer import load_tokenizer
from indexflow.runtime import Runtime
from indexflow.settings import Settings
from indexflow.stores.base import CollectionSpec
from indexflow.testing import HashEncoder, MemoryStore

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def profile(**fields: Any) -> Any:
    base = {
        "encoder": "no-such-org/never-loaded",
        "tokenizer": MINILM,
        "collection": "indexflow_injected",
        "dimension": 384,
        "distance": "cosine",
        "hnsw_m": 16,
        "hnsw_ef_construct": 100,
        "lexical": False,
    }
    return SimpleNamespace(**(base | fields))


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.ensured: list[str] = []
        self.closed = 0

    def ensure_collection(self, spec: CollectionSpec) -> None:
        self.ensured.append(spec.name)
        super().ensure_collection(spec)

    def close(self) -> None:
        self.closed += 1


def test_an_injected_encoder_serves_every_profile_and_the_tokenizer_stays_real(settings: Settings) -> None:
    encoder = HashEncoder()
    rt = Runtime(settings, store=MemoryStore(), encoder=encoder)
    try:
        # The profiles name models that do not exist: nothing is looked up or loaded.
        assert rt.encoder(profile()) is encoder
        assert rt.encoder(profile(encoder="other/model")) is encoder
        assert rt.tokenizer(profile()) is load_tokenizer(MINILM)
    finally:
        rt.close()


def test_an_injected_store_is_used_and_stays_after_close(settings: Settings) -> None:
    store = CountingStore()
    rt = Runtime(settings, store=store)
    assert rt.store is store
    rt.close()
    assert store.closed == 1
    assert rt.store is store  # not replaced by the configured qdrant-edge store
    rt.close()


def test_forget_collection_makes_the_next_write_ensure_it_again(settings: Settings) -> None:
    store = CountingStore()
    rt = Runtime(settings, store=store, encoder=HashEncoder())
    try:
        p = profile()
        assert rt.ensure_collection(p) == rt.ensure_collection(p) == "indexflow_injected"
        assert store.ensured == ["indexflow_injected"]
        store.drop_collection("indexflow_injected")
        rt.forget_collection("indexflow_injected")
        rt.forget_collection("never-ensured")  # unknown names are fine
        rt.ensure_collection(p)
        assert store.ensured == ["indexflow_injected", "indexflow_injected"]
        assert store.collections() == ["indexflow_injected"]
    finally:
        rt.close()
