"""Throughput and fidelity of the encoder runtimes (torch precisions, OpenVINO fp32/bf16) against
sentence-transformers fp32, same process, same texts.

Run: ``.venv/bin/python bench/encoder.py [--n 2000] [--tokens 200] [--slice 250] [--configs …]``

Configurations are interleaved slice by slice, so a noisy neighbour on a shared CPU slows every
configuration alike and the ratios stay meaningful even when absolute rates wobble.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# Prose that ships with most Linux images and with Python itself; the first ones found are used.
CORPUS_GLOBS = (
    "/usr/share/common-licenses/*",
    "/usr/share/cmake-*/Help/**/*.rst",
    os.path.join(os.path.dirname(os.__file__), "**", "*.py"),
)


def load_chunks(tokenizer, n: int, tokens: int) -> list[str]:
    """Cut real prose into ``n`` chunks of about ``tokens`` tokens, using tokenizer offsets.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` without truncation.
        n: chunks wanted.
        tokens: tokens per chunk (before special tokens).

    Returns:
        Up to ``n`` chunks of text.
    """
    chunks: list[str] = []
    for pattern in CORPUS_GLOBS:
        for path in sorted(glob.glob(pattern, recursive=True)):
            try:
                text = " ".join(Path(path).read_text(encoding="utf-8", errors="ignore").split())
            except OSError:
                continue
            offsets = tokenizer.encode(text, add_special_tokens=False).offsets
            for start in range(0, len(offsets) - tokens // 2, tokens):
                window = offsets[start : start + tokens]
                chunks.append(text[window[0][0] : window[-1][1]])
                if len(chunks) >= n:
                    return chunks
    return chunks


def build_runners(names: list[str], cache_dir: Path) -> dict[str, Any]:
    """The encoders to compare, by configuration name (``hf-*``: torch; ``openvino-*``: OpenVINO)."""
    from indexflow.encoders.hf import HFEncoder
    from indexflow.encoders.models import DEFAULT_MODEL
    from indexflow.encoders.openvino import OpenVINOEncoder, openvino_available

    runners: dict[str, Any] = {}
    for name in names:
        engine, _, precision = name.partition("-")
        if engine == "hf":
            encoder = HFEncoder(DEFAULT_MODEL, device="cpu", precision=precision)
        elif engine == "openvino":
            if not openvino_available():
                print(f"{name}: skipped, openvino is not installed (pip install 'indexflow[openvino]')")
                continue
            encoder = OpenVINOEncoder(DEFAULT_MODEL, precision=precision, cache_dir=cache_dir)
        else:
            sys.exit(f"unknown configuration {name!r}")
        label = f"{name}({encoder.precision})" if precision == "auto" else name
        runners[label] = encoder
    return runners


def main() -> None:
    """Print tokens/s per configuration, ratios vs sentence-transformers fp32, and cosines vs it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="chunks to encode")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per chunk")
    parser.add_argument("--slice", type=int, default=250, help="chunks per interleaved slice")
    parser.add_argument(
        "--configs",
        default="hf-fp32,hf-bf16,hf-auto,openvino-fp32,openvino-bf16",
        help="comma-separated: hf-<precision> (torch), openvino-<precision>",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(".indexflow") / "cache", help="where the OpenVINO IR is kept"
    )
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from indexflow.encoders.engines import FIDELITY_GATE, cosines
    from indexflow.encoders.hf import cpu_has_fast_bf16
    from indexflow.encoders.models import DEFAULT_MODEL, resolve_model_dir

    model_dir = resolve_model_dir(DEFAULT_MODEL)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    texts = load_chunks(tokenizer, args.n, args.tokens)
    if not texts:
        sys.exit("no prose found for the corpus; see CORPUS_GLOBS")
    # What the model reads: special tokens included, truncated at its 256-token limit.
    tokens = sum(min(256, len(tokenizer.encode(t).ids)) for t in texts)

    st = SentenceTransformer(str(model_dir), device="cpu")
    st_name = "sentence-transformers"
    runners = {st_name: lambda batch: st.encode(batch, normalize_embeddings=True)}
    encoders = build_runners([c.strip() for c in args.configs.split(",") if c.strip()], args.cache_dir)
    for label, encoder in encoders.items():
        runners[label] = encoder.encode

    import torch

    print(
        f"{len(texts)} chunks, {tokens} tokens (mean {tokens / len(texts):.0f}); torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, native bf16: {cpu_has_fast_bf16()}"
    )
    for run in runners.values():  # warm-up: first-call allocations and kernel selection
        run(texts[:64])

    seconds = dict.fromkeys(runners, 0.0)
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in runners}
    for start in range(0, len(texts), args.slice):
        batch = texts[start : start + args.slice]
        for name, run in runners.items():
            began = time.perf_counter()
            vectors[name].append(np.asarray(run(batch), dtype=np.float32))
            seconds[name] += time.perf_counter() - began

    stacked = {name: np.concatenate(parts) for name, parts in vectors.items()}
    print(f"{'config':<24}{'chunks/s':>10}{'tokens/s':>10}{'vs ST':>8}{'cos min':>10}{'cos mean':>11}  gate")
    for name, spent in seconds.items():
        low, mean = cosines(stacked[name], stacked[st_name])
        verdict = "pass" if low >= FIDELITY_GATE else "FAIL"
        print(
            f"{name:<24}{len(texts) / spent:>10.1f}{tokens / spent:>10.0f}{seconds[st_name] / spent:>7.2f}x"
            f"{low:>10.6f}{mean:>11.7f}  {verdict}"
        )
    for label, encoder in encoders.items():  # length-bucketed batches: the share of padded tokens
        ratio = getattr(encoder, "padding_ratio", None)
        if ratio is not None:
            print(f"{label}: padding {ratio:.1%} of real tokens")


if __name__ == "__main__":
    main()
