"""Encoder backends by name: which code builds the encoder a profile names, built once per process.

A backend is a name, a factory ``(model, device, precision, batch_size) -> Encoder`` and,
optionally, a predicate that claims bare model names. A profile's encoder name resolves as:

1. ``"<backend>:<model>"`` (e.g. ``hf:sentence-transformers/all-MiniLM-L6-v2``, ``hash:64``,
   ``openai:text-embedding-3-small``)
   picks that backend explicitly; an unregistered backend is a ``ConfigurationError``. An
   existing local folder is never read as ``backend:model``, even when its name has a colon,
   and neither is a one-letter "backend" (a Windows drive such as ``C:/models/minilm``).
2. Otherwise the first backend, in registration order, whose ``claims(name)`` is true
   (``indexflow-testing/hash`` is claimed by the ``hash`` backend).
3. Otherwise the default backend, ``hf`` (Hugging Face weights, sentence-transformers layout).

A backend that runs a local model may also take an *engine* factory: the same model run by
another runtime (``hf`` runs on torch, or on OpenVINO, or on whichever ``auto`` measured fastest
among those faithful to torch fp32: ``indexflow.encoders.engines``), picked process-wide by the
``encoder_backend`` setting. The vectors agree within the fidelity gate, so the encoder name (and
the profile) stays the same whichever engine runs it.

The model part may end in ``?key=value&…`` options (``indexflow.encoders.options``): the query
and passage prefixes, for instance, which thereby belong to the profile.

Adding a backend is one module with the encoder class and one ``register_backend`` call (the
built-in ones are registered at the bottom of this module). Factories import their heavy
libraries when they run, so resolving a name never imports torch.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from indexflow.encoders.base import Encoder
from indexflow.errors import ConfigurationError

EncoderFactory = Callable[[str, str | None, str, int], Encoder]
"""``(model, device, precision, batch_size) -> Encoder``; raises ``ConfigurationError``."""

EngineFactory = Callable[[str, str | None, str, int, str, Path | None], Encoder]
"""``(model, device, precision, batch_size, engine, cache_dir) -> Encoder``; raises ``ConfigurationError``."""

NameClaim = Callable[[str], bool]

DEFAULT_BACKEND = "hf"
_BACKEND_NAME = re.compile(r"^[a-z][a-z0-9_.+-]+$")
# "scheme:rest" where scheme looks like a backend name; one letter is left alone as a Windows drive.
_PREFIX = re.compile(r"^(?P<backend>[A-Za-z][A-Za-z0-9_.+-]+):(?P<model>.*)$")

CacheKey = tuple[str, str, str | None, str, int, str, Path | None]


@dataclass(frozen=True, slots=True)
class Backend:
    """One way of building encoders."""

    name: str
    factory: EncoderFactory
    claims: NameClaim | None = None
    description: str = ""
    engine_factory: EngineFactory | None = None


class EncoderRegistry:
    """Backends by name, name resolution, and one shared encoder per configuration.

    Thread-safe: registration and lookups may happen from any thread; a model is loaded once
    even when several threads ask for it at the same time.
    """

    def __init__(self, default: str = DEFAULT_BACKEND) -> None:
        self._default = default
        self._backends: dict[str, Backend] = {}
        self._cache: dict[CacheKey, Encoder] = {}
        # Held while loading, so two threads asking at once load the weights once, not twice.
        self._lock = threading.RLock()

    # -- backends ---------------------------------------------------------------------------

    def register(
        self,
        name: str,
        factory: EncoderFactory,
        *,
        claims: NameClaim | None = None,
        description: str = "",
        replace: bool = False,
        engine_factory: EngineFactory | None = None,
    ) -> Backend:
        """Add a backend.

        Args:
            name: lower-case backend name, at least 2 characters (``[a-z][a-z0-9_.+-]+``); it is
                also the ``"<name>:"`` prefix that selects the backend explicitly.
            factory: builds an encoder from ``(model, device, precision, batch_size)``.
            claims: optional predicate: bare model names (no prefix) this backend serves.
            description: one line for listings and error messages.
            replace: allow replacing a backend of the same name (its cached encoders are dropped).
            engine_factory: optional; builds the encoder when an engine other than ``torch`` is
                asked for (``get(..., engine=...)``). Without one, the engine is ignored.

        Returns:
            The registered ``Backend``.

        Raises:
            ConfigurationError: invalid name, or the name is taken and ``replace`` is false.
        """
        if not _BACKEND_NAME.match(name):
            raise ConfigurationError(
                f"encoder backend name {name!r} must match {_BACKEND_NAME.pattern} (lower case, 2+ chars)"
            )
        backend = Backend(name, factory, claims, description, engine_factory)
        with self._lock:
            if name in self._backends:
                if not replace:
                    raise ConfigurationError(f"encoder backend {name!r} is already registered")
                self._drop_cached(name)
            self._backends[name] = backend
        return backend

    def unregister(self, name: str) -> None:
        """Remove a backend and its cached encoders (unknown names are ignored)."""
        with self._lock:
            self._backends.pop(name, None)
            self._drop_cached(name)

    def forget(self, name: str) -> None:
        """Drop the cached encoders of backend ``name`` (its settings changed); it stays registered."""
        with self._lock:
            self._drop_cached(name)

    def backends(self) -> tuple[str, ...]:
        """Registered backend names, in registration order."""
        with self._lock:
            return tuple(self._backends)

    def backend(self, name: str) -> Backend:
        """The backend registered as ``name``.

        Raises:
            ConfigurationError: no such backend.
        """
        with self._lock:
            found = self._backends.get(name)
        if found is None:
            raise ConfigurationError(self._unknown(name))
        return found

    # -- names ------------------------------------------------------------------------------

    def resolve(self, name: str) -> tuple[Backend, str]:
        """The backend that serves encoder name ``name``, and the model name it gets.

        Raises:
            ConfigurationError: empty name, empty model after a prefix, or an unknown backend.
        """
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError("encoder name must be a non-empty string")
        name = name.strip()
        with self._lock:
            backends = list(self._backends.values())
        match = _PREFIX.match(name)
        # A local folder whose name happens to contain a colon is still a folder.
        if match is not None and not _is_dir(name):
            prefix, model = match.group("backend").lower(), match.group("model").strip()
            chosen = next((b for b in backends if b.name == prefix), None)
            if chosen is None:
                raise ConfigurationError(f"{self._unknown(prefix)} (in encoder name {name!r})")
            if not model:
                raise ConfigurationError(f"encoder name {name!r} names no model")
            return chosen, model
        for backend in backends:
            if backend.claims is not None and backend.claims(name):
                return backend, name
        return self.backend(self._default), name

    def _unknown(self, backend: str) -> str:
        known = ", ".join(self.backends()) or "none"
        return (
            f"unknown encoder backend {backend!r}; known backends: {known} "
            f"(a name without 'backend:' uses {self._default!r})"
        )

    # -- encoders ---------------------------------------------------------------------------

    def get(
        self,
        name: str,
        *,
        device: str | None = None,
        precision: str = "auto",
        batch_size: int = 64,
        engine: str = "torch",
        cache_dir: Path | None = None,
    ) -> Encoder:
        """The encoder for ``name``, built on first use and then shared by the whole process.

        Args:
            engine: the runtime of backends that take one (``torch``, ``openvino``, ``auto``);
                others ignore it.
            cache_dir: where such an engine keeps what it derives (converted models, decisions).

        Raises:
            ConfigurationError: unknown backend or model, or settings the backend rejects.
        """
        backend, model = self.resolve(name)
        by_engine = backend.engine_factory is not None and engine != "torch"
        key: CacheKey = (
            backend.name,
            model,
            device,
            precision,
            batch_size,
            engine if by_engine else "torch",
            cache_dir if by_engine else None,
        )
        encoder = self._cache.get(key)
        if encoder is not None:
            return encoder
        with self._lock:
            encoder = self._cache.get(key)
            if encoder is None:
                if by_engine and backend.engine_factory is not None:
                    encoder = backend.engine_factory(model, device, precision, batch_size, engine, cache_dir)
                else:
                    encoder = backend.factory(model, device, precision, batch_size)
                self._cache[key] = encoder
        return encoder

    def clear_cache(self) -> None:
        """Forget every cached encoder (tests, or to free memory after a settings change)."""
        with self._lock:
            self._cache.clear()

    def _drop_cached(self, backend: str) -> None:
        for key in [k for k in self._cache if k[0] == backend]:
            del self._cache[key]


registry = EncoderRegistry()
"""The process-wide registry ``indexflow.encoders.factory.get_encoder`` uses."""


def register_backend(
    name: str,
    factory: EncoderFactory,
    *,
    claims: NameClaim | None = None,
    description: str = "",
    replace: bool = False,
    engine_factory: EngineFactory | None = None,
) -> Backend:
    """Register a backend in the process-wide registry; see ``EncoderRegistry.register``."""
    return registry.register(
        name, factory, claims=claims, description=description, replace=replace, engine_factory=engine_factory
    )


# -- built-in backends ------------------------------------------------------------------------


def _hf(model: str, device: str | None, precision: str, batch_size: int) -> Encoder:
    from indexflow.encoders.hf import HFEncoder
    from indexflow.encoders.options import PREFIX_OPTIONS, split_options

    folder, options = split_options(model, PREFIX_OPTIONS)
    return HFEncoder(
        folder,
        device=device,
        precision=precision,
        batch_size=batch_size,
        query_prefix=options.get("query"),
        passage_prefix=options.get("passage"),
    )


def _hf_engine(
    model: str, device: str | None, precision: str, batch_size: int, engine: str, cache_dir: Path | None
) -> Encoder:
    from indexflow.encoders.engines import build_hf_encoder
    from indexflow.encoders.options import PREFIX_OPTIONS, split_options

    folder, options = split_options(model, PREFIX_OPTIONS)
    return build_hf_encoder(
        folder,
        engine=engine,
        device=device,
        precision=precision,
        batch_size=batch_size,
        query_prefix=options.get("query"),
        passage_prefix=options.get("passage"),
        cache_dir=cache_dir,
    )


def _openai(model: str, device: str | None, precision: str, batch_size: int) -> Encoder:
    from indexflow.encoders.openai import OpenAIEncoder

    return OpenAIEncoder(model)


def _hash(model: str, device: str | None, precision: str, batch_size: int) -> Encoder:
    from indexflow.testing.hash_encoder import HashEncoder

    return HashEncoder.from_name(model)


def _claims_hash(name: str) -> bool:
    from indexflow.testing.hash_encoder import is_hash_name

    return is_hash_name(name)


register_backend(
    "hf",
    _hf,
    description="Hugging Face / sentence-transformers weights from a package or a local folder",
    engine_factory=_hf_engine,
)
register_backend(
    "hash",
    _hash,
    claims=_claims_hash,
    description="indexflow.testing.HashEncoder: deterministic, model-free (indexflow-testing/hash[-DIM])",
)
register_backend(
    "openai",
    _openai,
    description="an OpenAI-compatible POST /embeddings endpoint (settings openai_base_url, openai_api_key)",
)


def _is_dir(name: str) -> bool:
    """Whether ``name`` is a local folder (a name too long for a path, or with a NUL, is not)."""
    try:
        return Path(name).expanduser().is_dir()
    except (OSError, ValueError, RuntimeError):
        return False
