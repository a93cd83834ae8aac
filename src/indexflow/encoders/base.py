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
    """

    name: str
    dimension: int
    max_tokens: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...
