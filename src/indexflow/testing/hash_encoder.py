"""A deterministic, model-free encoder: hashed word unigrams and bigrams (the "hashing trick").

It loads nothing and gives the same vector for the same text in every process and on every
machine (blake2b, not Python's salted ``hash()``), so tests can embed thousands of chunks in
milliseconds. It is lexical: texts that share words score higher than texts that do not, which
is enough to assert that the right document comes first on distinct texts. It knows nothing of
meaning (no synonyms, no other languages' equivalents).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from hashlib import blake2b
from itertools import pairwise

import numpy as np

from indexflow.errors import ConfigurationError, EncoderError

HASH_ENCODER_NAME = "indexflow-testing/hash"
"""The model name a profile uses for the default ``HashEncoder`` (``…/hash-64`` for 64 dimensions)."""

DEFAULT_DIMENSION = 384  # all-MiniLM-L6-v2's, so the double drops into the default profile
DEFAULT_MAX_TOKENS = 256
BIGRAM_WEIGHT = 0.5
_WORD = re.compile(r"\w+")
_DIMENSION_SUFFIX = re.compile(r"^-(\d+)$")
_EMPTY = "\x00empty"  # the feature of a text without words, so its row is still a unit vector


def is_hash_name(name: str) -> bool:
    """Whether ``name`` is ``indexflow-testing/hash`` or ``indexflow-testing/hash-<dimension>``."""
    rest = name.removeprefix(HASH_ENCODER_NAME)
    return rest != name and (rest == "" or _DIMENSION_SUFFIX.match(rest) is not None)


@lru_cache(maxsize=1 << 16)
def _bucket(feature: str, dimension: int) -> tuple[int, float]:
    """Stable bucket and sign of one feature."""
    digest = int.from_bytes(blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
    return digest % dimension, 1.0 if digest >> 63 else -1.0


class HashEncoder:
    """``Encoder`` without a model: lower-cased word unigrams and bigrams hashed into buckets.

    Each feature adds a signed weight (unigrams 1.0, bigrams ``BIGRAM_WEIGHT``) to one of
    ``dimension`` buckets chosen by blake2b; rows are L2-normalised float32. Words are
    ``\\w+`` runs; only the first ``max_tokens`` words count (a word is at least one token, so
    this truncates no later than a real model would). A text without words maps to one fixed
    unit vector. Stateless, so thread-safe.
    """

    def __init__(
        self,
        dimension: int = DEFAULT_DIMENSION,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        name: str | None = None,
    ) -> None:
        """Configure the encoder (nothing is loaded).

        Args:
            dimension: vector size (the profile's ``dimension`` must match).
            max_tokens: words read per text; the profile's ``max_tokens``.
            name: the encoder's name; default ``indexflow-testing/hash`` (``…-<dimension>``
                when the dimension is not 384).

        Raises:
            ConfigurationError: ``dimension`` below 2 or ``max_tokens`` below 3.
        """
        if dimension < 2:
            raise ConfigurationError(f"HashEncoder dimension must be at least 2, not {dimension}")
        if max_tokens < 3:
            raise ConfigurationError(f"HashEncoder max_tokens must be at least 3, not {max_tokens}")
        self.dimension = int(dimension)
        self.max_tokens = int(max_tokens)
        if name is None:
            name = HASH_ENCODER_NAME if dimension == DEFAULT_DIMENSION else f"{HASH_ENCODER_NAME}-{dimension}"
        self.name = name
        # Not part of the Encoder port: the tokenizer a profile using this encoder should name.
        self.tokenizer_name = "sentence-transformers/all-MiniLM-L6-v2"

    @classmethod
    def from_name(cls, model: str) -> HashEncoder:
        """Build from a registry model name: ``indexflow-testing/hash[-DIM]`` or, after the
        ``hash:`` prefix, just ``DIM``.

        Raises:
            ConfigurationError: any other name.
        """
        if is_hash_name(model):
            suffix = model.removeprefix(HASH_ENCODER_NAME)
            return cls(int(suffix[1:]) if suffix else DEFAULT_DIMENSION, name=model)
        if model.isdigit():
            return cls(int(model))
        raise ConfigurationError(
            f"unknown hash encoder {model!r}: use {HASH_ENCODER_NAME!r}, "
            f"'{HASH_ENCODER_NAME}-<dimension>' or 'hash:<dimension>'"
        )

    def __repr__(self) -> str:
        return f"HashEncoder(dimension={self.dimension}, max_tokens={self.max_tokens}, name={self.name!r})"

    def features(self, text: str) -> list[tuple[str, float]]:
        """The weighted features of ``text``: its unigrams, then its bigrams."""
        words = _WORD.findall(text.lower())[: self.max_tokens]
        if not words:
            return [(_EMPTY, 1.0)]
        grams = [(w, 1.0) for w in words]
        grams += [(f"{a} {b}", BIGRAM_WEIGHT) for a, b in pairwise(words)]
        return grams

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in order.

        Returns:
            float32 array ``(len(texts), dimension)`` with L2-normalised rows.

        Raises:
            EncoderError: ``texts`` is not a sequence of strings.
        """
        if isinstance(texts, str | bytes) or not isinstance(texts, Sequence):
            raise EncoderError(f"encode() takes a sequence of strings, not {type(texts).__name__}")
        out = np.zeros((len(texts), self.dimension), dtype=np.float64)
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise EncoderError(f"texts[{row}] is {type(text).__name__}, not str")
            vector = out[row]
            for feature, weight in self.features(text):
                bucket, sign = _bucket(feature, self.dimension)
                vector[bucket] += sign * weight
            norm = float(np.linalg.norm(vector))
            if norm == 0.0:  # every feature cancelled out: fall back to the empty-text vector
                bucket, sign = _bucket(_EMPTY, self.dimension)
                vector[bucket] = sign
                norm = 1.0
            vector /= norm
        return out.astype(np.float32)
