"""Bytes → component tree, one module per format.

    from indexflow.parsers import parse, detect_format, SUPPORTED_FORMATS
    parsed = parse(data, "guide.md")

Parsers are pure (bytes in, :class:`~indexflow.domain.components.ParsedDocument` out: no file
system, no network) and every failure leaves as an :mod:`indexflow.errors` class with a
readable message that starts with the file name. Which formats exist (names, extensions,
sniffers, parsers) is the business of :mod:`indexflow.parsers.registry`; parser modules are
imported on first use, and vendor libraries (pypdf, python-docx, bs4, markdown-it) lazily by
the module that uses them.
"""

from __future__ import annotations

from indexflow.domain.components import ParsedDocument
from indexflow.errors import IndexflowError, InputTooLarge, ParseError
from indexflow.parsers import registry
from indexflow.parsers.base import Limits, display_name
from indexflow.parsers.detect import Sniffed, detect_format, sniff
from indexflow.parsers.registry import Format

SUPPORTED_FORMATS: tuple[str, ...] = registry.names()
"""The built-in formats (registered at import); :func:`registry.names` lists the live set."""


def parse(
    data: bytes,
    filename: str | None = None,
    *,
    max_bytes: int = 200_000_000,
    max_pages: int = 5000,
    max_depth: int = 100_000,
    max_components: int = 2_000_000,
) -> ParsedDocument:
    """Parse a document into its component tree (preorder).

    Args:
        data: the document's bytes.
        filename: the original name; its extension guides detection and it prefixes errors.
        max_bytes: larger inputs are refused before any parsing.
        max_pages: PDFs with more pages are refused.
        max_depth: deeper trees are refused.
        max_components: documents with more components are refused.

    Returns:
        The parsed document: format, title, components in preorder, metadata.

    Raises:
        InputTooLarge: a limit was exceeded.
        UnsupportedFormat: no parser reads these bytes (binary, legacy Office, other zips).
        ParseError: the parser could not read the document, or it holds no text.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"parse() needs bytes, got {type(data).__name__}")
    data = bytes(data)
    name = display_name(filename)
    if len(data) > max_bytes:
        raise InputTooLarge(f"{name}: {len(data)} bytes is over the limit of {max_bytes} bytes")
    limits = Limits(max_bytes, max_pages, max_depth, max_components)
    sniffed = sniff(data, filename)
    fmt = registry.get(sniffed.format)
    label = fmt.label
    try:
        return fmt.load_parser()(data, filename, limits, sniffed)
    except IndexflowError:
        raise
    except RecursionError as exc:
        raise ParseError(f"{name}: could not parse {label}: document is nested too deeply") from exc
    except MemoryError as exc:
        raise InputTooLarge(f"{name}: could not parse {label}: out of memory") from exc
    except Exception as exc:
        # The last line of defence: each parser translates its vendor's errors itself, but a
        # library bug on an odd document must still become a readable, permanent error.
        raise ParseError(f"{name}: could not parse {label}: {exc}") from exc


__all__ = [
    "SUPPORTED_FORMATS",
    "Format",
    "ParsedDocument",
    "Sniffed",
    "detect_format",
    "parse",
    "registry",
    "sniff",
]
