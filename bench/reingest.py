"""Benchmark: ingesting a corpus vs ingesting it again unchanged (incremental ingest).

    .venv/bin/python bench/reingest.py [--files 120] [--max-kb 6]

Builds a corpus of real text found on this machine (≥ 100 files, see ``corpus.py``), ingests it on
the embedded default under a fresh temporary INDEXFLOW_HOME, then ingests the same files again:
unchanged content must cost a hash lookup per file, no parse and no embedding. Prints both times
and their ratio (target: the unchanged re-ingest ≥ 50× faster), plus the encoder calls each made.
The model is loaded before timing, so neither figure includes it. Last, the unchanged re-ingest
as a whole ``indexflow ingest`` process (start-up included; target < 1 s for 100 files), and the
heavy modules that process imported (none of torch, transformers, openvino, dramatiq).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build


class _Counting:
    """The real encoder, with every ``encode`` call counted."""

    def __init__(self, inner: Any, calls: list[int], lock: threading.Lock) -> None:
        self._inner, self._calls, self._lock = inner, calls, lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def encode(self, texts: Sequence[str]) -> Any:
        with self._lock:
            self._calls.append(len(texts))
        return self._inner.encode(texts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=120, help="documents in the corpus (≥ 100)")
    parser.add_argument("--max-kb", type=float, default=6.0, help="bytes kept of each source file, in kB")
    args = parser.parse_args()

    from indexflow import Indexflow
    from indexflow.db.profiles import ensure_default_profile
    from indexflow.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        max_bytes = int(args.max_kb * 1000)
        docs = build(Path(tmp) / "corpus", target_bytes=args.files * max_bytes, max_file_bytes=max_bytes)
        docs = docs[: args.files]
        if len(docs) < 100:
            raise SystemExit(f"only {len(docs)} documents of real text found; the benchmark needs ≥ 100")
        paths = [str(p) for p in docs]
        size = sum(p.stat().st_size for p in docs)
        settings = Settings(home=Path(tmp) / "home")

        with Indexflow(settings) as ix:
            with ix.rt.sessions() as s:
                profile = ensure_default_profile(s)
                s.commit()
            real = ix.rt.encoder
            real(profile).encode(["warm up"])  # load the model before timing
            calls: list[int] = []
            lock = threading.Lock()
            ix.rt.encoder = lambda p: _Counting(real(p), calls, lock)  # type: ignore[method-assign]

            t0 = time.perf_counter()
            first = ix.ingest(paths, dataset="bench", wait=True)
            first_s = time.perf_counter() - t0
            assert first.ok, [(d.source, d.error) for d in first.failed][:5]
            first_calls, first_texts = len(calls), sum(calls)
            chunks = sum(p.chunk_count for d in first.documents for p in d.plans)
            points = ix.rt.store.count(ix.profiles.list()[0].collection)

            calls.clear()
            t0 = time.perf_counter()
            again = ix.ingest(paths, dataset="bench", wait=True)
            again_s = time.perf_counter() - t0
            again_calls = len(calls)
            outcomes = {d.outcome for d in again.documents}

        # The same again from a fresh facade on the same state, as a second `indexflow ingest` would.
        with Indexflow(settings) as ix2:
            t0 = time.perf_counter()
            third = ix2.ingest(paths, dataset="bench", wait=True)
            fresh_s = time.perf_counter() - t0
            fresh_outcomes = {d.outcome for d in third.documents}

        # And as a whole process, start-up included: `indexflow ingest DIR` on the same home.
        env = os.environ | {"INDEXFLOW_HOME": str(settings.home)}
        cmd = [sys.executable, "-m", "indexflow.cli.main", "ingest", *paths, "-d", "bench", "--json"]
        process_s: list[float] = []
        imported: str = ""
        for _ in range(5):
            t0 = time.perf_counter()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            process_s.append(time.perf_counter() - t0)
            report = json.loads(done.stdout)
            assert {d["outcome"] for d in report["documents"]} == {"unchanged"}, done.stdout[-500:]
        probe = (
            "import runpy, sys\n"
            f"sys.argv = {['indexflow', 'ingest', *paths, '-d', 'bench']!r}\n"
            "try:\n    runpy.run_module('indexflow.cli.main', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "heavy = ('torch', 'transformers', 'openvino', 'dramatiq')\n"
            "print('IMPORTED', [m for m in heavy if m in sys.modules])"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        )
        imported = next(line for line in done.stdout.splitlines() if line.startswith("IMPORTED"))

    print(f"corpus: {len(docs)} documents, {size / 1e6:.2f} MB of real text")
    print(f"        {chunks} chunks embedded, {points} points in the store")
    print(f"cpus {os.cpu_count()}; encoder {profile.encoder} (loaded before timing)")
    print(f"first ingest            {first_s:8.2f} s  ({first_calls} encoder calls, {first_texts} texts)")
    print(f"unchanged re-ingest     {again_s:8.3f} s  ({again_calls} encoder calls; {sorted(outcomes)})")
    print(f"  from a fresh facade   {fresh_s:8.3f} s  ({sorted(fresh_outcomes)})")
    print(f"ratio first / unchanged: {first_s / again_s:.0f}x   (target ≥ 50x)")
    print(f"ratio first / unchanged from a fresh facade: {first_s / fresh_s:.0f}x")
    process_s.sort()
    print(
        "unchanged re-ingest as a process (`indexflow ingest`, start-up included): "
        f"best {process_s[0]:.2f} s, "
        f"median {process_s[len(process_s) // 2]:.2f} s of {len(process_s)}   (target < 1 s for 100 files)"
    )
    print(f"  heavy modules that process loaded: {imported.removeprefix('IMPORTED ')}")


if __name__ == "__main__":
    main()
