"""Show how a document will be cut, before anything is stored."""

from __future__ import annotations

from typing import Any

from indexflow.domain.components import iter_preorder
from indexflow.domain.context import cut_document
from indexflow.domain.ids import basename


def preview(
    data: bytes,
    filename: str | None,
    *,
    tokenizer_name: str | None = None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    target_bundle_tokens: int | None = None,
    context_template: str | None = None,
    max_tokens: int | None = None,
    max_bytes: int = 200_000_000,
) -> dict[str, Any]:
    """Parse, bundle and chunk ``data``; return components and bundles (with chunks) as plain data.

    A parameter left ``None`` takes the default profile's value (``context_template=""``: none).
    Each chunk shows its context header (what is embedded in front of its text).
    ``tokenizer_name`` is what a profile's ``tokenizer`` field may name: a model's fast tokenizer
    or ``indexflow-estimate`` (the counter of HTTP encoders without a tokenizer).

    Raises:
        ConfigurationError: an unknown tokenizer name.
        UnsupportedFormat, ParseError, InputTooLarge: the document cannot be read.
    """
    from indexflow.db.profiles import DEFAULT_PROFILE

    tokenizer_name = tokenizer_name or DEFAULT_PROFILE["tokenizer"]
    chunk_size = chunk_size or DEFAULT_PROFILE["chunk_size"]
    chunk_overlap = DEFAULT_PROFILE["chunk_overlap"] if chunk_overlap is None else chunk_overlap
    target_bundle_tokens = target_bundle_tokens or DEFAULT_PROFILE["target_bundle_tokens"]
    template = DEFAULT_PROFILE["context_template"] if context_template is None else (context_template or None)
    max_tokens = max_tokens or DEFAULT_PROFILE["max_tokens"]
    from indexflow.encoders.tokenizer import joins_at_whitespace, load_token_counter
    from indexflow.parsers import parse

    # Before parsing: a misspelt tokenizer name fails at once, whatever the document.
    tokenizer = load_token_counter(tokenizer_name)
    parsed = parse(data, filename, max_bytes=max_bytes)
    comps = parsed.components
    # The same cut as the bundle stage (one tokenization, the same headers): what will be stored.
    cut, contexts = cut_document(
        comps,
        tokenizer,
        target_tokens=target_bundle_tokens,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        max_tokens=max_tokens,
        template=template,
        title=parsed.title or basename(filename or "document"),
        source=filename or "",
        reuse_encodings=joins_at_whitespace(tokenizer),
    )
    counts, bundles, chunks = cut.token_counts, cut.bundles, cut.chunks
    return {
        "title": parsed.title,
        "format": parsed.format,
        "settings": {
            "tokenizer": tokenizer_name,
            "chunk_size": chunk_size,
            "chunk_overlap": chunk_overlap,
            "target_bundle_tokens": target_bundle_tokens,
            "context_template": template,
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
                        "context": context,
                    }
                    for ch, context in zip(specs, heads, strict=True)
                ],
            }
            for b, specs, heads in zip(bundles, chunks, contexts, strict=True)
        ],
    }
