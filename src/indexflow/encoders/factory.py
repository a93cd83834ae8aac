"""Pick and cache encoders by name; heavy libraries load only when an encoder is built."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from indexflow.encoders.base import Encoder
from indexflow.errors import ConfigurationError

BACKENDS = ("hf",)
# "scheme:rest" where scheme looks like a backend name; one letter is left alone as a Windows drive.
_PREFIX = re.compile(r"^(?P<backend>[A-Za-z][A-Za-z0-9_.+-]+):(?P<model>.*)$")

_cache: dict[tuple[str, str, str | None, str, int], Encoder] = {}
_cache_lock = threading.Lock()


def parse_encoder_name(name: str) -> tuple[str, str]:
    """Split ``name`` into backend and model.

    Args:
        name: ``hf:<model>``, a packaged model id, or a local model folder (backend ``hf``).

    Returns:
        ``(backend, model)``.

    Raises:
        ConfigurationError: empty name, empty model, or a backend indexflow does not have.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError("encoder name must be a non-empty string")
    name = name.strip()
    match = _PREFIX.match(name)
    # A local folder whose name happens to contain a colon is still a folder.
    if match is None or Path(name).expanduser().is_dir():
        return "hf", name
    backend, model = match.group("backend").lower(), match.group("model").strip()
    if backend not in BACKENDS:
        raise ConfigurationError(f"unknown encoder backend {backend!r} in {name!r}; known: {BACKENDS}")
    if not model:
        raise ConfigurationError(f"encoder name {name!r} names no model")
    return backend, model


def get_encoder(
    name: str,
    *,
    device: str | None = None,
    precision: str = "auto",
    batch_size: int = 64,
) -> Encoder:
    """Return the encoder for ``name``, built once per process and then shared.

    Args:
        name: ``hf:<model>``, a packaged model id, or a local model folder.
        device: ``cpu``, ``cuda``, ``cuda:N``; None picks CUDA when available.
        precision: ``auto`` | ``fp32`` | ``bf16`` | ``fp16``.
        batch_size: most rows per forward pass.

    Returns:
        A thread-safe encoder; the same object for the same arguments.

    Raises:
        ConfigurationError: unknown backend, missing model, or invalid settings.
    """
    backend, model = parse_encoder_name(name)
    key = (backend, model, device, precision, batch_size)
    encoder = _cache.get(key)
    if encoder is not None:
        return encoder
    # Held while loading so two threads asking at once load the weights once, not twice.
    with _cache_lock:
        encoder = _cache.get(key)
        if encoder is None:
            from indexflow.encoders.hf import HFEncoder

            encoder = HFEncoder(model, device=device, precision=precision, batch_size=batch_size)
            _cache[key] = encoder
    return encoder


def clear_encoder_cache() -> None:
    """Forget every cached encoder (tests, or to free memory after a settings change)."""
    with _cache_lock:
        _cache.clear()
