"""Retrieval quality on evaluation sets whose questions and judgments others wrote.

For each set built by ``bench/evalsets.py`` (the Cargo book's FAQ and glossary; the GNU
manuals' concept indexes), ingests the corpus on the embedded default under several index
profiles and prints hit@1, hit@5, hit@10, MRR@10, nDCG@10 and recall@10 per system, next to a
baseline run in the same process: naive fixed token windows (254 tokens, 32 overlap, over each
document's whole text, the same parser and the same all-MiniLM-L6-v2 model), searched by exact
cosine similarity, with and without at most one chunk per document in the top 10.

Figures come from ``indexflow.query.evaluate`` — the same code as ``indexflow eval``.

Usage: .venv/bin/python bench/retrieval.py [--sets cargo-book,gnu-manuals] [--profiles a,b]
       [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from indexflow import Indexflow
from indexflow.domain.chunker import split_texts
from indexflow.domain.context import embedded_text
from indexflow.encoders.factory import get_encoder
from indexflow.encoders.tokenizer import load_tokenizer
from indexflow.errors import IndexflowError
from indexflow.parsers import parse
from indexflow.query.evaluate import EvalQuery, load_queries, score_query
from indexflow.views import Hit, HitBundle, HitChunk, HitDocument

ROOT = Path(__file__).resolve().parent.parent
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
K = 10
HEADER = "{title}\n{section}"

# name -> (profile parameters, search options); "default" is the profile indexflow creates.
PLAIN = {"lexical": False, "context_template": ""}
W254 = {"chunk_size": 254, "chunk_overlap": 32, "target_bundle_tokens": 512}
PROFILES: dict[str, dict[str, Any]] = {
    "default": {},  # what a new install gets: W254 + title/section headers + BM25 (hybrid)
    "dense-200": {"chunk_size": 200, "chunk_overlap": 40, "target_bundle_tokens": 512, **PLAIN},
    "dense-254": {**W254, **PLAIN},
    "dense-254-b254": {**W254, "target_bundle_tokens": 254, **PLAIN},
    "headers": {**W254, "lexical": False, "context_template": HEADER},
    "bm25": {**W254, "lexical": True, "context_template": ""},
    # the default with another overlap: what the overlap buys in retrieval and costs in tokens
    "overlap-0": {**W254, "chunk_overlap": 0},
    "overlap-16": {**W254, "chunk_overlap": 16},
    "overlap-64": {**W254, "chunk_overlap": 64},
    "headers-bm25-200": {
        "chunk_size": 200,
        "chunk_overlap": 40,
        "target_bundle_tokens": 512,
        "lexical": True,
        "context_template": HEADER,
    },
}
CAPS = (0, 1, 2)


def build_sets(out: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "evalsets.py"), "build", "--out", str(out)], check=True
    )


def naive_rows(corpus: Path, queries: list[EvalQuery]) -> dict[str, dict[str, float]]:
    """The baseline: fixed 254/32 token windows over each document's parsed text, exact search."""
    tokenizer = load_tokenizer(MODEL)
    encoder = get_encoder(MODEL)
    docs: list[tuple[str, str]] = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        try:
            parsed = parse(path.read_bytes(), path.name)
        except IndexflowError:  # the pipeline fails such documents too; the baseline skips them
            continue
        text = "\n\n".join(c.text for c in parsed.components if c.text.strip())
        docs.append((str(path), text))
    windows = split_texts([t for _, t in docs], tokenizer, 254, 32)
    chunks = [(src, w.text) for (src, _), ws in zip(docs, windows, strict=True) for w in ws]
    matrix = encoder.encode([t for _, t in chunks])
    matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    qvec = encoder.encode([q.query for q in queries])
    qvec = qvec / np.linalg.norm(qvec, axis=1, keepdims=True)
    rows: dict[str, dict[str, float]] = {}
    for cap in (0, 1):
        per_query = []
        for q, v in zip(queries, qvec, strict=True):
            order = np.argsort(-(matrix @ v))
            hits: list[Hit] = []
            per_doc: dict[str, int] = {}
            for i in order:
                src, text = chunks[int(i)]
                if cap and per_doc.get(src, 0) >= cap:
                    continue
                per_doc[src] = per_doc.get(src, 0) + 1
                hits.append(_hit(src, text, int(i)))
                if len(hits) == K:
                    break
            per_query.append(score_query(hits, q, K))
        label = "naive windows 254/32" + (", one per document" if cap == 1 else "")
        rows[label] = {m: float(np.mean([s[m] for s in per_query])) for m in per_query[0]}
    print(f"  naive: {len(docs)} documents, {len(chunks)} chunks", flush=True)
    return rows


