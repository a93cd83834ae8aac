"""Hugging Face transformer encoder: local weights, length-bucketed batches, bf16 on capable CPUs."""

from __future__ import annotations

import inspect
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexflow.encoders.folders import folder_pooling, folder_prompts
from indexflow.encoders.models import DEFAULT_MODEL, model_max_tokens, read_json, resolve_model_dir
from indexflow.errors import ConfigurationError, EncoderError
from indexflow.observability import metrics

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Padded tokens per forward pass: 64 rows of 256 tokens. Bounds activation memory when a model
# allows longer inputs, and measured no slower than bigger passes on CPU.
DEFAULT_BATCH_TOKENS = 64 * 256
# Passes are padded to a multiple of 16 tokens: AMX tiles and the oneDNN / OpenVINO kernels run
# such widths best (OpenVINO bf16 on a Xeon with AMX, one document per call: 15.2k -> 18.5k
# tokens/s), for a few more padded tokens per row.
WIDTH_MULTIPLE = 16
# A row shorter than this share of its pass's longest row starts a new pass (see _batches);
# with the multiple above: 21.2k tokens/s, padding 30% -> 11%.
SPLIT_BELOW = 0.5
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
_threads: int | None = None


def set_encoder_threads(threads: int | None) -> None:
    """Set the threads every encoder built afterwards in this process uses (None: the default).

    Worker processes sharing one machine split its cores this way; torch is told at once only
    when it is already imported, so a process whose runtime needs no torch never loads it.
    """
    global _threads
    _threads = threads
    if threads is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def encoder_threads() -> int:
    """Threads for one forward pass: ``set_encoder_threads``'s value (the ``encoder_threads``
    setting), else the CPUs this process may run on."""
    if _threads is not None:
        return _threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_has_fast_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Tell whether the CPU runs bf16 matmuls natively (AMX or AVX512-BF16).

    Returns:
        True when /proc/cpuinfo lists ``amx_bf16`` or ``avx512_bf16``; False elsewhere (or unreadable).
    """
    try:
        flags = set(cpuinfo.read_text(errors="ignore").split())
    except OSError:
        return False
    return any(flag in flags for flag in _BF16_CPU_FLAGS)


def resolve_precision(precision: str, device: str) -> str:
    """Map ``auto`` to the fastest precision that keeps fidelity on ``device``.

    Returns:
        ``fp16`` on CUDA, ``bf16`` on CPUs with native bf16, else ``fp32``; explicit values pass through.

    Raises:
        ConfigurationError: unknown precision, or fp16/bf16 where the device cannot run it.
    """
    if precision not in PRECISIONS:
        raise ConfigurationError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision == "auto":
        if device.startswith("cuda"):
            return "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return precision


class TransformerEncoder:
    """What every runtime of a local transformers model shares, without torch: the folder's
    tokenizer, pooling mode, prefixes and limits, length-bucketed batches within a token budget,
    and the padding tally. A runtime (``HFEncoder`` on torch, ``OpenVINOEncoder``) implements
    ``_forward``: one padded batch in, its L2-normalised pooled rows out.
    """

    name: str
    device: str
    precision: str
    dimension: int
    max_tokens: int

    def _setup(
        self,
        model_dir: Path,
        model: str,
        *,
        batch_size: int,
        max_tokens: int | None,
        max_batch_tokens: int,
        query_prefix: str | None,
        passage_prefix: str | None,
    ) -> None:
        """Read the folder's tokenizer and sentence-transformers settings (no weights).

        The model's positions, row width and padding token come from its ``config.json``
        (``max_position_embeddings``, ``hidden_size``, ``pad_token_id``).

        Raises:
            ConfigurationError: an invalid setting, or a folder HFEncoder cannot reproduce.
        """
        from tokenizers import Tokenizer

        if batch_size < 1 or max_batch_tokens < 1:
            raise ConfigurationError("batch_size and max_batch_tokens must be positive")
        config = read_json(model_dir / "config.json")
        limit = int(config.get("max_position_embeddings") or 512)
        dimension = int(config.get("hidden_size") or 0)
        pad_id = config.get("pad_token_id")
        self.name = model
        sbert = read_json(model_dir / "sentence_bert_config.json")
        self.pooling = folder_pooling(model_dir, model)
        folder_query, folder_passage = folder_prompts(model_dir)
        self.query_prefix = folder_query if query_prefix is None else query_prefix
        self.passage_prefix = folder_passage if passage_prefix is None else passage_prefix
        self._lowercase = bool(sbert.get("do_lower_case", False))
        try:
            self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises its own Exception subclasses
            raise ConfigurationError(
                f"cannot load the tokenizer of {model!r} from {model_dir}: {exc}"
            ) from exc
        # The same limit the tokenizer side uses to size chunks (special tokens included).
        self.max_tokens = int(model_max_tokens(model) if max_tokens is None else max_tokens)
        if not 2 < self.max_tokens <= limit:
            raise ConfigurationError(f"max_tokens must be in 3..{limit}, not {self.max_tokens}")
        self._positions = limit
        self.dimension = int(dimension)
        self.batch_size = batch_size
        self._batch_tokens = max_batch_tokens
        # tokens run so far: the texts' own and the padding their batches added (padding_ratio)
        self.tokens_real = 0
        self.tokens_padding = 0
        self._tally_lock = threading.Lock()
        # The shipped tokenizer.json pins truncation and padding at 128 (as load_tokenizer notes);
        # we pad per batch ourselves and truncate at the model's own limit.
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._tokenizer.enable_truncation(self.max_tokens)
        # Prefixes take room in the model's window: advertise what is left for the text itself,
        # so that chunks sized from max_tokens still fit whole after their prefix.
        reserve = max(
            len(self._tokenizer.encode(prefix, add_special_tokens=False).ids) if prefix else 0
            for prefix in (self.query_prefix, self.passage_prefix)
        )
        if reserve and self.max_tokens - reserve <= 2:
            raise ConfigurationError(
                f"the prefixes of {model!r} take {reserve} of its {self.max_tokens} tokens"
            )
        self.max_tokens -= reserve
        self._pad_id = int(pad_id or 0)
        self._type_ids = True
        # One forward at a time: a single pass already spreads over every core, so concurrent
        # passes from worker threads would only fight for them and multiply peak memory.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed indexed passages ``texts`` in order, each after the ``passage_prefix`` (queries:
        ``encode_queries``).

        Args:
            texts: strings; over-long ones are truncated to ``max_tokens``.

        Returns:
            float32 array ``(len(texts), dimension)`` with L2-normalised rows.

        Raises:
            EncoderError: ``texts`` is not a sequence of strings, or the forward pass failed.
        """
        return self._encode(texts, self.passage_prefix)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries, each after the ``query_prefix``."""
        return self._encode(texts, self.query_prefix)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """The same as ``encode``: indexed passages, each after the ``passage_prefix``."""
        return self._encode(texts, self.passage_prefix)

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model reads to embed ``texts`` as passages (prefix and special tokens
        included, after truncation): the measure of throughput benchmarks."""
        items = [self.passage_prefix + text for text in texts]
        if self._lowercase:
            items = [text.lower() for text in items]
        return sum(len(encoding.ids) for encoding in self._tokenizer.encode_batch(items))

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if isinstance(texts, str | bytes) or not isinstance(texts, Sequence):
            raise EncoderError(f"encode() takes a sequence of strings, not {type(texts).__name__}")
        items = list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise EncoderError(f"texts[{i}] is {type(text).__name__}, not str")
        out = np.empty((len(items), self.dimension), dtype=np.float32)
        if not items:
            return out
        if prefix:
            items = [prefix + text for text in items]
        if self._lowercase:
            items = [text.lower() for text in items]
        try:
            encodings = self._tokenizer.encode_batch(items)
        except Exception as exc:  # tokenizers raises TypeError/Exception, e.g. on lone surrogates
            raise EncoderError(f"{self.name}: cannot tokenize input: {exc}") from exc
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        # Longest first: little padding per batch, and a memory failure shows on the first pass.
        order = np.argsort(-lengths, kind="stable")
        real = padded = 0
        for batch in self._batches(order, lengths):
            width = self._width(int(lengths[batch[0]]))
            out[batch] = self._forward([encodings[i] for i in batch], width)
            real += int(lengths[batch].sum())
            padded += width * len(batch)
        with self._tally_lock:
            self.tokens_real += real
            self.tokens_padding += padded - real
        metrics.encoder_tokens(self.name, real, padded - real)
        return out

    @property
    def padding_ratio(self) -> float:
        """Padding tokens per real token over every ``encode`` so far (0 before any)."""
        return self.tokens_padding / self.tokens_real if self.tokens_real else 0.0

    def _batches(self, order: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """Rows (longest first) cut into forward passes: at most ``batch_size`` rows and
        ``max_batch_tokens`` padded tokens each, and a new pass where a row is under
        ``SPLIT_BELOW`` of the pass's longest (one embed message is one document's chunks: a
        few full-length ones and a short last one per section, which would otherwise be padded
        to the full length: 30% padding on the Rust book, 11% with the split)."""
        batches, start = [], 0
        while start < len(order):
            longest = int(lengths[order[start]])
            rows = max(1, min(self.batch_size, self._batch_tokens // longest))
            end = start + 1
            while end < len(order) and end - start < rows and lengths[order[end]] >= longest * SPLIT_BELOW:
                end += 1
            batches.append(order[start:end])
            start = end
        return batches

    def _width(self, longest: int) -> int:
        """The padded width of a pass whose longest row has ``longest`` tokens: rounded up to
        ``WIDTH_MULTIPLE`` (within the model's positions)."""
        return min(-(-longest // WIDTH_MULTIPLE) * WIDTH_MULTIPLE, max(longest, self._positions))

    def _pad(self, encodings: list[Any], width: int) -> dict[str, np.ndarray]:
        """The model's int64 inputs for one batch, right-padded to ``width`` tokens."""
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask}
        if self._type_ids:
            arrays["token_type_ids"] = types
        return arrays

    def _forward(self, encodings: list[Any], width: int) -> np.ndarray:
        """One batch of encodings (longest first, ``width`` tokens): its pooled, L2-normalised rows."""
        raise NotImplementedError

    def _pool_numpy(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``_pool`` and L2 normalisation in numpy fp32 (runtimes without torch tensors)."""
        hidden = np.asarray(hidden, dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "lasttoken":  # rows are right-padded: the last token is at len - 1
            last = np.clip(mask.sum(axis=1) - 1, 0, None)
            pooled = hidden[np.arange(hidden.shape[0]), last]
        elif self.pooling == "max":
            pooled = np.where(weights == 0, np.float32(-1e9), hidden).max(axis=1)
        else:
            summed = (hidden * weights).sum(axis=1)
            counts = np.clip(weights.sum(axis=1), 1e-9, None)
            pooled = summed / (np.sqrt(counts) if self.pooling == "mean_sqrt_len_tokens" else counts)
        # torch.nn.functional.normalize: x / max(||x||, 1e-12)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        out: np.ndarray = (pooled / norms).astype(np.float32, copy=False)
        return out


class HFEncoder(TransformerEncoder):
    """Encoder backed by a local transformers model: the folder's pooling (mean, CLS, max,
    mean/sqrt(len), last token), L2 normalisation, and query / passage prefixes.

    Rows are always L2-normalised (the ``Encoder`` contract), whether or not the folder lists a
    ``Normalize`` module: for the cosine distance profiles use, that changes nothing.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | None = None,
        precision: str = "auto",
        batch_size: int = 64,
        max_tokens: int | None = None,
        threads: int | None = None,
        max_batch_tokens: int = DEFAULT_BATCH_TOKENS,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
    ) -> None:
        """Load tokenizer and weights once.

        Args:
            model: packaged model id or local folder (sentence-transformers layout or plain HF).
            device: ``cpu``, ``cuda``, ``cuda:N``; None picks CUDA when available.
            precision: ``auto`` | ``fp32`` | ``bf16`` | ``fp16`` (autocast; pooling stays fp32).
            batch_size: most rows per forward pass.
            max_tokens: truncation length incl. special tokens; None uses the model's own limit
                (``indexflow.encoders.models.model_max_tokens``: 256 for all-MiniLM-L6-v2).
            threads: torch intra-op threads (process-wide); None keeps torch's default (all cores).
            max_batch_tokens: most padded tokens per forward pass; on CUDA the default grows to
                ``batch_size`` rows of 256 tokens (GPUs want big batches; CPUs gain nothing).
            query_prefix: prepended to search queries (``encode``); None takes the folder's
                ``prompts["query"]`` (``config_sentence_transformers.json``), else none.
            passage_prefix: prepended to indexed passages (``encode``); None takes the
                folder's ``prompts["passage"]`` or ``prompts["document"]``, else none.

        Raises:
            ConfigurationError: the model cannot be found or loaded, or an argument is invalid.
        """
        # Before importing torch (seconds): a wrong model name fails at once.
        model_dir = resolve_model_dir(model)

        import torch
        from transformers import AutoModel

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.precision = resolve_precision(precision, self.device)
        if self.precision == "fp16" and not self.device.startswith("cuda"):
            # fp16 on CPU is emulated and loses range; bf16 is the CPU half type.
            raise ConfigurationError("precision 'fp16' needs a CUDA device; use 'bf16' on CPU")
        if self.device.startswith("cuda") and max_batch_tokens == DEFAULT_BATCH_TOKENS:
            # A GPU runs big batches best: the token budget grows with the rows asked for.
            max_batch_tokens = max(DEFAULT_BATCH_TOKENS, batch_size * 256)
        if threads is None:
            threads = _threads
        if threads is not None:
            torch.set_num_threads(threads)
        self._setup(
            model_dir,
            model,
            batch_size=batch_size,
            max_tokens=max_tokens,
            max_batch_tokens=max_batch_tokens,
            query_prefix=query_prefix,
            passage_prefix=passage_prefix,
        )
        try:
            # A library, not a notebook: no "Loading weights" progress bar on every worker start.
            from transformers.utils import logging as hf_logging

            disable_progress_bar: Callable[[], None] = hf_logging.disable_progress_bar
            disable_progress_bar()
            self._model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
            self._model.eval().to(self.device)
        except Exception as exc:  # transformers and safetensors each raise their own types
            raise ConfigurationError(f"cannot load model {model!r} from {model_dir}: {exc}") from exc
        self.dimension = int(self._model.config.hidden_size)
        self._type_ids = "token_type_ids" in inspect.signature(self._model.forward).parameters
        self._torch = torch
        self._autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def __repr__(self) -> str:
        return f"HFEncoder({self.name!r}, device={self.device!r}, precision={self.precision!r})"

    def _forward(self, encodings: list[Any], width: int) -> np.ndarray:
        torch = self._torch
        arrays = self._pad(encodings, width)
        try:
            with self._lock, torch.inference_mode():
                hidden = self._hidden(arrays)
                mask = torch.from_numpy(arrays["attention_mask"]).to(hidden.device)
                # Pool and normalise in fp32 so half precision only touches the transformer body.
                pooled = self._pool(hidden.float(), mask)
                vectors = torch.nn.functional.normalize(pooled, p=2, dim=1)
                result: np.ndarray = vectors.cpu().numpy()
                return result
        except RuntimeError as exc:
            raise EncoderError(f"{self.name}: forward pass failed: {exc}") from exc

    def _hidden(self, arrays: dict[str, np.ndarray]) -> Any:
        """The transformer body: last hidden states ``(rows, width, dimension)`` as a torch tensor.

        The one step another runtime replaces (``indexflow.encoders.openvino``); tokenizing,
        batching, pooling and normalising stay here, so every runtime's rows match in shape and
        normalisation. Called under ``self._lock`` and ``torch.inference_mode()``.
        """
        torch = self._torch
        inputs = {key: torch.from_numpy(value).to(self.device) for key, value in arrays.items()}
        dtype = self._autocast_dtype
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return self._model(**inputs).last_hidden_state

    def _pool(self, hidden: Any, mask: Any) -> Any:
        """One vector per row from the token states, as sentence-transformers' Pooling does."""
        torch = self._torch
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "lasttoken":  # rows are right-padded: the last token is at len - 1
            last = (mask.sum(dim=1) - 1).clamp(min=0)
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        if self.pooling == "max":
            return hidden.masked_fill(weights == 0, -1e9).max(dim=1).values
        summed = (hidden * weights).sum(dim=1)
        counts = weights.sum(dim=1).clamp(min=1e-9)
        if self.pooling == "mean_sqrt_len_tokens":
            return summed / counts.sqrt()
        return summed / counts
