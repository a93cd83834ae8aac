"""Chunking throughput: indexflow's token chunker against chonkie, semchunk and LangChain.

Cuts the same corpus (>= --mb MB of prose-like documentation found on this machine, as ~50 KB
documents) with the same all-MiniLM-L6-v2 tokenizer object, chunk_size 254, overlap 32. Tokens/s
is (MiniLM tokens in the text cut) / wall seconds, the same numerator for every chunker. A slow
chunker is timed on a prefix of the documents once it passes --budget seconds (flagged "subset").

The machine may be shared, so chunkers run in interleaved rounds and each keeps its best round.

Usage: .venv/bin/python bench/chunking.py [--mb 10] [--budget 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from indexflow.domain.chunker import split_texts
from indexflow.encoders.tokenizer import count_tokens, load_tokenizer

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SIZE, OVERLAP, DOC_CHARS, BATCH = 254, 32, 50_000, 32
# Prose first: help pages and manuals, then package documentation, then whatever text is left.
SOURCES = [
    "/usr/share/vim/vim*/doc/*.txt",
    "/usr/share/cmake-*/Help/**/*.rst",
    "/usr/share/perl/*/pod/*.pod",
    f"{sys.prefix}/lib/python3*/site-packages/**/*.md",
    f"{sys.prefix}/lib/python3*/site-packages/**/*.rst",
    "/usr/share/doc/**/*.txt",
    "/usr/share/doc/**/copyright",
    "/usr/share/common-licenses/*",
]

# What a chunker gave for the first documents: per document, (text, start|None, end|None).
Result = list[list[tuple[str, int | None, int | None]]]


def collect(megabytes: float) -> tuple[list[str], list[tuple[str, int, float]]]:
    """Read text files from SOURCES until ``megabytes`` MB; cut them into ~50 KB documents."""
    want, size, docs, used = megabytes * 1e6, 0, [], []
    for pattern in SOURCES:
        files, chars = 0, 0
        for path in sorted(glob.glob(pattern, recursive=True)):
            if size >= want or not os.path.isfile(path):
                continue
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            docs.extend(split_lines(text, DOC_CHARS))
            files, chars, size = files + 1, chars + len(text), size + len(text)
        if files:
            used.append((pattern, files, chars / 1e6))
    return [d for d in docs if d.strip()], used


def split_lines(text: str, limit: int) -> Iterator[str]:
    """Pieces of about ``limit`` characters, cut at line ends."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + limit)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def run_indexflow(tok, docs: list[str]) -> Result:
    out: Result = []
    for i in range(0, len(docs), BATCH):
        for chunks in split_texts(docs[i : i + BATCH], tok, SIZE, OVERLAP):
            out.append([(c.text, c.char_start, c.char_end) for c in chunks])
    return out


def run_chonkie(tok, docs: list[str]) -> Result:
    from chonkie import TokenChunker

    chunker = TokenChunker(tokenizer=tok, chunk_size=SIZE, chunk_overlap=OVERLAP)
    out: Result = []
    for i in range(0, len(docs), BATCH):
        for chunks in chunker.chunk_batch(docs[i : i + BATCH], batch_size=BATCH, show_progress_bar=False):
            out.append([(c.text, c.start_index, c.end_index) for c in chunks])
    return out


def timed_docs(docs: list[str], budget: float) -> Iterator[str]:
    """Yield documents until ``budget`` seconds have passed."""
    started = time.perf_counter()
    for doc in docs:
        if time.perf_counter() - started > budget:
            return
        yield doc


def run_semchunk(tok, docs: list[str], budget: float) -> Result:
    import semchunk

    chunker = semchunk.chunkerify(tok, SIZE)
    out: Result = []
    for doc in timed_docs(docs, budget):
        texts, spans = chunker(doc, offsets=True, overlap=OVERLAP)
        out.append([(t, a, b) for t, (a, b) in zip(texts, spans, strict=True)])
    return out


def run_langchain_tokens(tok, docs: list[str], budget: float) -> Result:
    from langchain_text_splitters.base import Tokenizer, split_text_on_tokens

    # The token-window algorithm of SentenceTransformersTokenTextSplitter, on the same tokenizer.
    spec = Tokenizer(
        chunk_overlap=OVERLAP,
        tokens_per_chunk=SIZE,
        decode=tok.decode,
        encode=lambda text: tok.encode(text, add_special_tokens=False).ids,
    )
    out: Result = []
    for doc in timed_docs(docs, budget):
        out.append([(t, None, None) for t in split_text_on_tokens(text=doc, tokenizer=spec)])
    return out


