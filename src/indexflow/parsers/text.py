"""Plain text: paragraphs split on blank lines, all at the top level."""

from __future__ import annotations

import re

from indexflow.domain.components import ParsedDocument
from indexflow.parsers.base import Limits, TreeBuilder, clean_title, drop_nuls
from indexflow.parsers.detect import Sniffed, decode_text

_BLANK_LINES_RE = re.compile(r"\n[ \t\f\v]*\n\s*")
_TRAILING_WS_RE = re.compile(r"[ \t\f\v]+\n")


def normalize_newlines(text: str) -> str:
    """Windows and old Mac line endings → ``\\n``; NULs and trailing spaces on lines removed."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _TRAILING_WS_RE.sub("\n", drop_nuls(text))


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of ``text``, split on blank lines; each keeps its inner line breaks."""
    return [p.strip() for p in _BLANK_LINES_RE.split(normalize_newlines(text)) if p.strip()]


def parse(
    data: bytes, filename: str | None = None, limits: Limits | None = None, sniffed: Sniffed | None = None
) -> ParsedDocument:
    """Parse plain text into top-level ``paragraph`` components.

    Very long paragraphs stay whole: cutting is the chunker's job.

    Raises:
        ParseError: the text is empty ("document has no text").
    """
    text = sniffed.text if sniffed is not None and sniffed.text is not None else decode_text(data)
    builder = TreeBuilder("text", limits or Limits(), filename)
    paragraphs = split_paragraphs(text)
    for paragraph in paragraphs:
        builder.add(None, "paragraph", paragraph)
    title = None
    if paragraphs:
        title = clean_title(paragraphs[0].split("\n", 1)[0])
    return builder.finish(title=title)
