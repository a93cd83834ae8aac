"""Benchmark: a first bulk load into PGVector, HNSW index live vs built after the load.

    .venv/bin/python bench/bulk_load.py [--points 20000] [--dim 384] [--batch 256]
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Both runs write the same unit vectors (clustered like real embeddings: random centres plus noise)
in the pipeline's batches into a fresh table of a fresh database: ``live`` keeps the HNSW index
while the points go in (``PgVectorStore(defer_index=False)``), ``deferred`` inserts into a bare
table and calls ``build_index`` at the end (what indexflow does on a first load). Prints the
time of each, points/s, the ratio, and recall@10 of each index against exact search on 200
queries (both must stay high: the deferred build must not cost quality).
"""

from __future__ import annotations

import argparse
import time
import uuid

import numpy as np


def _vectors(n: int, dim: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(8, n // 200), dim)).astype(np.float32)
    picks = rng.integers(0, len(centres), size=n)
    v = centres[picks] + 0.35 * rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _run(dsn: str, vectors: np.ndarray, batch: int, defer: bool) -> tuple[float, float, float]:
    from indexflow.stores.base import CollectionSpec, VectorPoint
    from indexflow.stores.pgvector import PgVectorStore

    store = PgVectorStore(dsn, defer_index=defer)
    name = f"indexflow_bench_{uuid.uuid4().hex[:8]}"
    ids = [str(uuid.uuid4()) for _ in range(len(vectors))]
    try:
        store.ensure_collection(CollectionSpec(name, vectors.shape[1], "cosine"))
        started = time.perf_counter()
        for i in range(0, len(vectors), batch):
            points = [
                VectorPoint(id=ids[j], vector=vectors[j], payload={"plan_id": 1, "chunk_id": j})
                for j in range(i, min(i + batch, len(vectors)))
            ]
            store.upsert(name, points)
        loaded = time.perf_counter() - started
        store.build_index(name)  # a no-op for the live table
        total = time.perf_counter() - started
        rng = np.random.default_rng(11)
        queries = vectors[rng.integers(0, len(vectors), size=200)]
        truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
        index = {pid: j for j, pid in enumerate(ids)}
        found = 0
        for q, want in zip(queries, truth, strict=True):
            got = {index[h.id] for h in store.search(name, q, 10)}
            found += len(got & set(want.tolist()))
        return loaded, total, found / (10 * len(queries))
    finally:
        store.drop_collection(name)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    vectors = _vectors(args.points, args.dim)
    _, live_total, live_recall = _run(args.pg, vectors, args.batch, defer=False)
    _, deferred_total, deferred_recall = _run(args.pg, vectors, args.batch, defer=True)
    print(f"{args.points} points of {args.dim} dims in batches of {args.batch}")
    print(
        f"live HNSW   : {live_total:7.1f} s  {args.points / live_total:8.0f} points/s  "
        f"recall@10 {live_recall:.3f}"
    )
    print(
        f"deferred    : {deferred_total:7.1f} s  {args.points / deferred_total:8.0f} points/s  "
        f"recall@10 {deferred_recall:.3f}  (load + build)"
    )
    print(f"ratio (live / deferred): {live_total / deferred_total:.2f}x")


if __name__ == "__main__":
    main()
