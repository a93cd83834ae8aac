"""Loading the fast tokenizer of a model, offline, and counting tokens with it."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexflow.encoders.models import resolve_model_dir
from indexflow.errors import ConfigurationError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from indexflow.domain.chunker import TokenizerLike

# tokenizer_config.json writes "no limit" as a huge integer (int(1e30)); treat such values as absent.
_NO_LIMIT = 1_000_000


@lru_cache(maxsize=16)
def load_tokenizer(name: str) -> Tokenizer:
    """Load the Hugging Face fast tokenizer of model ``name`` with truncation and padding off.

    The ``tokenizer.json`` of sentence-transformers models fixes truncation and padding at 128;
    left on, every text would be silently cut, so both are switched off here. The same object is
    returned for the same name (it is safe to share across threads).

    Args:
        name: a packaged model id or a local model folder (see ``resolve_model_dir``).

    Returns:
        A ``tokenizers.Tokenizer`` (it satisfies ``indexflow.domain.chunker.TokenizerLike``).

    Raises:
        ConfigurationError: the model is unknown or has no ``tokenizer.json``.
    """
    from tokenizers import Tokenizer

    path = resolve_model_dir(name) / "tokenizer.json"
    if not path.is_file():
        raise ConfigurationError(f"model {name!r} has no fast tokenizer ({path} is missing)")
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    return data if isinstance(data, dict) else {}


def _limit(value: object) -> int | None:
    if isinstance(value, int) and 0 < value < _NO_LIMIT:
        return value
    return None


@lru_cache(maxsize=16)
def model_max_tokens(name: str) -> int:
    """The most tokens, special tokens included, that model ``name`` reads per text.

    The sentence-transformers ``max_seq_length`` wins (256 for all-MiniLM-L6-v2, which its
    tokenizer config gives as 512), then ``model_max_length``, then ``max_position_embeddings``.

    Raises:
        ConfigurationError: none of these is set.
    """
    folder = resolve_model_dir(name)
    limits = (
        _limit(_read_json(folder / "sentence_bert_config.json").get("max_seq_length")),
        _limit(_read_json(folder / "tokenizer_config.json").get("model_max_length")),
        _limit(_read_json(folder / "config.json").get("max_position_embeddings")),
    )
    for value in limits:
        if value is not None:
            return value
    raise ConfigurationError(f"model {name!r} declares no maximum sequence length")


def max_chunk_tokens(name: str) -> int:
    """The largest ``chunk_size`` for model ``name``: its limit less the special tokens it adds."""
    return model_max_tokens(name) - load_tokenizer(name).num_special_tokens_to_add(False)


def count_tokens(texts: list[str], tokenizer: TokenizerLike) -> list[int]:
    """Count the tokens of each text, special tokens excluded, in one batched encode."""
    if not texts:
        return []
    return [len(enc) for enc in tokenizer.encode_batch(texts, add_special_tokens=False)]