def run_langchain_recursive(tok, docs: list[str], budget: float) -> Result:
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(tokenizer_object=tok)
    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        hf, chunk_size=SIZE, chunk_overlap=OVERLAP, add_start_index=True
    )
    out: Result = []
    for doc in timed_docs(docs, budget):
        found = [(d.page_content, d.metadata["start_index"]) for d in splitter.create_documents([doc])]
        out.append([(t, a, a + len(t)) for t, a in found])
    return out


def exactness(docs: list[str], result: Result, tok) -> tuple[str, str]:
    """Share of chunks equal to ``doc[start:end]``, and of re-tokenized chunks over SIZE tokens."""
    chunks = [(doc, c) for doc, per_doc in zip(docs, result, strict=False) for c in per_doc]
    spans = "no offsets"
    if chunks and chunks[0][1][1] is not None:
        exact = sum(doc[a:b] == text for doc, (text, a, b) in chunks)
        spans = f"{100 * exact / len(chunks):.1f}% exact"
    sample = random.Random(0).sample([c[0] for _, c in chunks], min(3000, len(chunks)))
    over = sum(n > SIZE for n in count_tokens(sample, tok))
    return spans, f"{100 * over / max(len(sample), 1):.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="corpus size in MB (default 10)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds before a slow chunker stops")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the best counts (default 3)")
    args = parser.parse_args()

    tok = load_tokenizer(MODEL)
    docs, used = collect(args.mb)
    print(f"corpus: {sum(map(len, docs)) / 1e6:.2f} MB in {len(docs)} documents of <= ~50 KB")
    for pattern, files, mb in used:
        print(f"  {pattern:<55} {files:>5} files {mb:7.2f} MB")
    tokens = count_tokens(docs, tok)
    prefix = [0]
    for n in tokens:
        prefix.append(prefix[-1] + n)
    print(f"MiniLM tokens: {prefix[-1]:,}; chunk_size {SIZE}, overlap {OVERLAP}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cpus {os.cpu_count()}, load average {load}; best of {args.rounds} interleaved rounds\n")

    def encode_only() -> Result:
        # The tokenizer alone, with offsets: the ceiling for any chunker that tokenizes.
        for i in range(0, len(docs), BATCH):
            tok.encode_batch(docs[i : i + BATCH], add_special_tokens=False)
        return [[] for _ in docs]

    runs: list[tuple[str, Callable[[], Result]]] = [
        ("indexflow split_texts", lambda: run_indexflow(tok, docs)),
        ("chonkie TokenChunker", lambda: run_chonkie(tok, docs)),
        ("langchain split_text_on_tokens", lambda: run_langchain_tokens(tok, docs, args.budget)),
        ("semchunk chunkerify", lambda: run_semchunk(tok, docs, args.budget)),
        ("langchain Recursive.from_hf_tokenizer", lambda: run_langchain_recursive(tok, docs, args.budget)),
        ("(MiniLM encode_batch alone)", encode_only),
    ]
    best: dict[str, tuple[float, float, Result]] = {}
    for round_no in range(args.rounds):
        for name, run in runs:
            if name in best and best[name][1] > args.budget / 4:
                continue  # slow: once is enough
            started = time.perf_counter()
            result = run()
            seconds = time.perf_counter() - started
            rate = prefix[len(result)] / seconds
            if name not in best or rate > best[name][0]:
                best[name] = (rate, seconds, result)
            print(f"  round {round_no + 1}: {name} {seconds:.1f} s", flush=True)

    rows = []
    for name, _ in runs:
        rate, seconds, result = best[name]
        n_docs = len(result)
        scope = "all" if n_docs == len(docs) else f"subset {100 * n_docs / len(docs):.0f}%"
        spans, over = exactness(docs, result, tok) if any(result) else ("", "")
        rows.append((name, rate, seconds, scope, sum(map(len, result)), spans, over))
    ceiling = rows.pop()[1]

    fastest_other = max(r[1] for r in rows[1:])
    line = "{:<40}{:>12}{:>9}  {:<12}{:>8}  {:<14}{}"
    print("\n" + line.format("chunker", "tokens/s", "seconds", "docs", "chunks", "spans", f">{SIZE} tokens"))
    for name, rate, seconds, scope, n_chunks, spans, over in rows:
        print(line.format(name, f"{rate:,.0f}", f"{seconds:.1f}", scope, n_chunks, spans, over))
    print(f"\nMiniLM encode_batch alone (offsets, no chunking): {ceiling:,.0f} tokens/s")
    print(f"indexflow / tokenizer alone: {rows[0][1] / ceiling:.2f}x")
    print(f"indexflow / fastest other:   {rows[0][1] / fastest_other:.2f}x")


if __name__ == "__main__":
    main()
