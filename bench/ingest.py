"""Benchmark: the whole pipeline vs the bare encoder on the same chunk texts, in one process.

    .venv/bin/python bench/ingest.py [--mb 1.6]

Prints chunks/s for (a) ingest on the embedded default (parse → bundle → chunk → embed → upsert,
SQLite + Qdrant Edge + in-process worker) and (b) the encoder alone on exactly the chunk texts the
pipeline produced, and their ratio. Target: pipeline ≥ 0.9× bare encoder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=1.6, help="corpus size in MB (≈1,300 chunks per MB)")
    parser.add_argument("--precision", default=os.environ.get("INDEXFLOW_ENCODER_PRECISION", "auto"))
    args = parser.parse_args()

    from sqlalchemy import select

    from indexflow import Indexflow
    from indexflow.db.models import Chunk
    from indexflow.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        docs = build(Path(tmp) / "corpus", target_bytes=int(args.mb * 1_000_000))
        size = sum(p.stat().st_size for p in docs)
        settings = Settings(home=Path(tmp) / "home", encoder_precision=args.precision)
        with Indexflow(settings) as ix:
            # Load the model and open the store first: both runs below start warm.
            with ix.rt.sessions() as s:
                from indexflow.db.profiles import ensure_default_profile

                profile = ensure_default_profile(s)
                s.commit()
            encoder = ix.rt.encoder(profile)
            encoder.encode(["warm up"])

            t0 = time.perf_counter()
            report = ix.ingest([str(p) for p in docs], dataset="bench", wait=True)
            pipeline_s = time.perf_counter() - t0
            assert report.ok, [(d.source, d.error) for d in report.failed][:5]
            with ix.rt.sessions() as s:
                texts = list(s.scalars(select(Chunk.text).order_by(Chunk.plan_id, Chunk.seq)))

            batch = settings.embed_batch_size
            t0 = time.perf_counter()
            for start in range(0, len(texts), batch):
                encoder.encode(texts[start : start + batch])
            encoder_s = time.perf_counter() - t0

    n = len(texts)
    print(f"corpus: {len(docs)} documents, {size / 1e6:.2f} MB of real text; {n} chunks")
    print(f"encoder: {encoder.name} precision={args.precision}; embed batch {batch}; cpus {os.cpu_count()}")
    print(f"(a) pipeline     {n / pipeline_s:8.1f} chunks/s   ({pipeline_s:6.1f} s, ingest → searchable)")
    print(f"(b) bare encoder {n / encoder_s:8.1f} chunks/s   ({encoder_s:6.1f} s, same texts, same batches)")
    print(f"ratio pipeline / bare encoder: {encoder_s / pipeline_s:.2f}x   (target ≥ 0.90x)")


if __name__ == "__main__":
    main()
