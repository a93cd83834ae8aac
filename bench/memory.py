"""Benchmark: peak memory of ``indexflow ingest`` on HTML corpora of growing size (flat memory).

    .venv/bin/python bench/memory.py [--mb 8,32] [--encoder indexflow-testing/hash] [--keep DIR]

The corpora: real HTML pages of the Rust documentation shipped with the toolchain
(``~/.rustup/toolchains/*/share/doc/rust/html``: the book, the reference, the nomicon, the edition
guide, Cargo's and rustc's books, Rust by Example and std), taken in turns from each (sorted, so
every corpus is the same mix and a smaller one is a prefix of a larger one), leaving out redirect
stubs, tables of contents and pages under 8 KB, until ``--mb`` megabytes are copied.

Each size runs ``python -m indexflow.cli.main ingest FOLDER -d bench --json`` as a fresh process
under a fresh ``INDEXFLOW_HOME`` (``OMP_NUM_THREADS=2``, ``TOKENIZERS_PARALLELISM=false``,
``HF_HUB_OFFLINE=1``; ``INDEXFLOW_ENCODER_BACKEND`` and other ``INDEXFLOW_*`` settings pass
through), and samples from /proc every 0.2 s the resident set of that process and of its whole
process tree (the parser sandbox processes are its children). ``--encoder`` builds the corpus
under a profile of that encoder instead of the default model (``indexflow-testing/hash``: no
model, fast, for the growth alone).

Prints per size: MB, pages, chunks, seconds, peak RSS of the main process and of the tree (and
when the main process peaked), and the ratio of the largest corpus's peaks to the smallest's
(flat memory: about 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DOCS = sorted(Path.home().glob(".rustup/toolchains/*/share/doc/rust/html"))
BOOKS = ("book", "reference", "nomicon", "edition-guide", "cargo", "rustc", "rust-by-example", "std")
SKIP = {"print.html", "toc.html", "404.html", "sitemap.html", "all.html"}
MIN_PAGE = 8_000
MAX_PAGE = 1_000_000
PAGE = os.sysconf("SC_PAGE_SIZE")


def _pages(book: Path) -> list[Path]:
    out = []
    for path in sorted(book.rglob("*.html")):
        if path.name in SKIP or not path.is_file():
            continue
        size = path.stat().st_size
        if not MIN_PAGE <= size <= MAX_PAGE:
            continue
        head = path.read_bytes()[:4096].lower()
        if b'http-equiv="refresh"' in head or b"<title>redirecting" in head:
            continue
        out.append(path)
    return out


def build(out: Path, target_bytes: int) -> int:
    """Copy pages, one from each book in turn, into ``out`` until ``target_bytes``; their count."""
    if not DOCS:
        sys.exit("no Rust documentation here (~/.rustup/toolchains/*/share/doc/rust/html)")
    queues = [_pages(DOCS[0] / b) for b in BOOKS if (DOCS[0] / b).is_dir()]
    out.mkdir(parents=True, exist_ok=True)
    total = n = 0
    while total < target_bytes and any(queues):
        for q, name in zip(queues, BOOKS, strict=False):
            if not q or total >= target_bytes:
                continue
            src = q.pop(0)
            dest = out / f"{n:05d}-{name}-{src.stem[:60]}.html"
            shutil.copyfile(src, dest)
            total += dest.stat().st_size
            n += 1
    return n


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


class Sampler(threading.Thread):
    """Peak RSS of a process and of its process tree, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_main = self.peak_tree = 0
        self.peak_at = 0.0  # seconds from the start to the main process's peak
        self.done = threading.Event()

    def run(self) -> None:
        t0 = time.perf_counter()
        while not self.done.is_set():
            main = _rss(self.pid)
            tree = sum(_rss(p) for p in _tree(self.pid))
            if main > self.peak_main:
                self.peak_main, self.peak_at = main, time.perf_counter() - t0
            self.peak_tree = max(self.peak_tree, tree)
            self.done.wait(self.interval)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "indexflow.cli.main", *args]


def run(folder: Path, home: Path, encoder: str | None) -> dict[str, float]:
    env = os.environ | {
        "OMP_NUM_THREADS": "2",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "INDEXFLOW_HOME": str(home),
    }
    extra: list[str] = []
    if encoder:  # a profile of that encoder, built alone (setup, not measured)
        # The library's create: the CLI's names the encoder as its tokenizer too, and a test
        # double brings MiniLM's.
        setup = (
            "from indexflow import Indexflow\n"
            f"with Indexflow() as ix: ix.profiles.create('bench', encoder={encoder!r})"
        )
        subprocess.run([sys.executable, "-c", setup], env=env, check=True, capture_output=True)
        extra = ["--profile", "bench"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        _cli("ingest", str(folder), "-d", "bench", "--json", *extra),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = Sampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"ingest failed ({proc.returncode}):\n{err[-4000:]}\n{out[-2000:]}")
    report = json.loads(out)
    docs = report["documents"]
    chunks = sum(p.get("chunk_count") or 0 for d in docs for p in d.get("plans", []))
    return {
        "pages": len(docs),
        "chunks": chunks,
        "seconds": seconds,
        "main_mb": sampler.peak_main / 2**20,
        "tree_mb": sampler.peak_tree / 2**20,
        "peak_at": sampler.peak_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", default="8,32", help="corpus sizes in MB, comma-separated")
    parser.add_argument("--encoder", default=None, help="e.g. indexflow-testing/hash (default: the model)")
    parser.add_argument("--keep", type=Path, default=None, help="build the corpora and homes here, kept")
    args = parser.parse_args()
    sizes = [float(s) for s in args.mb.split(",")]
    backend = os.environ.get("INDEXFLOW_ENCODER_BACKEND", "the default")
    print(f"encoder: {args.encoder or 'default profile'} (backend {backend}); cpus {os.cpu_count()}")
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="ix-memory-"))
    results: list[tuple[float, dict[str, float]]] = []
    try:
        print(
            f"{'MB':>6} {'pages':>6} {'chunks':>7} {'seconds':>8} {'peak main MB':>13} "
            f"{'peak tree MB':>13} {'main peak at s':>14}"
        )
        for mb in sizes:
            folder = tmp / f"corpus-{mb:g}"
            if folder.exists():
                shutil.rmtree(folder)
            build(folder, int(mb * 2**20))
            home = tmp / f"home-{mb:g}"
            if home.exists():
                shutil.rmtree(home)
            r = run(folder, home, args.encoder)
            results.append((mb, r))
            size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
            print(
                f"{size:6.1f} {r['pages']:6.0f} {r['chunks']:7.0f} {r['seconds']:8.1f} "
                f"{r['main_mb']:13.0f} {r['tree_mb']:13.0f} {r['peak_at']:14.1f}",
                flush=True,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    if len(results) > 1:
        (a, ra), (b, rb) = results[0], results[-1]
        print(
            f"peak({b:g})/peak({a:g}): main {rb['main_mb'] / ra['main_mb']:.2f}x, "
            f"tree {rb['tree_mb'] / ra['tree_mb']:.2f}x"
        )


if __name__ == "__main__":
    main()
