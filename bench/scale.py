"""Benchmark: scale-out throughput with 1 and 2 worker processes (PostgreSQL + Redis + PGVector).

    .venv/bin/python bench/scale.py [--mb 0.8] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

For each worker count: a fresh database, `indexflow worker -p N -t 1` started as OS processes, a
warm-up document (model load is not timed), then the corpus ingested through the broker. Prints
chunks/s for each and the ratio. On a 2-core machine expect well under 2×: each worker's torch
already uses both cores for the encoder, so a second process mostly overlaps DB and store I/O.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build


def run_once(
    pg: str, redis: str, corpus: list[Path], processes: int, tmp: Path, batch: int
) -> tuple[int, float]:
    from sqlalchemy import func, select, text

    from indexflow import Indexflow
    from indexflow.db.models import Chunk
    from indexflow.db.session import make_engine
    from indexflow.settings import Settings

    name = f"ixbench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg.rsplit("/", 1)[0] + f"/{name}"
    tag = uuid.uuid4().hex[:6]
    env = {
        "INDEXFLOW_DATABASE_URL": url,
        "INDEXFLOW_BROKER_URL": redis,
        "INDEXFLOW_VECTOR_STORE": "pgvector",
        "INDEXFLOW_HOME": str(tmp / f"home{processes}"),
        "INDEXING_PLAN_QUEUE": f"plan-{tag}",
        "INDEXING_EMBED_QUEUE": f"embed-{tag}",
        "INDEXING_EMBED_BATCH_SIZE": str(batch),
    }
    settings = Settings(
        database_url=url,
        broker_url=redis,
        vector_store="pgvector",
        home=tmp / f"home{processes}",
        plan_queue=env["INDEXING_PLAN_QUEUE"],
        embed_queue=env["INDEXING_EMBED_QUEUE"],
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "indexflow.cli.main", "worker", "-p", str(processes), "-t", "1"],
        env=os.environ | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with Indexflow(settings) as ix:
            warm = tmp / f"warm{processes}"
            warm.mkdir()
            for i in range(processes * 2):
                (warm / f"w{i}.txt").write_text(f"warm-up document {i} " * 50)
            assert ix.ingest([str(warm)], dataset="warm", wait=True, timeout=600).ok
            t0 = time.perf_counter()
            report = ix.ingest([str(p) for p in corpus], dataset="bench", wait=True, timeout=3600)
            elapsed = time.perf_counter() - t0
            assert report.ok, report.failed[:3]
            with ix.rt.sessions() as s:
                from indexflow.db import documents as docs_repo
                from indexflow.db.models import ChunkPlan, Document

                ds = docs_repo.get_dataset(s, "bench")
                chunks = (
                    s.scalar(
                        select(func.count())
                        .select_from(Chunk)
                        .join(ChunkPlan, ChunkPlan.id == Chunk.plan_id)
                        .join(Document, Document.id == ChunkPlan.document_id)
                        .where(Document.dataset_id == ds.id)
                    )
                    or 0
                )
        return chunks, elapsed
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=0.8)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--batch", type=int, default=32, help="INDEXING_EMBED_BATCH_SIZE for the workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = build(tmp / "corpus", target_bytes=int(args.mb * 1_000_000))
        results = {n: run_once(args.pg, args.redis, corpus, n, tmp, args.batch) for n in (1, 2)}
    print(
        f"corpus: {len(corpus)} documents; PostgreSQL + Redis + PGVector; cpus {os.cpu_count()}; "
        f"embed batch {args.batch}; worker threads 1 per process, torch threads split by process"
    )
    for n, (chunks, secs) in results.items():
        print(
            f"{n} worker process{'es' if n > 1 else '  '}: {chunks / secs:7.1f} chunks/s"
            f"  ({chunks} chunks, {secs:.1f} s)"
        )
    (c1, s1), (c2, s2) = results[1], results[2]
    print(f"ratio 2 / 1: {(c2 / s2) / (c1 / s1):.2f}x")


if __name__ == "__main__":
    main()
