"""Format detection (extension and sniffed content) and tolerant text decoding."""

from __future__ import annotations

import codecs
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from indexflow.errors import UnsupportedFormat
from indexflow.parsers.base import display_name

SUPPORTED_FORMATS: tuple[str, ...] = ("text", "markdown", "html", "pdf", "docx", "json")

_EXTENSIONS = {
    "txt": "text",
    "text": "text",
    "md": "markdown",
    "markdown": "markdown",
    "mdown": "markdown",
    "mkd": "markdown",
    "mkdn": "markdown",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "pdf": "pdf",
    "docx": "docx",
    "json": "json",
}
# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_RECORD_KEYS = frozenset({"id", "parent_id", "position", "kind", "text"})
# C0 controls that never appear in real text (tab, newlines, form feed and ESC excluded).
_CONTROL_BYTES = bytes([*range(1, 9), *range(14, 27), *range(28, 32), 127])
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_MARKDOWN_RE = re.compile(r"^(#{1,6}[ \t]+\S|```|~~~)|^[^\n]*\S[^\n]*\n=+[ \t]*$", re.MULTILINE)
_HTML_TAG_RE = re.compile(r"<(html|head|body)[\s>]")


@dataclass(slots=True)
class Sniffed:
    """What detection learned, so parse() does not decode or load JSON twice."""

    format: str
    text: str | None = None
    json_value: Any = None


def extension(filename: str | None) -> str:
    """Lower-case extension without the dot ("" when there is none)."""
    if not filename:
        return ""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].split("?", 1)[0]
    return os.path.splitext(base)[1].lstrip(".").lower()


def detect_format(data: bytes, filename: str | None = None) -> str:
    """Name the format of ``data``: one of :data:`SUPPORTED_FORMATS`.

    Magic bytes win over the extension (a PDF named ``notes.txt`` is a PDF); the extension
    decides among the text formats; content sniffing decides when there is no extension.

    Raises:
        UnsupportedFormat: binary content none of the parsers can read.
    """
    return sniff(data, filename).format


def sniff(data: bytes, filename: str | None = None) -> Sniffed:
    """Like :func:`detect_format`, keeping the decoded text and loaded JSON for the parser."""
    name = display_name(filename)
    ext = extension(filename)
    if b"%PDF-" in data[:1024]:
        return Sniffed("pdf")
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if ext == "docx" or b"word/document.xml" in data:
            return Sniffed("docx")
        raise UnsupportedFormat(f"{name}: a zip archive that is not a Word .docx document")
    if data.startswith(_OLE_MAGIC):
        raise UnsupportedFormat(
            f"{name}: legacy Microsoft Office file (.doc/.xls/.ppt) is not supported; save it as .docx"
        )
    if looks_binary(data):
        if ext in ("pdf", "docx"):
            return Sniffed(ext)  # damaged file: its parser explains what is wrong with it
        raise UnsupportedFormat(f"{name}: binary content that is not PDF or DOCX (unsupported format)")
    text = decode_text(data)
    start = text[:4096].lstrip().lower()
    by_ext = _EXTENSIONS.get(ext)
    if looks_html(start, strict=True):
        return Sniffed("html", text)  # a whole HTML page, whatever its name says
    if by_ext in ("html", "markdown"):
        return Sniffed(by_ext, text)
    if start.startswith(("{", "[")):
        value, ok = _load_json(text)
        if ok and looks_like_component_tree(value):
            return Sniffed("json", text, value)
        if by_ext == "json":
            # Broken JSON goes to the JSON parser for a precise error; other JSON data is
            # still worth indexing as plain text.
            return Sniffed("json", text) if not ok else Sniffed("text", text)
    elif by_ext == "json":
        return Sniffed("json", text)
    if looks_html(start):
        return Sniffed("html", text)
    if by_ext in ("pdf", "docx"):
        return Sniffed(by_ext)
    if by_ext == "text":
        return Sniffed("text", text)
    if _MARKDOWN_RE.search(text[:65536]):
        return Sniffed("markdown", text)
    return Sniffed("text", text)