def _hit(source: str, text: str, i: int) -> Hit:
    return Hit(
        score=0.0,
        text=text,
        document=HitDocument(id=i, source=source, title=None, dataset="bench"),
        bundle=HitBundle(id=i, seq=0, title="", paths=[], text=text),
        chunk=HitChunk(id=i, seq=0, char_start=0, char_end=len(text), token_count=0),
        plan_id=0,
    )


def indexflow_rows(
    corpus: Path, queries: list[EvalQuery], profiles: list[str]
) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as home:
        ix = Indexflow(home=home)
        try:
            extra = [p for p in profiles if p != "default"]
            for name in extra:
                ix.profiles.create(name, **PROFILES[name])
            t0 = time.perf_counter()
            report = ix.ingest(str(corpus), dataset="bench", profiles=["default", *extra])
            failed = [d for d in report.documents if d.status == "FAILED"]
            print(
                f"  ingested {len(report.documents)} documents under {len(extra) + 1} profiles in "
                f"{time.perf_counter() - t0:.0f} s ({len(failed)} failed)",
                flush=True,
            )
            for name in profiles:
                view = ix.profiles.get(name)
                chunks = ix.rt.store.count(view.collection)  # one point per chunk
                tokens = _tokens_embedded(ix, name)
                modes = ["hybrid", "sparse"] if view.lexical else ["dense"]
                for mode in modes:
                    for cap in CAPS:
                        r = ix.evaluate(
                            queries, dataset="bench", profiles=[name], k=K, mode=mode, max_per_document=cap
                        )
                        label = (
                            f"indexflow {name} ({view.chunk_size}/{view.chunk_overlap}/"
                            f"{view.target_bundle_tokens}, {chunks} chunks, {tokens} tokens) {mode}, "
                            + (f"≤{cap} per doc" if cap else "no cap")
                        )
                        rows[label] = r.profiles[0].metrics
        finally:
            ix.close()
    return rows


def _tokens_embedded(ix: Indexflow, profile: str) -> int:
    """Tokens the encoder read for ``profile``'s active chunks: each chunk's text and its header
    (the chunk's ``context``), special tokens included: what the profile costs to embed."""
    from sqlalchemy import text

    with ix.rt.sessions() as s:
        rows = s.execute(
            text(
                "SELECT c.text, c.context FROM chunks c JOIN chunk_plans p ON c.plan_id = p.id "
                "JOIN index_profiles ip ON p.profile_id = ip.id WHERE ip.name = :n AND p.is_active"
            ),
            {"n": profile},
        ).all()
    encoder = get_encoder(MODEL)
    return int(encoder.count_tokens([embedded_text(ctx, body) for body, ctx in rows]))


def table(rows: dict[str, dict[str, float]]) -> str:
    names = ["hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10", "recall@10"]
    lines = ["| system | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, m in rows.items():
        lines.append(f"| {label} | " + " | ".join(f"{m[n]:.3f}" for n in names) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="cargo-book,gnu-manuals")
    ap.add_argument("--profiles", default=",".join(PROFILES))
    ap.add_argument("--data", type=Path, default=ROOT / ".cache" / "evalsets")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    profiles = [p for p in args.profiles.split(",") if p]
    if "default" not in profiles:
        profiles.insert(0, "default")
    out: dict[str, Any] = {}
    for name in args.sets.split(","):
        folder = args.data / name
        if not (folder / "queries.jsonl").is_file():
            build_sets(args.data)
        queries = load_queries(folder / "queries.jsonl")
        print(f"\n## {name}: {len(queries)} queries", flush=True)
        rows = naive_rows(folder / "corpus", queries)
        rows |= indexflow_rows(folder / "corpus", queries, profiles)
        print(table(rows), flush=True)
        out[name] = rows
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
