"""What a sentence-transformers model folder declares, read without loading its weights: the
pooling mode (``modules.json``, ``1_Pooling/config.json``) and the query / passage prompts
(``config_sentence_transformers.json``). ``TransformerEncoder`` reproduces what they say, and
refuses a folder it cannot reproduce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from indexflow.encoders.models import read_json
from indexflow.errors import ConfigurationError

POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len_tokens", "lasttoken")
# sentence-transformers' legacy boolean keys (1_Pooling/config.json before v5) and their modes.
_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
# The sentence-transformers modules HFEncoder reproduces; any other (Dense, LayerNorm…) would
# change the vectors, so such a folder is refused rather than embedded wrongly.
_SUPPORTED_MODULES = frozenset({"Transformer", "Pooling", "Normalize"})


def folder_pooling(model_dir: Path, model: str) -> str:
    """The pooling mode a sentence-transformers folder declares (``mean`` for a plain HF folder).

    Reads ``modules.json`` (which folder holds the Pooling module, default ``1_Pooling``) and its
    ``config.json``: either ``pooling_mode`` (sentence-transformers 5+) or the legacy
    ``pooling_mode_*_token(s)`` booleans.

    Raises:
        ConfigurationError: a module HFEncoder cannot reproduce (Dense, …), several pooling
            modes at once (concatenated vectors), ``weightedmean``, or ``include_prompt: false``.
    """
    pooling_dir = model_dir / "1_Pooling"
    modules = json_list(model_dir / "modules.json")
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind not in _SUPPORTED_MODULES:
            raise ConfigurationError(
                f"model {model!r} has a {kind or '?'} module; HFEncoder reproduces only "
                f"{', '.join(sorted(_SUPPORTED_MODULES))}"
            )
        if kind == "Pooling":
            pooling_dir = model_dir / str(module.get("path") or "1_Pooling")
    config = read_json(pooling_dir / "config.json")
    if not config:
        return "mean"
    declared = config.get("pooling_mode")
    if declared is not None:
        modes = [declared] if isinstance(declared, str) else list(declared)
    else:
        modes = [mode for key, mode in _LEGACY_POOLING.items() if config.get(key)]
    if len(modes) != 1:
        raise ConfigurationError(
            f"model {model!r} pools with {modes or 'no mode'}; HFEncoder takes exactly one"
        )
    mode = str(modes[0])
    if mode not in POOLING_MODES:
        raise ConfigurationError(
            f"model {model!r} pools with {mode!r}; HFEncoder does {', '.join(POOLING_MODES)}"
        )
    if config.get("include_prompt") is False:
        raise ConfigurationError(f"model {model!r} pools without its prompt tokens; HFEncoder cannot")
    return mode


def folder_prompts(model_dir: Path) -> tuple[str, str]:
    """The ``(query, passage)`` prefixes a folder's ``config_sentence_transformers.json`` declares
    under ``prompts`` (``query``; ``passage`` or ``document``), ``""`` where none."""
    prompts = read_json(model_dir / "config_sentence_transformers.json").get("prompts") or {}
    if not isinstance(prompts, dict):
        return "", ""
    query = prompts.get("query") or ""
    passage = prompts.get("passage") or prompts.get("document") or ""
    return (query if isinstance(query, str) else ""), (passage if isinstance(passage, str) else "")


def json_list(path: Path) -> list[dict[str, Any]]:
    """A JSON file holding a list of objects (``modules.json``); ``[]`` when absent."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ConfigurationError(f"{path} does not hold a list of JSON objects")
    return data
