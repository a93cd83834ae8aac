"""Benchmark: indexflow end to end vs LlamaIndex and LangChain, as whole processes, on the same pages.

    .venv/bin/pip install -e '.[bench-frameworks]'   # LlamaIndex's and LangChain's HF embeddings
    .venv/bin/python bench/e2e.py [--pages 80] [--source DIR] [--only indexflow,llamaindex,...]

The corpus: ``--pages`` HTML pages of the Rust book shipped with the toolchain (or any folder of
HTML given with ``--source``), copied to a temporary folder. Each runner is a fresh Python process,
timed from its start to its exit (imports, model load, parsing, chunking, embedding, and for
indexflow the store write), with the same model (all-MiniLM-L6-v2 from the local package) and the
same 2 threads:

- ``llamaindex``: the text of each page (BeautifulSoup), ``IngestionPipeline`` with
  ``SentenceSplitter(chunk_size=256, chunk_overlap=32)`` and ``HuggingFaceEmbedding`` (no store);
- ``langchain``: the same texts, ``RecursiveCharacterTextSplitter.from_huggingface_tokenizer`` 256/32
  and ``HuggingFaceEmbeddings.embed_documents`` (no store);
- ``indexflow``: ``indexflow ingest`` with its defaults, on the embedded default (SQLite + Qdrant
  Edge: parse, bundle, chunk, embed, write) and the default encoder backend ``auto`` — its choice
  measured and its OpenVINO IR converted beforehand, untimed, as after a machine's first run;
  ``indexflow-torch`` the same with ``INDEXFLOW_ENCODER_BACKEND=torch`` (torch eager, fp32 or
  bf16 as ``precision auto`` picks for the CPU).

Prints seconds, chunks and tokens embedded per runner (special tokens included, after the
model's 256-token truncation), each runner's speed-up over LlamaIndex, and its tokens/s against
this CPU's FLOP ceiling (MiniLM-L6 ≈ 23.6 MFLOP per token; the ceiling is a bf16/fp32 matrix
product of the encoder's shapes timed here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOP_PER_TOKEN = 23.6e6
RUNNERS = ("llamaindex", "langchain", "indexflow-torch", "indexflow")
RUST_BOOK = sorted(Path.home().glob(".rustup/toolchains/*/share/doc/rust/html/book"))


def pages(source: Path | None, n: int) -> list[Path]:
    """The first ``n`` pages of real prose (over 2,000 characters of text) of the folder, sorted;
    the Rust book's old-edition folders hold redirect stubs and are left out."""
    from bs4 import BeautifulSoup

    root = source or (RUST_BOOK[0] if RUST_BOOK else None)
    if root is None or not root.is_dir():
        sys.exit("no HTML corpus: pass --source DIR (the Rust book is not installed here)")
    skip = {"print.html", "toc.html", "404.html", "index.html"}
    out: list[Path] = []
    for path in sorted(root.glob("*.html")):
        if path.name in skip:
            continue
        soup = BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "lxml")
        if len((soup.find("main") or soup).get_text()) > 2000:
            out.append(path)
        if len(out) == n:
            break
    return out


def _texts(folder: Path) -> list[tuple[str, str]]:
    from bs4 import BeautifulSoup

    out = []
    for path in sorted(folder.glob("*.html")):
        soup = BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "lxml")
        main = soup.find("main") or soup.body or soup
        out.append((path.name, main.get_text("\n")))
    return out


def run_llamaindex(folder: Path, model: str) -> dict[str, float]:
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    docs = [Document(text=text, metadata={"file": name}) for name, text in _texts(folder)]
    pipeline = IngestionPipeline(
        transformations=[
            SentenceSplitter(chunk_size=256, chunk_overlap=32),
            HuggingFaceEmbedding(model_name=model, device="cpu"),
        ]
    )
    nodes = pipeline.run(documents=docs)
    return {
        "chunks": len(nodes),
        "tokens": _tokens(model, [n.get_content(metadata_mode="embed") for n in nodes]),
    }


def run_langchain(folder: Path, model: str) -> dict[str, float]:
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from transformers import AutoTokenizer

    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        AutoTokenizer.from_pretrained(model), chunk_size=256, chunk_overlap=32
    )
    chunks = [c for _, text in _texts(folder) for c in splitter.split_text(text)]
    HuggingFaceEmbeddings(model_name=model, model_kwargs={"device": "cpu"}).embed_documents(chunks)
    return {"chunks": len(chunks), "tokens": _tokens(model, chunks)}


def _tokens(model: str, texts: list[str]) -> int:
    """Tokens the model reads for ``texts``: special tokens included, truncated at 256 (after
    the timed part of a runner, which it does not slow)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    return sum(len(e.ids) for e in tokenizer.encode_batch(texts))


def indexflow_tokens(home: Path) -> int:
    """Tokens indexflow's encoder read: every chunk's header and text, as ``embed_batch`` sends them."""
    import sqlite3

    from indexflow.domain.context import embedded_text
    from indexflow.encoders.models import DEFAULT_MODEL, resolve_model_dir

    with sqlite3.connect(home / "indexflow.db") as db:
        rows = db.execute("SELECT text, context FROM chunks").fetchall()
    return _tokens(str(resolve_model_dir(DEFAULT_MODEL)), [embedded_text(ctx, text) for text, ctx in rows])


def flop_ceiling() -> dict[str, float]:
    """GFLOP/s of the encoder's dominant matrix products (tokens × 384 · 384 × 1536), fp32 and bf16."""
    import torch

    out: dict[str, float] = {}
    a32, b32 = torch.randn(4096, 384), torch.randn(384, 1536)
    for name, (a, b) in {"fp32": (a32, b32), "bf16": (a32.bfloat16(), b32.bfloat16())}.items():
        for _ in range(3):
            a @ b
        began, reps = time.perf_counter(), 20
        for _ in range(reps):
            a @ b
        out[name] = 2 * 4096 * 384 * 1536 * reps / (time.perf_counter() - began) / 1e9
    return out


