"""Options written into an encoder name: ``<model>?key=value&key=value``.

A profile stores its encoder as one string, so whatever changes the vectors (the query and
passage prefixes of e5/BGE-style models, an HTTP model's token limit) travels with the profile
and cannot drift with the environment. The part after the first ``?`` is URL query syntax:
``+`` or ``%20`` is a space (``hf:/models/e5-base?query=query:+&passage=passage:+``), ``%26`` an
``&``. A local folder whose name holds a ``?`` is still that folder.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

from indexflow.errors import ConfigurationError

PREFIX_OPTIONS = ("query", "passage")
"""The prefix options every text backend takes: prepended to search queries / indexed passages."""


def split_options(model: str, allowed: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """``model`` without its ``?options``, and the options as a dict.

    Raises:
        ConfigurationError: an option not in ``allowed``, given twice, or malformed.
    """
    base, sep, query = model.partition("?")
    if not sep or _is_dir(model):
        return model, {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise ConfigurationError(f"encoder options {query!r} are not key=value&key=value: {exc}") from exc
    options: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise ConfigurationError(
                f"unknown encoder option {key!r} in {model!r}; this backend takes: {', '.join(allowed)}"
            )
        if key in options:
            raise ConfigurationError(f"encoder option {key!r} is given twice in {model!r}")
        options[key] = value
    if not base.strip():
        raise ConfigurationError(f"encoder name {model!r} names no model")
    return base.strip(), options


def int_option(options: dict[str, str], key: str, *, low: int = 1) -> int | None:
    """Option ``key`` as an integer ``>= low`` (None when absent)."""
    if key not in options:
        return None
    try:
        value = int(options[key])
    except ValueError:
        raise ConfigurationError(f"encoder option {key}={options[key]!r} is not an integer") from None
    if value < low:
        raise ConfigurationError(f"encoder option {key}={value} must be at least {low}")
    return value


def _is_dir(name: str) -> bool:
    try:
        return Path(name).expanduser().is_dir()
    except (OSError, ValueError, RuntimeError):
        return False
