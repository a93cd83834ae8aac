"""The per-process context every stage runs in: settings, DB sessions, store, encoders."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from indexflow.db.migrate import upgrade
from indexflow.db.models import IndexProfile, utcnow
from indexflow.db.session import make_engine, make_session_factory
from indexflow.encoders.base import Encoder
from indexflow.heap import configure_heap
from indexflow.pipeline.machine import Queues
from indexflow.settings import Settings
from indexflow.stores.base import CollectionSpec, TransactionalStore, VectorStore


class Runtime:
    """Owns the engine, the vector store and the loaded models of one process.

    Nothing connects until first use, so building a Runtime is cheap; ``close`` releases all.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: VectorStore | None = None,
        encoder: Encoder | None = None,
    ) -> None:
        """Prepare the runtime (nothing connects yet).

        Args:
            settings: the effective configuration.
            store: a vector store to use instead of the one ``settings.vector_store`` names
                (e.g. ``indexflow.testing.MemoryStore()``); it stays this runtime's store after
                ``close`` (which closes it).
            encoder: an encoder that serves every profile instead of the one each profile
                names (e.g. ``indexflow.testing.HashEncoder()``); its ``dimension`` must match
                the profiles'. Tokenizers are not affected: chunking always uses the profile's
                real tokenizer.
        """
        self.settings = settings
        # Plans this process has not touched since it started are leftovers of an earlier run.
        self.started_at = utcnow()
        self.engine = make_engine(settings.effective_database_url)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        # Status polls, search and listings: on SQLite they must not queue behind the write lock.
        self._reader_engine = (
            make_engine(settings.effective_database_url, reader=True)
            if self.engine.dialect.name == "sqlite"
            else None
        )
        self.readers: sessionmaker[Session] = make_session_factory(self._reader_engine or self.engine)
        self._store = store
        self._store_injected = store is not None
        self._encoder = encoder
        self._lock = threading.Lock()
        _configure_encoders(settings)
        configure_heap(settings.malloc_mmap_threshold_kb)  # flat memory under the encoders' passes
        self._collections: set[str] = set()
        self._schema_ready = False

    def ensure_schema(self) -> None:
        if not self._schema_ready:
            with self._lock:
                if not self._schema_ready:
                    upgrade(self.engine)
                    self._schema_ready = True

    @property
    def store(self) -> VectorStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from indexflow.stores.factory import make_store

                    s = self.settings
                    self._store = make_store(
                        s.vector_store,
                        home=s.vector_path,
                        qdrant_url=s.qdrant_url,
                        qdrant_api_key=s.qdrant_api_key.get_secret_value() if s.qdrant_api_key else None,
                        qdrant_timeout=s.qdrant_timeout,
                        database_url=s.effective_database_url,
                    )
        return self._store

    @property
    def queues(self) -> Queues:
        s = self.settings
        return Queues(plan=s.plan_queue, embed=s.embed_queue, batch_size=s.embed_batch_size)

    @property
    def joined_store(self) -> TransactionalStore | None:
        """The store when it lives in the state database (PGVector on the same PostgreSQL): then a
        batch's vectors and its chunks' status commit in one transaction."""
        if self.settings.vector_store != "pgvector" or self.engine.dialect.name != "postgresql":
            return None
        store = self.store
        return store if isinstance(store, TransactionalStore) else None

    @property
    def store_kind(self) -> str:
        """The store's name in metrics: the configured kind, or an injected store's class name."""
        return type(self.store).__name__ if self._store_injected else self.settings.vector_store

    def encoder(self, profile: IndexProfile) -> Encoder:
        """The injected encoder, else the profile's (shared by the process, see ``get_encoder``)."""
        if self._encoder is not None:
            return self._encoder
        from indexflow.encoders.engines import default_batch_size
        from indexflow.encoders.factory import get_encoder

        s = self.settings
        if s.encoder_threads:
            from indexflow.encoders.hf import set_encoder_threads

            set_encoder_threads(s.encoder_threads)
        return get_encoder(
            profile.encoder,
            device=s.encoder_device,
            precision=s.encoder_precision,
            batch_size=s.encoder_batch_size or default_batch_size(s.encoder_device),
            engine=s.encoder_backend,
            cache_dir=s.effective_cache_dir,
        )

    def tokenizer(self, profile: IndexProfile) -> Any:
        """The profile's real tokenizer (never replaced by an injected encoder)."""
        from indexflow.encoders.tokenizer import load_token_counter

        return load_token_counter(profile.tokenizer)

    def ensure_collection(self, profile: IndexProfile) -> str:
        name = profile.collection
        if name not in self._collections:
            self.store.ensure_collection(
                CollectionSpec(
                    name=name,
                    dimension=profile.dimension,
                    distance=profile.distance,
                    hnsw_m=profile.hnsw_m,
                    hnsw_ef_construct=profile.hnsw_ef_construct,
                    lexical=profile.lexical,
                )
            )
            self._collections.add(name)
        return name

    def forget_collection(self, name: str) -> None:
        """Forget that collection ``name`` was ensured, so the next write creates it anew.

        Call it after dropping the collection from the store (a purged profile's id, hence its
        collection name, may be given to the next profile on SQLite).
        """
        self._collections.discard(name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            if not self._store_injected:  # an injected store stays: the next use must not build another
                self._store = None
        self.engine.dispose()
        if self._reader_engine is not None:
            self._reader_engine.dispose()


def _configure_encoders(settings: Settings) -> None:
    """Hand the HTTP encoders their endpoint, key and limits (process-wide, like the encoder cache)."""
    from indexflow.encoders.openai import OpenAIConfig, configure

    key = settings.openai_api_key
    configure(
        OpenAIConfig(
            base_url=settings.openai_base_url,
            api_key=key.get_secret_value() if key else None,
            timeout_seconds=settings.openai_timeout_seconds,
            max_inputs_per_request=settings.openai_max_inputs_per_request,
            max_tokens_per_request=settings.openai_max_tokens_per_request,
            max_retries=settings.openai_max_retries,
            max_retry_wait_seconds=settings.openai_max_retry_wait_seconds,
            default_max_tokens=settings.openai_max_tokens,
        )
    )