def worker(name: str, folder: Path) -> None:
    """One runner inside its own process (``--worker``): prints a JSON line with its counts."""
    from indexflow.encoders.models import DEFAULT_MODEL, resolve_model_dir

    model = str(resolve_model_dir(DEFAULT_MODEL))
    result = run_llamaindex(folder, model) if name == "llamaindex" else run_langchain(folder, model)
    print("RESULT " + json.dumps(result))


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    spent = time.perf_counter() - began
    if proc.returncode != 0:
        sys.exit(
            f"{' '.join(cmd[:4])} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
    return spent, proc.stdout


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--pages", type=int, default=80)
    parser.add_argument("--source", type=Path)
    parser.add_argument("--only", default=",".join(RUNNERS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.dir)
        return
    chosen = [r.strip() for r in args.only.split(",") if r.strip()]
    with tempfile.TemporaryDirectory(prefix="ixe2e_") as tmp:
        folder = Path(tmp) / "pages"
        folder.mkdir()
        for i, page in enumerate(pages(args.source, args.pages)):
            shutil.copy(page, folder / f"{i:03}_{page.name}")
        env = os.environ | {"OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
        results: dict[str, tuple[float, int, int]] = {}
        cache = Path(tmp) / "cache"
        engine = "torch"
        if "indexflow" in chosen:  # auto measures and converts once, untimed (a machine's first run)
            warm = env | {"INDEXFLOW_HOME": str(Path(tmp) / "warm"), "INDEXFLOW_CACHE_DIR": str(cache)}
            one = Path(tmp) / "one"
            one.mkdir()
            shutil.copy(next(folder.glob("*.html")), one)
            timed([sys.executable, "-m", "indexflow.cli.main", "ingest", str(one)], warm)
            decision = json.loads(next((cache / "engines").glob("*.json")).read_text())
            engine = f"{decision['engine']} {decision['precision']}"
            print(f"encoder backend auto chose {engine}: {decision['reason']}", flush=True)
        for name in chosen:
            if name.startswith("indexflow"):
                home = Path(tmp) / name
                run_env = env | {"INDEXFLOW_HOME": str(home), "INDEXFLOW_CACHE_DIR": str(cache)}
                if name == "indexflow-torch":
                    run_env["INDEXFLOW_ENCODER_BACKEND"] = "torch"
                cmd = [
                    sys.executable,
                    "-m",
                    "indexflow.cli.main",
                    "ingest",
                    str(folder),
                    "-d",
                    "bench",
                    "--json",
                ]
                spent, out = timed(cmd, run_env)
                report = json.loads(out)
                chunks = sum(p["chunk_count"] for d in report["documents"] for p in d["plans"])
                tokens = indexflow_tokens(home)
            else:
                spent, out = timed([sys.executable, __file__, "--worker", name, "--dir", str(folder)], env)
                line = next(x for x in out.splitlines() if x.startswith("RESULT "))
                result = json.loads(line.removeprefix("RESULT "))
                chunks, tokens = int(result["chunks"]), int(result["tokens"])
            results[name] = (spent, chunks, tokens)
            print(f"{name:<20} {spent:7.1f} s  {chunks:6d} chunks  {tokens:8d} tokens", flush=True)
        ceiling = flop_ceiling()
    base = results["llamaindex"][0] if "llamaindex" in results else None
    fp32, bf16 = ceiling["fp32"], ceiling["bf16"]
    per_token = {"fp32": fp32 * 1e9 / FLOP_PER_TOKEN, "bf16": bf16 * 1e9 / FLOP_PER_TOKEN}
    print(f"\n{args.pages} pages; CPU ceiling: fp32 {fp32:.0f} GFLOP/s, bf16 {bf16:.0f} GFLOP/s")
    print(
        f"(at 23.6 MFLOP/token: fp32 {per_token['fp32']:.0f} tokens/s, "
        f"bf16 {per_token['bf16']:.0f} tokens/s; indexflow's encoder: {engine})"
    )
    print(f"{'runner':<20}{'seconds':>9}{'chunks':>8}{'tokens':>9}{'tokens/s':>10}{'vs LlamaIndex':>15}")
    for name, (spent, chunks, tokens) in results.items():
        ratio = f"{base / spent:.2f}x" if base else "-"
        print(f"{name:<20}{spent:>9.1f}{chunks:>8}{tokens:>9}{tokens / spent:>10.0f}{ratio:>15}")
    print(
        "tokens/s are whole-process figures (start-up, parsing and writes included); the ceiling "
        "counts the matrix products alone"
    )


if __name__ == "__main__":
    main()
