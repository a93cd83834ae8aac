"""Pick and cache encoders by name; heavy libraries load only when an encoder is built.

The names and backends live in ``indexflow.encoders.registry``; this module is the stable entry
point the rest of indexflow calls.
"""

from __future__ import annotations

from pathlib import Path

from indexflow.encoders.base import Encoder
from indexflow.encoders.registry import registry


def parse_encoder_name(name: str) -> tuple[str, str]:
    """Split ``name`` into backend and model.

    Args:
        name: ``<backend>:<model>`` (``hf:…``, ``hash:…``), a name a backend claims
            (``indexflow-testing/hash``), a packaged model id, or a local model folder
            (backend ``hf``).

    Returns:
        ``(backend, model)``.

    Raises:
        ConfigurationError: empty name, empty model, or a backend indexflow does not have.
    """
    backend, model = registry.resolve(name)
    return backend.name, model


def get_encoder(
    name: str,
    *,
    device: str | None = None,
    precision: str = "auto",
    batch_size: int = 64,
    engine: str = "torch",
    cache_dir: Path | None = None,
) -> Encoder:
    """Return the encoder for ``name``, built once per process and then shared.

    Args:
        name: see ``parse_encoder_name``.
        device: ``cpu``, ``cuda``, ``cuda:N``; None picks CUDA when available.
        precision: ``auto`` | ``fp32`` | ``bf16`` | ``fp16``.
        batch_size: most rows per forward pass.
        engine: what runs a local model: ``torch``, ``openvino`` or ``auto`` (the fastest runtime
            faithful to torch fp32 here, measured once per machine; ``indexflow.encoders.engines``).
        cache_dir: where engines keep converted models and ``auto`` decisions.

    Returns:
        A thread-safe encoder; the same object for the same arguments.

    Raises:
        ConfigurationError: unknown backend, missing model, or invalid settings.
    """
    return registry.get(
        name, device=device, precision=precision, batch_size=batch_size, engine=engine, cache_dir=cache_dir
    )


def clear_encoder_cache() -> None:
    """Forget every cached encoder (tests, or to free memory after a settings change)."""
    registry.clear_cache()
