"""An OpenAI-compatible HTTP embedding encoder: ``openai:<model>`` (OpenAI, Azure-style proxies,
vLLM, Ollama, LiteLLM, text-embeddings-inference… anything serving ``POST /embeddings``).

Where it sends requests comes from settings (``openai_base_url``, ``openai_api_key`` and the limits
below), handed to this module by the ``Runtime`` (``configure``); what changes the vectors is in the
encoder name, so it stays with the profile: ``openai:<model>?max_tokens=N&dimensions=D&query=…&
passage=…&tokenizer=<HF tokenizer id or folder>`` (see ``indexflow.encoders.options``).

- **Batches** hold at most ``max_inputs_per_request`` texts and ``max_tokens_per_request`` tokens,
  counted with the ``tokenizer=`` option's tokenizer or the conservative estimate
  (``indexflow.encoders.estimate``).
- **Rate limits and outages** (HTTP 429, 408, 5xx, timeouts, refused connections) are retried
  ``max_retries`` times, waiting what ``Retry-After`` says (else 1, 2, 4… s), at most
  ``max_retry_wait_seconds`` per wait; then ``EncoderUnavailable`` (a ``TransientError``): the work
  unit backs off and runs again, the plan is never failed for a rate limit.
- **A batch the provider rejects as too large** (HTTP 413, or 400 whose message speaks of the
  context length / too many tokens / too large) is halved and each half sent again; a single text
  still rejected is cut to three quarters of its characters until it fits (the encoder port
  truncates, it never fails on length).
- **The dimension** is read from the first response (``dimension`` asks the server once if no
  response came yet), so a profile learns it when it is created.
- Other 4xx answers (a wrong key, an unknown model) are ``EncoderError``: the plan fails and says why.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the runtime configures this module at start: no numpy for that
    import numpy as np

from indexflow.encoders.estimate import ESTIMATE_TOKENIZER, EstimateTokenizer
from indexflow.encoders.options import PREFIX_OPTIONS, int_option, split_options
from indexflow.errors import ConfigurationError, EncoderError, EncoderUnavailable

OPTIONS = (*PREFIX_OPTIONS, "max_tokens", "dimensions", "tokenizer")
# Input limits of OpenAI's own embedding models; any other model takes config.default_max_tokens.
KNOWN_MAX_TOKENS = {
    "text-embedding-3-small": 8191,
    "text-embedding-3-large": 8191,
    "text-embedding-ada-002": 8191,
}
_TOO_LARGE = re.compile(
    r"context.length|too (large|long|many)|maximum.{0,40}(token|length|input|size)|exceed|payload",
    re.IGNORECASE,
)
_RETRIED_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass(frozen=True, slots=True)
class OpenAIConfig:
    """Where and how ``openai:`` encoders send requests (from ``Settings``, see ``configure``)."""

    base_url: str = "https://api.openai.com/v1"
    api_key: str | None = None
    timeout_seconds: float = 60.0
    max_inputs_per_request: int = 256
    max_tokens_per_request: int = 100_000
    max_retries: int = 4
    max_retry_wait_seconds: float = 60.0
    default_max_tokens: int = 512


_config = OpenAIConfig()
_config_lock = threading.Lock()


def configure(config: OpenAIConfig) -> None:
    """Make ``config`` the one new ``openai:`` encoders use; cached ones built with another are dropped."""
    global _config
    with _config_lock:
        if config == _config:
            return
        _config = config
    from indexflow.encoders.registry import registry

    registry.forget("openai")


def current_config() -> OpenAIConfig:
    return _config


class _TooLarge(Exception):
    """The provider refused a request as too large (internal: the batch is split)."""


class OpenAIEncoder:
    """Embeds texts through an OpenAI-compatible ``POST {base_url}/embeddings``."""

    def __init__(
        self,
        model: str,
        *,
        config: OpenAIConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Prepare the client (nothing is sent until the first ``encode`` or ``dimension``).

        Args:
            model: the provider's model name, optionally with ``?options`` (module docstring).
            config: endpoint, key and limits; None takes what ``configure`` set last.
            sleep: how to wait between retries (tests pass a recorder).

        Raises:
            ConfigurationError: unknown option, or a limit below 1.
        """
        import httpx

        self.model, options = split_options(model, OPTIONS)
        self.config = config or _config
        if self.config.max_inputs_per_request < 1 or self.config.max_tokens_per_request < 1:
            raise ConfigurationError("openai max_inputs_per_request and max_tokens_per_request must be >= 1")
        self.name = f"openai:{model}"
        self.query_prefix = options.get("query", "")
        self.passage_prefix = options.get("passage", "")
        self._dimensions = int_option(options, "dimensions")
        limit = int_option(options, "max_tokens")
        self.max_tokens = limit or KNOWN_MAX_TOKENS.get(self.model, self.config.default_max_tokens)
        # What a profile created with this encoder chunks with (manage/profiles.py create()).
        self.tokenizer_name = options.get("tokenizer") or ESTIMATE_TOKENIZER
        self._counter: Any = EstimateTokenizer()
        if options.get("tokenizer"):
            from indexflow.encoders.tokenizer import load_tokenizer

            self._counter = load_tokenizer(options["tokenizer"])
        self._dimension: int | None = None
        self._sleep = sleep
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        self._url = self.config.base_url.rstrip("/") + "/embeddings"
        self._client = httpx.Client(headers=headers, timeout=self.config.timeout_seconds)
        self._httpx = httpx

    def __repr__(self) -> str:
        return f"OpenAIEncoder({self.model!r}, base_url={self.config.base_url!r})"

    @property
    def dimension(self) -> int:
        """The vectors' length: from the first response (one small request if none came yet)."""
        if self._dimension is None:
            self._embed(["dimension"])
        assert self._dimension is not None
        return self._dimension

    @dimension.setter
    def dimension(self, value: int) -> None:
        self._dimension = value

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed indexed passages (with the ``passage`` prefix); see ``Encoder.encode``."""
        return self._encode(texts, self.passage_prefix)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prefix)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed indexed passages (with the ``passage`` prefix)."""
        return self._encode(texts, self.passage_prefix)

    def close(self) -> None:
        self._client.close()

    # -- batching ---------------------------------------------------------------------------

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        import numpy as np

        if isinstance(texts, str | bytes) or not isinstance(texts, Sequence):
            raise EncoderError(f"encode() takes a sequence of strings, not {type(texts).__name__}")
        items = list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise EncoderError(f"texts[{i}] is {type(text).__name__}, not str")
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        # Providers reject empty inputs; a lone space embeds as "nothing" everywhere.
        items = [prefix + text if (prefix + text).strip() else " " for text in items]
        parts = [self._embed(batch) for batch in self._batches(items)]
        return np.vstack(parts).astype(np.float32, copy=False)

    def _batches(self, items: list[str]) -> list[list[str]]:
        counts = [len(enc) for enc in self._counter.encode_batch(items, add_special_tokens=False)]
        cfg = self.config
        batches: list[list[str]] = []
        current: list[str] = []
        tokens = 0
        for text, n in zip(items, counts, strict=True):
            n = min(n, self.max_tokens)  # the provider reads at most this much of one input
            if current and (
                len(current) >= cfg.max_inputs_per_request or tokens + n > cfg.max_tokens_per_request
            ):
                batches.append(current)
                current, tokens = [], 0
            current.append(text)
            tokens += n
        if current:
            batches.append(current)
        return batches

    def _embed(self, texts: list[str]) -> np.ndarray:
        """One request; halves a batch the provider finds too large, shortens a single text."""
        import numpy as np

        try:
            return self._post(texts)
        except _TooLarge as exc:
            if len(texts) > 1:
                mid = len(texts) // 2
                return np.vstack([self._embed(texts[:mid]), self._embed(texts[mid:])])
            text = texts[0]
            if len(text) <= 1:
                raise EncoderError(
                    f"{self.name}: the provider refuses even a 1-character input: {exc}"
                ) from None
            return self._embed([text[: max(1, len(text) * 3 // 4)]])

    # -- HTTP -------------------------------------------------------------------------------

    def _post(self, texts: list[str]) -> np.ndarray:
        httpx = self._httpx
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self._dimensions is not None:
            body["dimensions"] = self._dimensions
        cfg = self.config
        attempt = 0
        while True:
            wait: float | None
            try:
                response = self._client.post(self._url, json=body)
            except httpx.TimeoutException as exc:
                problem, wait = f"timed out after {cfg.timeout_seconds} s ({type(exc).__name__})", None
            except httpx.TransportError as exc:
                problem, wait = f"unreachable: {exc}", None
            else:
                status = response.status_code
                if status == 200:
                    return self._vectors(response, len(texts))
                detail = _detail(response)
                if status == 413 or (status == 400 and _TOO_LARGE.search(detail)):
                    raise _TooLarge(f"HTTP {status}: {detail}")
                if status not in _RETRIED_STATUS:
                    raise EncoderError(f"{self.name}: {self._url} answered HTTP {status}: {detail}")
                problem, wait = f"HTTP {status}: {detail}", retry_after(response.headers.get("retry-after"))
            attempt += 1
            delay = wait if wait is not None else min(cfg.max_retry_wait_seconds, 2.0 ** (attempt - 1))
            if attempt > cfg.max_retries or delay > cfg.max_retry_wait_seconds:
                raise EncoderUnavailable(f"{self.name}: {self._url} {problem} (after {attempt} attempts)")
            self._sleep(max(0.0, delay))

    def _vectors(self, response: Any, n: int) -> np.ndarray:
        import numpy as np

        try:
            data = response.json()["data"]
            rows = sorted(data, key=lambda item: int(item.get("index", 0)))
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EncoderError(f"{self.name}: unreadable embeddings response: {exc}") from exc
        if vectors.ndim != 2 or vectors.shape[0] != n or vectors.shape[1] == 0:
            raise EncoderError(
                f"{self.name}: asked for {n} embeddings, got an array of shape {vectors.shape}"
            )
        if self._dimension is None:
            self._dimension = int(vectors.shape[1])
        elif vectors.shape[1] != self._dimension:
            raise EncoderError(
                f"{self.name}: returned {vectors.shape[1]}-d vectors, earlier {self._dimension}-d"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise EncoderError(f"{self.name}: the provider returned a zero or non-finite vector")
        result: np.ndarray = vectors / norms
        return result


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None if absent."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _detail(response: Any) -> str:
    try:
        payload = response.json()
        error = payload.get("error", payload) if isinstance(payload, dict) else payload
        message = error.get("message", error) if isinstance(error, dict) else error
        text = str(message)
    except ValueError:
        text = response.text
    return " ".join(text.split())[:300]
