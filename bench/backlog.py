"""Benchmark: N documents queued behind one worker thread with a short (5 s) lease.

    .venv/bin/python bench/backlog.py [--docs 200] [--delay 0.1] [--lease 5]

Ingests N one-chunk text documents on the embedded default (SQLite + Qdrant Edge + in-process
worker) with one worker thread, embed batch 1 and an encoder slowed by ``--delay`` seconds per call,
so the backlog (≈ N × delay) lasts several leases. Waiting in a queue must never count against a
lease: every plan must end EMBEDDED and no unit may run twice (no worker dies here, so a second run
of a unit is a unit executed again while its worker was alive). Counts stage executions per unit
(wrapping ``indexflow.tasks.execute.STAGES``) and the sweeper's re-sends, then does the same in a
baseline run (same process, same N and delay, ``lease_seconds=600``) and prints the wall-time ratio.
Target (both runs): 0 failed plans, 0 duplicate executions; exit code 1 if not met.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.texts import BEES, TRAINS


class _Slow:
    """The real encoder; every ``encode`` call also sleeps ``delay`` seconds."""

    def __init__(self, inner: Any, delay: float) -> None:
        self._inner, self._delay = inner, delay

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def encode(self, texts: Sequence[str]) -> Any:
        time.sleep(self._delay)
        return self._inner.encode(texts)


@dataclass
class Result:
    wall_s: float
    plans: Counter[str]
    chunks: int
    executions: Counter[tuple[str, int]]
    resends: tuple[int, int, int]  # expired claims, lost messages, resumed plans
    errors: list[str]  # of the failed documents (and a timeout)

    @property
    def duplicates(self) -> dict[tuple[str, int], int]:
        return {k: n for k, n in self.executions.items() if n > 1}

    @property
    def met(self) -> bool:
        return not self.errors and not self.plans.get("FAILED") and not self.duplicates


def run(docs: list[Path], home: Path, *, lease: int, delay: float) -> Result:
    from indexflow import Indexflow
    from indexflow.db.profiles import ensure_default_profile
    from indexflow.settings import Settings
    from indexflow.tasks import execute

    executions: Counter[tuple[str, int]] = Counter()
    lock = threading.Lock()

    def counted(kind: Any, fn: Any) -> Any:
        def stage(rt: Any, claim: Any) -> Any:
            with lock:
                executions[(kind.value, claim.unit_id)] += 1
            return fn(rt, claim)

        return stage

    settings = Settings(home=home, lease_seconds=lease, in_process_threads=1, embed_batch_size=1)
    saved = dict(execute.STAGES)
    errors: list[str] = []
    try:
        with Indexflow(settings) as ix:
            with ix.rt.sessions() as s:
                profile = ensure_default_profile(s)
                s.commit()
            real = ix.rt.encoder
            real(profile).encode(["warm up"])  # load the model before timing
            ix.rt.encoder = lambda p: _Slow(real(p), delay)  # type: ignore[method-assign]
            for kind, fn in saved.items():
                execute.STAGES[kind] = counted(kind, fn)
            t0 = time.perf_counter()
            try:
                report = ix.ingest(
                    [str(p) for p in docs], dataset="bench", wait=True, timeout=120 + 10 * len(docs) * delay
                )
            except TimeoutError as exc:
                report, errors = None, [f"timed out: {exc}"]
            wall_s = time.perf_counter() - t0
            sweeps = list(ix.tasks.sweeps)
    finally:
        execute.STAGES.update(saved)
    plans: Counter[str] = Counter()
    chunks = 0
    for d in report.documents if report else []:
        if d.status == "FAILED":
            errors.append(f"{Path(d.source).name}: {d.error}")
        for p in d.plans:
            plans[p.status] += 1
            chunks += p.chunk_count or 0
    resends = (
        sum(len(r.expired_claims) for r in sweeps),
        sum(len(r.lost_messages) for r in sweeps),
        sum(len(r.resumed_plans) for r in sweeps),
    )
    return Result(wall_s, plans, chunks, executions, resends, errors)


def show(name: str, r: Result, n: int) -> None:
    kinds = Counter(k for k, _ in r.executions)
    done, failed = r.plans.get("EMBEDDED", 0), r.plans.get("FAILED", 0)
    print(
        f"{name}: wall {r.wall_s:6.1f} s; plans EMBEDDED {done} / FAILED {failed} of {n} ({r.chunks} chunks)"
    )
    print(
        f"  stage executions {sum(r.executions.values())} ({dict(kinds)}); "
        f"duplicate executions {sum(c - 1 for c in r.duplicates.values())} in {len(r.duplicates)} units"
    )
    expired, lost, resumed = r.resends
    print(
        f"  sweeper re-sends {sum(r.resends)} (expired claims {expired}, lost messages {lost}, "
        f"stranded plans {resumed})"
    )
    for (kind, unit), count in sorted(r.duplicates.items())[:10]:
        print(f"    duplicate: {kind} unit {unit} ran {count}x")
    for error in r.errors[:10]:
        print(f"    error: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=200, help="documents (one chunk each)")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds added to every encode call")
    parser.add_argument("--lease", type=int, default=5, help="lease_seconds of the backlog run (≥ 5)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "docs").mkdir()
        docs = []
        for i in range(args.docs):
            path = tmp / "docs" / f"note{i:05d}.txt"
            path.write_text(f"Note number {i}. " + (BEES if i % 2 else TRAINS))
            docs.append(path)
        backlog = run(docs, tmp / "backlog", lease=args.lease, delay=args.delay)
        baseline = run(docs, tmp / "baseline", lease=600, delay=args.delay)

    print(
        f"{args.docs} one-chunk documents, 1 worker thread, embed batch 1, encode delay {args.delay} s "
        f"(backlog ≈ {args.docs * args.delay:.0f} s of encode delay alone)"
    )
    show(f"backlog, lease {args.lease:>3} s", backlog, args.docs)
    show("baseline, lease 600 s", baseline, args.docs)
    print(f"wall-time ratio backlog-lease / baseline: {backlog.wall_s / baseline.wall_s:.2f}x")
    met = backlog.met and baseline.met
    print(f"target (0 failed, 0 duplicate executions): {'met' if met else 'NOT met'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
