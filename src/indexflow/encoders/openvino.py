"""OpenVINO runtime for Hugging Face models: the transformer body converted once, cached as IR.

``OpenVINOEncoder`` shares ``HFEncoder``'s tokenizer, length-bucketed batches and padding
(``TransformerEncoder``) and pools and normalises the same way (in numpy), while its forward pass
runs on OpenVINO's CPU plugin: its rows match torch's in shape and normalisation and differ only
by kernel rounding. Once the IR is cached, building and running it imports neither torch nor
transformers (a second off start-up, and ~400 MB less resident memory).

The torch model is converted with ``openvino.convert_model`` on first use and saved as IR
(``model.xml``/``model.bin``, fp32 weights) under ``<cache_dir>/openvino/<key>/``, the key being
the model folder, a hash of its weights and config, and the openvino, torch and transformers
versions. Precision is not part of the key: one fp32 IR serves every precision, which is chosen
when the IR is compiled (``INFERENCE_PRECISION_HINT`` bf16 or f32).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from indexflow.encoders.hf import DEFAULT_BATCH_TOKENS, TransformerEncoder, encoder_threads, resolve_precision
from indexflow.encoders.models import DEFAULT_MODEL, resolve_model_dir
from indexflow.errors import ConfigurationError, EncoderError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'indexflow[openvino]'"
# The CPU plugin's names for the precisions HFEncoder knows (fp16 on CPU is refused, as for torch).
_PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_IR_NAME = "model.xml"


def import_openvino() -> Any:
    """The ``openvino`` module.

    Raises:
        ConfigurationError: openvino is not installed (names the extra that installs it).
    """
    try:
        import openvino
    except ImportError as exc:
        raise ConfigurationError(
            f"the openvino encoder backend needs the openvino package: {INSTALL_HINT}"
        ) from exc
    return openvino


def openvino_available() -> bool:
    """Whether ``openvino`` can be imported here."""
    try:
        import_openvino()
    except ConfigurationError:
        return False
    return True


@lru_cache(maxsize=32)
def _folder_digest(folder: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _size, _mtime in stamp:
        digest.update(name.encode())
        with open(os.path.join(folder, name), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def weights_digest(model_dir: Path) -> str:
    """sha256 of a model folder's weights and ``config.json`` (hashed once per process per file state)."""
    names = sorted(
        path.name
        for path in model_dir.iterdir()
        if path.is_file() and (path.suffix in _WEIGHT_SUFFIXES or path.name == "config.json")
    )
    stamp = tuple((name, (st := (model_dir / name).stat()).st_size, st.st_mtime_ns) for name in names)
    return _folder_digest(str(model_dir), stamp)


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on file ``path`` (created) against other processes: several
    workers starting at once on one machine convert or measure once, not each. No-op where
    ``fcntl`` is missing (Windows): there the work is only done more than once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ir_key(model_dir: Path) -> dict[str, str]:
    """What the cached IR of ``model_dir`` depends on: a new value of any of them converts anew.

    Package versions are read from their metadata, so computing the key imports no torch."""
    openvino = import_openvino()
    return {
        "model_dir": str(model_dir),
        "weights_sha256": weights_digest(model_dir),
        "openvino": str(openvino.get_version()),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
    }


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def ir_folder(cache_dir: Path, model_dir: Path, model: str) -> Path:
    """The folder holding the IR of ``model_dir`` (named ``model``) under ``cache_dir``."""
    key = ir_key(model_dir)
    tag = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")[-60:] or "model"
    return cache_dir / "openvino" / f"{readable}-{tag}"


