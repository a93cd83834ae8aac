"""Loading the fast tokenizer of a model, offline, and counting tokens with it."""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from indexflow.encoders.models import model_max_tokens as model_max_tokens
from indexflow.encoders.models import resolve_model_dir
from indexflow.errors import ConfigurationError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from indexflow.domain.chunker import TokenizerLike

# Components that never look across a whitespace run: normalizers that map characters one by
# one (or compose only combining marks, which cannot attach to whitespace), pre-tokenizers that
# split at whitespace and drop it, and pre-tokenizers that only split pieces further.
_LOCAL_NORMALIZERS = frozenset({"BertNormalizer", "Lowercase", "NFD", "NFKD", "NFC", "NFKC", "StripAccents"})
_WHITESPACE_SPLITTERS = frozenset({"BertPreTokenizer", "Whitespace", "WhitespaceSplit"})
_REFINERS = frozenset({"Punctuation", "Digits"})
_joins: dict[int, tuple[object, bool]] = {}  # id(tokenizer) -> (tokenizer, answer); keeps ids unique
_joins_lock = threading.Lock()


@lru_cache(maxsize=16)
def load_tokenizer(name: str) -> Tokenizer:
    """Load the Hugging Face fast tokenizer of model ``name`` with truncation and padding off.

    The ``tokenizer.json`` of sentence-transformers models fixes truncation and padding at 128;
    left on, every text would be silently cut, so both are switched off here
    (``no_truncation()``, ``no_padding()``). The same object is returned for the same name (it is
    safe to share across threads).

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


def load_token_counter(name: str) -> TokenizerLike:
    """What a profile's ``tokenizer`` field names, as the chunker's ``TokenizerLike``.

    ``indexflow-estimate`` is the conservative counter of ``indexflow.encoders.estimate`` (for
    HTTP encoders whose tokenizer indexflow does not have); any other name is a Hugging Face fast
    tokenizer (``load_tokenizer``).

    Raises:
        ConfigurationError: the name is neither the estimate nor a model with a fast tokenizer
            ("unknown tokenizer …", with the reason and the names that work).
    """
    from indexflow.encoders.estimate import ESTIMATE_TOKENIZER, EstimateTokenizer

    if name == ESTIMATE_TOKENIZER:
        return EstimateTokenizer()
    try:
        return load_tokenizer(name)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"unknown tokenizer {name!r}: {exc}; name a packaged model, a local model folder with "
            f"tokenizer.json, or {ESTIMATE_TOKENIZER!r} (the conservative estimate for HTTP encoders)"
        ) from exc


def max_chunk_tokens(name: str) -> int:
    """The largest ``chunk_size`` for model ``name``: its limit (``model_max_tokens``, which
    counts the special tokens) less the special tokens its tokenizer adds — 256 - 2 = 254 for
    all-MiniLM-L6-v2."""
    return model_max_tokens(name) - load_tokenizer(name).num_special_tokens_to_add(False)


def count_tokens(texts: list[str], tokenizer: TokenizerLike) -> list[int]:
    """Count the tokens of each text, special tokens excluded, in one batched encode."""
    if not texts:
        return []
    return [len(enc) for enc in tokenizer.encode_batch(texts, add_special_tokens=False)]


def joins_at_whitespace(tokenizer: object) -> bool:
    """Whether ``tokenizer`` encodes texts joined by whitespace as its parts end to end.

    True when nothing in its pipeline looks across a run of whitespace: a per-character
    normalizer (BERT's, lowercasing, Unicode forms, accent stripping), a pre-tokenizer that splits
    at whitespace and drops it (BERT's, ``Whitespace``, ``WhitespaceSplit``, optionally refined by
    ``Punctuation``/``Digits``), and no added token that swallows neighbouring spaces. Then the
    tokens of ``a + "\\n\\n" + b`` are those of ``a`` followed by those of ``b`` (offsets shifted),
    so a caller may reuse the parts' encodings instead of tokenizing the joined text. BERT
    WordPiece tokenizers (all-MiniLM-L6-v2) qualify; byte-level BPE and SentencePiece ones, which
    keep spaces as tokens, do not. Anything that is not a ``tokenizers.Tokenizer`` gives False.
    The answer is computed once per tokenizer object.
    """
    key = id(tokenizer)
    known = _joins.get(key)
    if known is not None and known[0] is tokenizer:
        return known[1]
    answer = _inspect(tokenizer)
    with _joins_lock:
        _joins[key] = (tokenizer, answer)
    return answer


def _inspect(tokenizer: object) -> bool:
    to_str = getattr(tokenizer, "to_str", None)
    if not callable(to_str):
        return False
    try:
        config = json.loads(to_str())
    except (TypeError, ValueError):
        return False
    if not isinstance(config, dict):
        return False
    return (
        _normalizer_is_local(config.get("normalizer"))
        and _splits_at_whitespace(config.get("pre_tokenizer"))
        and all(_added_token_is_plain(t) for t in config.get("added_tokens") or [])
    )


def _normalizer_is_local(node: Any) -> bool:
    if node is None:
        return True
    if not isinstance(node, dict):
        return False
    if node.get("type") == "Sequence":
        return all(_normalizer_is_local(n) for n in node.get("normalizers") or [])
    return node.get("type") in _LOCAL_NORMALIZERS


def _splits_at_whitespace(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    kind = node.get("type")
    if kind == "Sequence":
        steps = [n.get("type") if isinstance(n, dict) else None for n in node.get("pretokenizers") or []]
        return any(s in _WHITESPACE_SPLITTERS for s in steps) and all(
            s in _WHITESPACE_SPLITTERS or s in _REFINERS for s in steps
        )
    return kind in _WHITESPACE_SPLITTERS


def _added_token_is_plain(token: Any) -> bool:
    if not isinstance(token, dict):
        return False
    content = token.get("content")
    return (
        isinstance(content, str)
        and not any(ch.isspace() for ch in content)
        and not token.get("lstrip")
        and not token.get("rstrip")
    )
