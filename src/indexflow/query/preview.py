"""Show how a document will be cut, before anything is stored."""

from __future__ import annotations

from typing import Any

from indexflow.domain.bundler import build_bundles
from indexflow.domain.chunker import split_texts
from indexflow.domain.components import iter_preorder


def preview(
    data: bytes,
    filename: str | None,
    *,
    tokenizer_name: str | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    target_bundle_tokens: int | None = None,
    max_bytes: int = 200_000_000,
) -> dict[str, Any]:
    """Parse, bundle and chunk ``data``; return components and bundles (with chunks) as plain data.

    A parameter left ``None`` takes the default profile's value.

    Raises:
        UnsupportedFormat, ParseError, InputTooLarge: the document cannot be read.
    """
    from indexflow.db.profiles import DEFAULT_PROFILE

    tokenizer_name = tokenizer_name or DEFAULT_PROFILE["tokenizer"]
    chunk_size = chunk_size or DEFAULT_PROFILE["chunk_size"]
    chunk_overlap = DEFAULT_PROFILE["chunk_overlap"] if chunk_overlap is None else chunk_overlap
    target_bundle_tokens = target_bundle_tokens or DEFAULT_PROFILE["target_bundle_tokens"]
    from indexflow.encoders.tokenizer import count_tokens, load_tokenizer
    from indexflow.parsers import parse

    parsed = parse(data, filename, max_bytes=max_bytes)
    tokenizer = load_tokenizer(tokenizer_name)
    comps = parsed.components
    counts = dict(zip((c.id for c in comps), count_tokens([c.text for c in comps], tokenizer), strict=True))
    bundles = build_bundles(comps, counts, target_bundle_tokens)
    chunks = split_texts([b.text for b in bundles], tokenizer, chunk_size, chunk_overlap)
    return {
        "title": parsed.title,
        "format": parsed.format,
        "settings": {
            "tokenizer": tokenizer_name,
            "chunk_size": chunk_size,
            "chunk_overlap": chunk_overlap,
            "target_bundle_tokens": target_bundle_tokens,
        },
        "components": [
            {
                "id": c.id,
                "parent_id": c.parent_id,
                "kind": c.kind,
                "path": c.path,
                "depth": depth,
                "token_count": counts[c.id],
                "text": c.text,
            }
            for c, depth in iter_preorder(comps)
        ],
        "bundles": [
            {
                "seq": b.seq,
                "title": b.title,
                "component_ids": list(b.component_ids),
                "paths": list(b.paths),
                "token_count": b.token_count,
                "text": b.text,
                "chunks": [
                    {
                        "seq": ch.seq,
                        "text": ch.text,
                        "token_count": ch.token_count,
                        "char_start": ch.char_start,
                        "char_end": ch.char_end,
                    }
                    for ch in specs
                ],
            }
            for b, specs in zip(bundles, chunks, strict=True)
        ],
    }