def looks_html(start: str, *, strict: bool = False) -> bool:
    """True when a lower-cased document start reads like an HTML page.

    ``strict`` accepts only an HTML doctype or ``<html>`` opening the document (optionally after
    an XML declaration); otherwise an ``<html>``, ``<head>`` or ``<body>`` tag early on will do.
    """
    if start.startswith("<?xml"):
        start = start[start.find("?>") + 2 :].lstrip() if "?>" in start else start
    if start.startswith(("<!doctype html", "<html")):
        return True
    return not strict and start.startswith("<") and _HTML_TAG_RE.search(start) is not None


def looks_like_component_tree(value: Any) -> bool:
    """True for a list of component records, or an object whose ``components`` holds one.

    Other JSON that happens to have a ``components`` key (package manifests, say) is not ours.
    """
    records = value.get("components") if isinstance(value, dict) else value
    if not isinstance(records, list) or not records:
        return False
    first = records[0]
    return isinstance(first, dict) and len(_RECORD_KEYS & first.keys()) >= 2


def looks_binary(data: bytes) -> bool:
    """Heuristic on the first 8 KiB: many NULs (and not UTF-16) or many control bytes."""
    sample = data[:8192]
    if not sample or sample.startswith(tuple(bom for bom, _ in _BOMS)) or _guess_wide(sample):
        return False
    # The floors keep a short text with a stray NUL or two readable (NULs are removed later).
    if sample.count(0) > max(len(sample) // 10, 4):
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > max(len(sample) // 20, 4)


def decode_text(data: bytes) -> str:
    """Decode bytes of unknown encoding, never failing.

    Order: BOM, UTF-16/32 without BOM (NUL-interleaved), strict UTF-8, UTF-8 with a few corrupt bytes,
    charset-normalizer's guess (Windows-1252 preferred on a tie), then Windows-1252.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    # Before strict UTF-8: ASCII in UTF-16/32 is NUL-interleaved and *valid* UTF-8.
    wide = _guess_wide(data[:4096])
    if wide:
        return data.decode(wide, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    sample = text[:1_000_000]
    bad = sample.count("\ufffd")
    # Valid multi-byte sequences outnumber the broken ones: UTF-8 with some damage, not a
    # legacy 8-bit encoding (which almost never forms valid UTF-8 sequences by accident).
    if len(_NON_ASCII_RE.findall(sample)) - bad > bad:
        return text
    return data.decode(_guess_legacy_encoding(data[:1_000_000]), errors="replace")


def _guess_legacy_encoding(sample: bytes) -> str:
    try:
        from charset_normalizer import from_bytes

        matches = from_bytes(sample)
        best = matches.best()
    except Exception:  # a guesser failure must not fail the document: fall back below
        return "cp1252"
    if best is None:
        return "cp1252"
    # Short samples often tie between Windows code pages; Western European text is the
    # commonest case in the wild, so cp1252 wins a tie.
    if any(m.encoding == "cp1252" and m.chaos <= best.chaos for m in matches):
        return "cp1252"
    return best.encoding


def _guess_wide(sample: bytes) -> str | None:
    """UTF-32 or UTF-16 without a BOM, recognised by where the NUL bytes of ASCII text sit."""
    if len(sample) < 8:
        return None
    lanes = [sample[i::4] for i in range(4)]
    nul = [lane.count(0) / len(lane) for lane in lanes]
    if nul[0] < 0.05 and min(nul[1:]) > 0.9:
        return "utf-32-le"
    if nul[3] < 0.05 and min(nul[:3]) > 0.9:
        return "utf-32-be"
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.05:
        return "utf-16-le"
    if even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.05:
        return "utf-16-be"
    return None


def _load_json(text: str) -> tuple[Any, bool]:
    try:
        return json.loads(text), True
    except (ValueError, RecursionError):
        return None, False
