"""The encoder port: text in, L2-normalised vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into vectors.

    Contract: ``encode(texts)`` returns a float32 array of shape ``(len(texts), dimension)``,
    rows L2-normalised, in the order of ``texts``. Inputs longer than ``max_tokens`` are
    truncated safely (never an error). An empty list gives shape ``(0, dimension)``.

    Models that embed queries and passages differently (e5's ``"query: "`` / ``"passage: "``)
    treat ``encode`` as the query side and add ``encode_passages(texts)``, which the embed stage
    calls through ``encode_passages`` below; search calls ``encode``.
    """

    name: str
    dimension: int
    max_tokens: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def encode_queries(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Embed search queries: ``encoder.encode_queries`` where the encoder has one (a query
    prefix such as e5's "query: "), else ``encoder.encode``."""
    method = getattr(encoder, "encode_queries", None)
    if callable(method):
        result: np.ndarray = method(texts)
        return result
    return encoder.encode(texts)


def encode_passages(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Embed indexed passages: ``encoder.encode_passages`` where the encoder has one (a passage
    prefix), else ``encoder.encode``."""
    method = getattr(encoder, "encode_passages", None)
    if callable(method):
        result: np.ndarray = method(texts)
        return result
    return encoder.encode(texts)
