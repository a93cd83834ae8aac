"""Which runtime runs a Hugging Face model: torch, OpenVINO, or ``auto`` (chosen by measurement).

Every runtime is gated by fidelity: its rows must keep a cosine of at least ``FIDELITY_GATE``
with torch fp32's on real text (``check_fidelity``), or it is not used. ``auto`` measures each
available (runtime, precision) once per machine on a fixed sample of real text — the Python
standard library's source, cut into chunks of varied length — for throughput and fidelity, in a
child process (``python -m indexflow.encoders.engines``), picks the fastest faithful one, and
caches that decision as JSON under ``<cache_dir>/engines/`` keyed by the CPU (model name and
flags), the thread count, the model's weights and the package versions.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from indexflow.encoders.base import Encoder
from indexflow.errors import ConfigurationError

log = logging.getLogger(__name__)

ENGINES = ("torch", "openvino", "auto")
FIDELITY_GATE = 0.9999
"""Least cosine, text by text, a runtime's rows keep with torch fp32's (sentence-transformers')."""
SAMPLE_SIZE = 256
_ROUNDS = 2
_DECISION_VERSION = 1
_WIDTHS = (8, 24, 250, 64, 120, 40, 180, 16)  # tokens of the sample's chunks, cycled


def default_cache_dir() -> Path:
    """The cache folder of the default home (``.indexflow/cache``); entry points pass their own."""
    return Path(".indexflow") / "cache"


def default_device() -> str:
    """``cuda`` where torch sees a CUDA device, else ``cpu`` — without importing torch (seconds)
    on a machine with no NVIDIA driver, so a cached CPU decision starts no torch at all."""
    nvidia = Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()
    if not nvidia and "torch" not in sys.modules:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


CPU_BATCH_ROWS = 64
CUDA_BATCH_ROWS = 512
"""Rows per forward pass by device: on a GPU, big batches keep it busy (with the token budget
``HFEncoder`` derives from them: 512 rows of 256 tokens); on a CPU, 64 rows are as fast and
bound activation memory."""


def default_batch_size(device: str | None) -> int:
    """Rows per forward pass on ``device`` (None: the one ``default_device`` picks)."""
    return CUDA_BATCH_ROWS if (device or default_device()).startswith("cuda") else CPU_BATCH_ROWS


def check_fidelity(candidate: Encoder, reference: Encoder, texts: Sequence[str]) -> tuple[float, float]:
    """Cosines between ``candidate``'s and ``reference``'s rows for ``texts``.

    Returns:
        ``(min_cos, mean_cos)`` over the texts; a runtime is faithful when ``min_cos`` is at
        least ``FIDELITY_GATE``.
    """
    return cosines(candidate.encode(texts), reference.encode(texts))


def cosines(vectors: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """``(min, mean)`` of the row-wise cosines of two equally shaped arrays."""
    a = np.asarray(vectors, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or not len(a):
        raise ValueError(f"cannot compare rows of shapes {a.shape} and {b.shape}")
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(cos.min()), float(cos.mean())


def sample_texts(model_dir: Path, n: int = SAMPLE_SIZE) -> list[str]:
    """``n`` chunks of real text of varied length (8 to 250 tokens), the same on every machine
    with the same Python: cut from the standard library's source files (prose docstrings and
    code; they ship with every Python and change only with it, so editing indexflow does not
    invalidate the cached decisions) with the tokenizer of the model in ``model_dir``."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    root = Path(os.__file__).resolve().parent
    widths = _WIDTHS
    chunks: list[str] = []
    for path in sorted(root.glob("*.py")):
        text = " ".join(path.read_text(encoding="utf-8", errors="ignore").split())
        offsets = [
            span for span in tokenizer.encode(text, add_special_tokens=False).offsets if span[1] > span[0]
        ]
        start = 0
        while start < len(offsets) and len(chunks) < n:
            width = widths[len(chunks) % len(widths)]
            window = offsets[start : start + width]
            chunks.append(text[window[0][0] : window[-1][1]])
            start += width
        if len(chunks) >= n:
            break
    return chunks


def _sample_id(texts: Sequence[str]) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()


def default_sample_id(model_dir: Path) -> str:
    """What ``sample_texts(model_dir)`` depends on, hashed: the Python (its standard library is
    the text), the sample's size and widths, and the model's ``tokenizer.json`` (which cuts it)."""
    digest = hashlib.sha256(f"{sys.version}|{SAMPLE_SIZE}|{_WIDTHS}".encode())
    digest.update((model_dir / "tokenizer.json").read_bytes())
    return digest.hexdigest()


@dataclass
class Trial:
    """One measured (runtime, precision)."""

    engine: str
    precision: str
    tokens_per_s: float = 0.0
    min_cos: float = 0.0
    mean_cos: float = 0.0
    faithful: bool = False
    error: str = ""


@dataclass
class EngineDecision:
    """What ``auto`` chose and why."""

    engine: str
    precision: str
    reason: str
    trials: list[Trial] = field(default_factory=list)
    key: dict[str, Any] = field(default_factory=dict)
    cached: bool = False

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("cached")
        data["version"] = _DECISION_VERSION
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> EngineDecision:
        data = json.loads(raw)
        if data.pop("version", None) != _DECISION_VERSION:
            raise ValueError("decision of another format")
        data["trials"] = [Trial(**trial) for trial in data.get("trials", [])]
        return cls(**data, cached=True)


def build_hf_encoder(
    model: str,
    *,
    engine: str = "torch",
    device: str | None = None,
    precision: str = "auto",
    batch_size: int = 64,
    query_prefix: str | None = None,
    passage_prefix: str | None = None,
    cache_dir: Path | None = None,
) -> Encoder:
    """An encoder for the Hugging Face model ``model`` run by ``engine``.

    Args:
        engine: ``torch`` (``HFEncoder``), ``openvino`` (``OpenVINOEncoder``), or ``auto``
            (``choose_engine``; the decision is cached per machine).
        cache_dir: the indexflow cache folder (OpenVINO IR, ``auto`` decisions); None:
            ``default_cache_dir()``.

    Raises:
        ConfigurationError: unknown engine; ``openvino`` without the openvino package (the
            message names ``pip install 'indexflow[openvino]'``); an invalid model or setting.
    """
    if engine not in ENGINES:
        raise ConfigurationError(f"encoder backend must be one of {ENGINES}, not {engine!r}")
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    common: dict[str, Any] = {
        "batch_size": batch_size,
        "query_prefix": query_prefix,
        "passage_prefix": passage_prefix,
    }
    if engine == "auto":
        decision = choose_engine(model, device=device, precision=precision, cache_dir=cache_dir)
        engine, precision = decision.engine, decision.precision
    return _build(model, engine, device, precision, cache_dir, **common)


def _build(
    model: str, engine: str, device: str | None, precision: str, cache_dir: Path, **common: Any
) -> Encoder:
    if engine == "openvino":
        from indexflow.encoders.openvino import OpenVINOEncoder

        return OpenVINOEncoder(model, device=device, precision=precision, cache_dir=cache_dir, **common)
    from indexflow.encoders.hf import HFEncoder

    return HFEncoder(model, device=device, precision=precision, **common)


def choose_engine(
    model: str,
    *,
    device: str | None = None,
    precision: str = "auto",
    cache_dir: Path | None = None,
    texts: Sequence[str] | None = None,
    refresh: bool = False,
) -> EngineDecision:
    """The fastest faithful (runtime, precision) for ``model`` on this machine, measured once.

    Candidates: torch, and OpenVINO where importable and the device is the CPU; at ``precision``,
    or for ``auto`` at fp32 and also bf16 where the CPU runs it natively (fp16 on CUDA). Each
    is timed on ``texts`` and gated against torch fp32 with ``check_fidelity``; a candidate
    that fails the gate or raises is skipped with a log line. When none passes, torch fp32.

    Args:
        texts: the sample (default: ``sample_texts``, 256 chunks); part of the cache key.
        refresh: measure again even when a decision is cached.

    Returns:
        The decision; ``cached`` tells whether it was read from ``<cache_dir>/engines``.
    """
    from indexflow.encoders.hf import cpu_has_fast_bf16, encoder_threads, resolve_precision
    from indexflow.encoders.models import resolve_model_dir
    from indexflow.encoders.openvino import exclusive, openvino_available

    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    device = device or default_device()
    if precision == "auto":
        precisions = ["fp32"]
        if device.startswith("cuda"):
            precisions.append("fp16")
        elif cpu_has_fast_bf16():
            precisions.append("bf16")
    else:
        precisions = [resolve_precision(precision, device)]
    engines = ["torch"]
    if device == "cpu":
        if openvino_available():
            engines.append("openvino")
        else:
            log.info(
                "encoder backend auto: openvino not installed, skipped (pip install 'indexflow[openvino]')"
            )
    candidates = [
        (engine, p) for p in precisions for engine in engines if not (engine == "openvino" and p == "fp16")
    ]
    if len(candidates) == 1:
        engine, chosen = candidates[0]
        return EngineDecision(engine, chosen, f"{engine} {chosen} is the only candidate here")

    model_dir = resolve_model_dir(model)
    # The default sample is identified by what determines it, not built: a cached decision is
    # found without tokenizing the standard library on every process start.
    sample_id = _sample_id(texts) if texts is not None else default_sample_id(model_dir)
    key = _decision_key(model_dir, device, precision, sample_id, encoder_threads())
    path = (
        cache_dir
        / "engines"
        / f"{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]}.json"
    )
    if not refresh and (decision := _cached(path)) is not None:
        return decision
    # One measurement per machine: worker processes starting together wait for the first.
    with exclusive(path.with_suffix(".lock")):
        if not refresh and (decision := _cached(path)) is not None:
            return decision
        log.warning(
            "encoder backend auto: measuring %s on %d texts, once for this machine (cached in %s)",
            ", ".join(f"{engine} {chosen}" for engine, chosen in candidates),
            len(texts) if texts is not None else SAMPLE_SIZE,
            path.parent,
        )
        measured = texts is None and _measure_in_child(model, device, candidates, key, path, cache_dir)
        if measured and (decision := _cached(path)) is not None:
            decision.cached = False  # measured just now, by the child
            return decision
        sample = list(texts) if texts is not None else sample_texts(model_dir)
        return _measure(model, device, candidates, sample, key, path, cache_dir)


def _measure_in_child(
    model: str,
    device: str,
    candidates: list[tuple[str, str]],
    key: dict[str, Any],
    path: Path,
    cache_dir: Path,
) -> bool:
    """Measure in a child process (``python -m indexflow.encoders.engines``), which writes the
    decision to ``path``: the candidates' runtimes and weights (torch among them) never load
    into this process, whose memory stays that of the runtime chosen. False when the child
    failed (the caller then measures here)."""
    import subprocess

    from indexflow.encoders.hf import encoder_threads
    from indexflow.heap import applied_threshold_kb

    job = {
        "mmap_threshold_kb": applied_threshold_kb(),
        "model": model,
        "device": device,
        "candidates": candidates,
        "key": key,
        "path": str(path),
        "cache_dir": str(cache_dir),
        "threads": encoder_threads(),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "indexflow.encoders.engines"],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=3600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("encoder backend auto: cannot measure in a child process (%s); measuring here", exc)
        return False
    if done.returncode != 0:
        log.warning(
            "encoder backend auto: the measuring process failed (%s); measuring here: %s",
            done.returncode,
            done.stderr.strip()[-2000:],
        )
        return False
    return True


def _child_main() -> None:
    """``python -m indexflow.encoders.engines``: measure the job read from stdin (JSON)."""
    from indexflow.encoders.hf import set_encoder_threads
    from indexflow.encoders.models import resolve_model_dir
    from indexflow.heap import configure_heap

    job = json.loads(sys.stdin.read())
    configure_heap(int(job.get("mmap_threshold_kb") or 0))  # the parent's heap policy
    set_encoder_threads(int(job["threads"]))
    model, device = str(job["model"]), str(job["device"])
    sample = sample_texts(resolve_model_dir(model))
    candidates = [(str(engine), str(precision)) for engine, precision in job["candidates"]]
    key = dict(job["key"])
    _measure(model, device, candidates, sample, key, Path(job["path"]), Path(job["cache_dir"]))


def _cached(path: Path) -> EngineDecision | None:
    try:
        decision = EngineDecision.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return None
    log.info(
        "encoder backend auto: %s %s (cached in %s: %s)",
        decision.engine,
        decision.precision,
        path,
        decision.reason,
    )
    return decision


def _measure(
    model: str,
    device: str,
    candidates: list[tuple[str, str]],
    sample: list[str],
    key: dict[str, Any],
    path: Path,
    cache_dir: Path,
) -> EngineDecision:
    from indexflow.encoders.hf import HFEncoder

    reference = HFEncoder(model, device=device, precision="fp32")
    expected = reference.encode(sample)
    # Half the sample is timed (the whole of it was run once by the fidelity check, a warm-up).
    timed = sample[: max(1, len(sample) // 2)]
    timed_tokens = reference.count_tokens(timed)
    trials = [Trial(engine, chosen) for engine, chosen in candidates]
    best_seconds = {id(trial): float("inf") for trial in trials}
    # Timed in rounds, best round kept: a noisy neighbour slows every candidate alike. One
    # candidate is alive at a time (built again each round), so the measuring process holds one
    # runtime's weights and activations beside the reference's, not all of them at once.
    for round_ in range(_ROUNDS):
        for trial in trials:
            if trial.error or (round_ and not trial.faithful):
                continue
            candidate: Encoder | None = None
            try:
                candidate = (
                    reference
                    if (trial.engine, trial.precision) == ("torch", "fp32")
                    else _build(model, trial.engine, device, trial.precision, cache_dir)
                )
                if not round_:  # the fidelity gate, which is also the warm-up
                    trial.min_cos, trial.mean_cos = cosines(candidate.encode(sample), expected)
                    trial.faithful = trial.min_cos >= FIDELITY_GATE
                    if not trial.faithful:
                        log.warning(
                            "encoder backend auto: %s %s skipped: min cosine %.6f < %s",
                            trial.engine,
                            trial.precision,
                            trial.min_cos,
                            FIDELITY_GATE,
                        )
                        continue
                else:
                    candidate.encode(timed[:16])  # warm the rebuilt runtime before timing it
                began = time.perf_counter()
                candidate.encode(timed)
                best_seconds[id(trial)] = min(best_seconds[id(trial)], time.perf_counter() - began)
            except Exception as exc:  # noqa: BLE001 - a failing candidate is only removed from the choice
                trial.error, trial.faithful = f"{type(exc).__name__}: {exc}", False
                log.warning(
                    "encoder backend auto: %s %s skipped: %s", trial.engine, trial.precision, trial.error
                )
            finally:
                candidate = None  # the reference lives on; any other runtime is freed here
                gc.collect()
    for trial in trials:
        if trial.faithful:
            trial.tokens_per_s = timed_tokens / best_seconds[id(trial)]
    faithful = [trial for trial in trials if trial.faithful]
    if faithful:
        best = max(faithful, key=lambda trial: trial.tokens_per_s)
        decision = EngineDecision(
            best.engine,
            best.precision,
            f"fastest faithful: {best.tokens_per_s:.0f} tokens/s, min cosine {best.min_cos:.6f} "
            f"on {len(sample)} texts",
            trials,
            key,
        )
    else:
        decision = EngineDecision("torch", "fp32", "no candidate passed the fidelity gate", trials, key)
    _write(path, decision.to_json())
    log.info(
        "encoder backend auto: %s %s (%s); measured %s",
        decision.engine,
        decision.precision,
        decision.reason,
        ", ".join(
            f"{t.engine} {t.precision} {t.tokens_per_s:.0f} tok/s min cos {t.min_cos:.6f}" for t in trials
        ),
    )
    return decision


def _decision_key(
    model_dir: Path, device: str, precision: str, sample_id: str, threads: int
) -> dict[str, Any]:
    from importlib import metadata

    from indexflow.encoders.openvino import weights_digest

    versions = {}
    for package in ("indexflow", "torch", "transformers", "tokenizers", "openvino"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = ""
    return {
        "cpu": _cpu_identity(),
        "device": device,
        "threads": threads,
        "precision": precision,
        "model": str(model_dir),
        "weights_sha256": weights_digest(model_dir),
        "sample_sha256": sample_id,
        "versions": versions,
    }


def _cpu_identity(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The CPU's model name and a hash of its flags (what decides which kernels are fast)."""
    name, flags = "", ""
    try:
        for line in cpuinfo.read_text(errors="ignore").splitlines():
            label, _, value = line.partition(":")
            label = label.strip()
            if label == "model name" and not name:
                name = value.strip()
            elif label in ("flags", "Features") and not flags:
                flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    return {
        "model": name or platform.machine(),
        "flags_sha256": hashlib.sha256(flags.encode()).hexdigest()[:16],
        "cores": str(os.cpu_count()),
    }


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader never sees half a decision)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(f".{os.getpid()}.tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


if __name__ == "__main__":
    _child_main()
