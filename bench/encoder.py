"""Throughput and fidelity of HFEncoder precisions against sentence-transformers, same process.

Run: ``.venv/bin/python bench/encoder.py [--n 2000] [--tokens 200] [--slice 250]``

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


def main() -> None:
    """Print chunks/s per configuration, ratios, and minimum cosines between precisions."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="chunks to encode")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per chunk")
    parser.add_argument("--slice", type=int, default=250, help="chunks per interleaved slice")
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from indexflow.encoders.hf import HFEncoder, cpu_has_fast_bf16
    from indexflow.encoders.models import DEFAULT_MODEL, resolve_model_dir

    model_dir = resolve_model_dir(DEFAULT_MODEL)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    texts = load_chunks(tokenizer, args.n, args.tokens)
    if not texts:
        sys.exit("no prose found for the corpus; see CORPUS_GLOBS")

    st = SentenceTransformer(str(model_dir), device="cpu")
    runners = {
        f"hf-{p}": HFEncoder(DEFAULT_MODEL, device="cpu", precision=p).encode for p in ("fp32", "bf16")
    }
    auto = HFEncoder(DEFAULT_MODEL, device="cpu", precision="auto")
    runners[f"hf-auto({auto.precision})"] = auto.encode
    runners["sentence-transformers"] = lambda batch: st.encode(batch, normalize_embeddings=True)

    import torch

    print(
        f"{len(texts)} chunks, mean {np.mean([len(tokenizer.encode(t).ids) for t in texts]):.0f} tokens; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: {cpu_has_fast_bf16()}"
    )
    for run in runners.values():  # warm-up: first-call allocations and oneDNN kernel selection
        run(texts[:64])

    seconds = dict.fromkeys(runners, 0.0)
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in runners}
    for start in range(0, len(texts), args.slice):
        batch = texts[start : start + args.slice]
        for name, run in runners.items():
            began = time.perf_counter()
            vectors[name].append(np.asarray(run(batch), dtype=np.float32))
            seconds[name] += time.perf_counter() - began

    fp32, st_name = "hf-fp32", "sentence-transformers"
    print(f"{'config':<24}{'chunks/s':>10}{'vs hf-fp32':>12}{'vs ST':>8}")
    for name, spent in seconds.items():
        rate = len(texts) / spent
        print(f"{name:<24}{rate:>10.1f}{seconds[fp32] / spent:>11.2f}x{seconds[st_name] / spent:>7.2f}x")
    stacked = {name: np.concatenate(parts) for name, parts in vectors.items()}
    for a, b in (
        (fp32, st_name),
        ("hf-bf16", fp32),
        ("hf-bf16", st_name),
        (f"hf-auto({auto.precision})", st_name),
    ):
        cosines = np.sum(stacked[a] * stacked[b], axis=1)
        print(f"cosine {a} vs {b}: min {cosines.min():.6f}, mean {cosines.mean():.6f}")


if __name__ == "__main__":
    main()