class OpenVINOEncoder(TransformerEncoder):
    """``HFEncoder`` with the transformer body compiled by OpenVINO for the CPU.

    Thread-safe like ``HFEncoder``: one inference at a time under the inherited lock (a single
    request already spreads over the threads it is given).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str | None = "cpu",
        precision: str = "auto",
        batch_size: int = 64,
        max_tokens: int | None = None,
        threads: int | None = None,
        max_batch_tokens: int = DEFAULT_BATCH_TOKENS,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        cache_dir: Path | None = None,
        performance_hint: str = "LATENCY",
    ) -> None:
        """Load the tokenizer, convert (or reuse) the IR, compile it.

        Args:
            model, precision, batch_size, max_tokens, threads, max_batch_tokens, query_prefix,
                passage_prefix: as for ``HFEncoder``; precision ``auto`` is bf16 on CPUs with
                native bf16, else fp32; ``threads`` also sets OpenVINO's inference threads
                (None: as many as torch uses).
            device: ``cpu`` or None; OpenVINO runs here on the CPU only.
            cache_dir: the indexflow cache folder; the IR goes under ``<cache_dir>/openvino``.
                None: ``.indexflow/cache`` (the default home's).
            performance_hint: ``LATENCY`` (one stream using every thread: right for one batch at
                a time) or ``THROUGHPUT``.

        Raises:
            ConfigurationError: openvino is missing, a device other than the CPU, fp16, or
                the model cannot be loaded, converted or compiled.
        """
        if device not in (None, "cpu"):
            raise ConfigurationError(f"the openvino encoder backend runs on the CPU, not {device!r}")
        if performance_hint not in PERFORMANCE_HINTS:
            raise ConfigurationError(
                f"performance_hint must be one of {PERFORMANCE_HINTS}, not {performance_hint!r}"
            )
        openvino = import_openvino()  # before anything else: a missing package fails fast
        model_dir = resolve_model_dir(model)
        self.device = "cpu"
        self.precision = resolve_precision(precision, "cpu")
        if self.precision not in _PRECISION_HINTS:
            raise ConfigurationError(
                f"the openvino encoder backend runs fp32 or bf16, not {self.precision!r}"
            )
        self._setup(
            model_dir,
            model,
            batch_size=batch_size,
            max_tokens=max_tokens,
            max_batch_tokens=max_batch_tokens,
            query_prefix=query_prefix,
            passage_prefix=passage_prefix,
        )
        self.performance_hint = performance_hint
        self.threads = encoder_threads() if threads is None else threads
        cache_dir = Path(".indexflow") / "cache" if cache_dir is None else cache_dir
        self.ir_dir = ir_folder(cache_dir, model_dir, model)
        self.converted = False
        ir_path = self.ir_dir / _IR_NAME
        try:
            if not ir_path.exists():
                with exclusive(self.ir_dir.with_name(self.ir_dir.name + ".lock")):
                    if not ir_path.exists():  # converted by another process meanwhile
                        self._convert(openvino, model_dir)
            core = openvino.Core()
            compiled = core.compile_model(
                str(ir_path),
                "CPU",
                {
                    "INFERENCE_PRECISION_HINT": _PRECISION_HINTS[self.precision],
                    "PERFORMANCE_HINT": performance_hint,
                    "INFERENCE_NUM_THREADS": self.threads,
                },
            )
        except ConfigurationError:
            raise
        except Exception as exc:  # openvino raises RuntimeError (and its own types) for every failure
            raise ConfigurationError(f"openvino cannot compile model {model!r} ({ir_path}): {exc}") from exc
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._inputs = {port.get_any_name() for port in compiled.inputs}
        self._type_ids = "token_type_ids" in self._inputs
        dims = compiled.outputs[0].get_partial_shape()
        if dims.rank.is_static and dims[2].is_static:
            self.dimension = int(dims[2].get_length())

    def __repr__(self) -> str:
        return f"OpenVINOEncoder({self.name!r}, precision={self.precision!r}, threads={self.threads})"

    def _convert(self, openvino: Any, model_dir: Path) -> None:
        """Trace the torch body into IR with dynamic batch and sequence dims; publish it atomically."""
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        disable_progress_bar: Callable[[], None] = hf_logging.disable_progress_bar
        disable_progress_bar()
        try:
            model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
        except Exception as exc:  # transformers and safetensors each raise their own types
            raise ConfigurationError(f"cannot load model {self.name!r} from {model_dir}: {exc}") from exc
        body = _last_hidden_state(model).eval()
        self._type_ids = "token_type_ids" in inspect.signature(model.forward).parameters
        encodings = self._tokenizer.encode_batch(["an example input", "another"])
        example = self._pad(encodings, max(len(enc.ids) for enc in encodings))
        inputs = [(name, [-1, -1], openvino.Type.i64) for name in example]
        # Tracing warns about every data-dependent branch it freezes (shape checks in the
        # attention mask code); the input dims are declared dynamic below, so none applies.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = openvino.convert_model(
                body,
                example_input={name: torch.from_numpy(value) for name, value in example.items()},
                input=inputs,
            )
        self.ir_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.ir_dir.name}-", dir=self.ir_dir.parent))
        try:
            # fp32 weights in the IR: the default (compress_to_fp16) would round them for every precision.
            openvino.save_model(converted, str(staging / _IR_NAME), compress_to_fp16=False)
            (staging / "key.json").write_text(json.dumps(ir_key(model_dir), indent=2, sort_keys=True))
            try:
                os.replace(staging, self.ir_dir)
            except OSError:
                # Another process published the same IR first: keep theirs.
                if not (self.ir_dir / _IR_NAME).exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.converted = True
        log.info("converted %s to OpenVINO IR in %s", self.name, self.ir_dir)

    def _forward(self, encodings: list[Any], width: int) -> np.ndarray:
        arrays = self._pad(encodings, width)
        with self._lock:
            try:
                result = self._request.infer(
                    {name: value for name, value in arrays.items() if name in self._inputs},
                    share_inputs=True,
                    share_outputs=True,
                )
            except Exception as exc:  # openvino's errors are RuntimeError or its own types
                raise EncoderError(f"{self.name}: openvino inference failed: {exc}") from exc
            # Shared with the request's output buffer: pooled (copied) before the next
            # inference, which the lock guarantees.
            return self._pool_numpy(np.asarray(result[0]), arrays["attention_mask"])


def _last_hidden_state(model: Any) -> Any:
    import torch

    class LastHiddenState(torch.nn.Module):
        """The transformer body alone: last hidden states, no pooler head."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any | None = None) -> Any:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    return LastHiddenState(model)
