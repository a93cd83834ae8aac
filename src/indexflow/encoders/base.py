"""The encoder port: text in, L2-normalised vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: commands that embed nothing never import numpy
    import numpy as np


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into vectors.

    Contract: ``encode(texts)`` returns a float32 array of shape ``(len(texts), dimension)``,
    rows L2-normalised, in the order of ``texts``. Inputs longer than ``max_tokens`` are
    truncated safely (never an error). An empty list gives shape ``(0, dimension)``.

    ``encode`` embeds what is indexed (passages). Models that embed queries differently (e5's
    ``"query: "`` / ``"passage: "``) put the passage prefix in ``encode`` and add
    ``encode_queries(texts)``, which search calls through ``encode_queries`` below.

    ``encode`` is the one method the pipeline calls when indexing, so a wrapper that overrides it
    (to count, throttle or fail calls) always sees every batch.
    """

    name: str
    dimension: int
    max_tokens: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def encode_queries(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Embed search queries: the encoder class's own ``encode_queries`` (a query prefix such as
    e5's "query: "), else ``encoder.encode``.

    Only a method the encoder's class defines counts, not one a wrapper forwards through
    ``__getattr__``: a wrapper that overrides ``encode`` sees query calls too.
    """
    method = getattr(type(encoder), "encode_queries", None)
    if callable(method):
        result: np.ndarray = method(encoder, texts)
        return result
    return encoder.encode(texts)
