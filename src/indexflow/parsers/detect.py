"""Format detection (extension and sniffed content) and tolerant text decoding.

Which formats exist, their extensions and how far each claim is trusted live in
:mod:`indexflow.parsers.registry`; :func:`sniff` applies its precedence rules (documented
there) to the registered formats. The built-in sniffers below are content heuristics only: they
never look at the file name, except that a zip is a Word document when it is named ``.docx``.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from indexflow.errors import UnsupportedFormat
from indexflow.parsers import registry
from indexflow.parsers.base import display_name
from indexflow.parsers.registry import Confidence, Format, Match

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_RECORD_KEYS = frozenset({"id", "parent_id", "position", "kind", "text"})
# C0 controls that never appear in real text (tab, newlines, form feed and ESC excluded).
_CONTROL_BYTES = bytes([*range(1, 9), *range(14, 27), *range(28, 32), 127])
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
# ATX heading, code fence, or a setext heading: a line with a non-space character, then "===".
# ("[^\S\n]*\S" finds that character without backtracking: a long line is linear, not quadratic.)
_MARKDOWN_RE = re.compile(r"^(#{1,6}[ \t]+\S|```|~~~)|^[^\S\n]*\S[^\n]*\n=+[ \t]*$", re.MULTILINE)
_HTML_TAG_RE = re.compile(r"<(html|head|body)[\s>]")


@dataclass(slots=True)
class Sniffed:
    """What detection learned, so parse() does not decode or load JSON twice.

    ``text`` is the decoded text (None for binary formats); ``value`` is what the winning
    sniffer loaded (:attr:`Match.value <indexflow.parsers.registry.Match>`: the JSON value of a
    component tree), or None.
    """

    format: str
    text: str | None = None
    value: Any = None


class Probe:
    """What a sniffer may look at: the bytes, the file name's claim and the decoded text.

    ``ext`` is the lower-case extension ("" when none) and ``claimed`` the name of the format
    that extension belongs to (None when none). ``text`` and ``start`` are decoded on first use
    and shared by all sniffers; binary formats' sniffers must read ``data`` only.
    """

    __slots__ = ("_start", "_text", "claimed", "data", "ext")

    def __init__(self, data: bytes, ext: str = "", claimed: str | None = None) -> None:
        self.data = data
        self.ext = ext
        self.claimed = claimed
        self._text: str | None = None
        self._start: str | None = None

    @property
    def text(self) -> str:
        """The whole document, decoded with :func:`decode_text`."""
        if self._text is None:
            self._text = decode_text(self.data)
        return self._text

    @property
    def start(self) -> str:
        """The first 4096 characters, leading whitespace stripped, lower-cased."""
        if self._start is None:
            self._start = self.text[:4096].lstrip().lower()
        return self._start


def extension(filename: str | None) -> str:
    """Lower-case extension without the dot ("" when there is none)."""
    if not filename:
        return ""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].split("?", 1)[0]
    return os.path.splitext(base)[1].lstrip(".").lower()


def detect_format(data: bytes, filename: str | None = None) -> str:
    """Name the format of ``data``: one of the registered formats (:func:`registry.names`).

    Magic bytes win over the extension (a PDF named ``notes.txt`` is a PDF); the extension
    decides among the text formats; content sniffing decides when there is no extension.

    Raises:
        UnsupportedFormat: binary content none of the parsers can read.
    """
    return sniff(data, filename).format


def sniff(data: bytes, filename: str | None = None) -> Sniffed:
    """Like :func:`detect_format`, keeping the decoded text and loaded JSON for the parser.

    The precedence rules are those of :mod:`indexflow.parsers.registry` (module docstring).
    """
    name = display_name(filename)
    ext = extension(filename)
    claim = registry.by_extension(ext)
    trust = claim.trust_for(ext) if claim is not None else Confidence.NONE
    probe = Probe(data, ext, claim.name if claim is not None else None)
    formats = registry.formats()
    # 1. Binary signatures, on the raw bytes: they win whatever the name says.
    for fmt in formats:
        if fmt.binary:
            match = _run(fmt, probe)
            if match is not None and match.confidence > Confidence.NONE:
                return Sniffed(fmt.name, None, match.value)
            if match is not None and fmt is claim:
                claim = None
    # 2. Refusals.
    if data.startswith(_ZIP_MAGIC):
        raise UnsupportedFormat(f"{name}: a zip archive that is not a Word .docx document")
    if data.startswith(_OLE_MAGIC):
        raise UnsupportedFormat(
            f"{name}: legacy Microsoft Office file (.doc/.xls/.ppt) is not supported; save it as .docx"
        )
    if looks_binary(data):
        if claim is not None and claim.binary:
            return Sniffed(claim.name)  # damaged file: its parser explains what is wrong with it
        raise UnsupportedFormat(
            f"{name}: binary content that is not {_binary_labels(formats)} (unsupported format)"
        )
    # 3. Text sniffers: the most confident match (first registered on a tie).
    best: tuple[Format, Match] | None = None
    for fmt in formats:
        if fmt.binary:
            continue
        match = _run(fmt, probe)
        if match is None:
            continue
        if match.confidence == Confidence.NONE:
            if fmt is claim:
                claim = None  # e.g. JSON data that is not a component tree, named .json
        elif best is None or match.confidence > best[1].confidence:
            best = (fmt, match)
            if match.confidence == Confidence.CERTAIN and match.confidence > trust:
                break  # nothing can beat it, and it beats the claim whatever other sniffers say
    # 4. The extension's claim, unless a match is more confident than the claim is trusted.
    if claim is not None and (best is None or best[1].confidence <= trust):
        value = best[1].value if best is not None and best[0] is claim else None
        return Sniffed(claim.name, None if claim.binary else probe.text, value)
    if best is not None:
        return Sniffed(best[0].name, probe.text, best[1].value)
    if registry.FALLBACK_FORMAT not in registry.names():
        raise UnsupportedFormat(f"{name}: no registered format reads this text")
    return Sniffed(registry.FALLBACK_FORMAT, probe.text)


def sniff_pdf(probe: Probe) -> Match | None:
    """PDF: a ``%PDF-`` header within the first KiB (some producers put junk before it)."""
    return _CERTAIN if b"%PDF-" in probe.data[:1024] else None


def sniff_docx(probe: Probe) -> Match | None:
    """DOCX: a zip archive holding ``word/document.xml``, or any zip named ``.docx``."""
    if probe.data.startswith(_ZIP_MAGIC) and (probe.claimed == "docx" or b"word/document.xml" in probe.data):
        return _CERTAIN
    return None


def sniff_html(probe: Probe) -> Match | None:
    """HTML: a whole page (doctype or ``<html>`` first) is certain; early page tags are likely."""
    if looks_html(probe.start, strict=True):
        return _CERTAIN
    return Match(Confidence.LIKELY) if looks_html(probe.start) else None


def sniff_json(probe: Probe) -> Match | None:
    """JSON component trees (strong), other JSON objects and arrays (weak), with the loaded value.

    Other JSON data (a config, a manifest) is flattened into key paths by the JSON parser
    (``indexflow.parsers.json_data``); weak, so a ``.txt``/``.md`` name still reads it as text.
    Broken JSON gets no opinion: named ``.json`` it goes to the JSON parser for a precise error.
    """
    if not probe.start.startswith(("{", "[")):
        return None
    value, ok = _load_json(probe.text)
    if not ok or not isinstance(value, dict | list):
        return None
    return Match(Confidence.STRONG if looks_like_component_tree(value) else Confidence.WEAK, value)


def sniff_markdown(probe: Probe) -> Match | None:
    """Markdown: an ATX heading, a code fence or a setext heading in the first 64 Ki characters."""
    return Match(Confidence.WEAK) if _MARKDOWN_RE.search(probe.text[:65536]) else None


_CERTAIN = Match(Confidence.CERTAIN)


def _run(fmt: Format, probe: Probe) -> Match | None:
    sniffer = fmt.load_sniffer()
    return None if sniffer is None else sniffer(probe)


def _binary_labels(formats: tuple[Format, ...]) -> str:
    labels = [fmt.label for fmt in formats if fmt.binary]
    if not labels:
        return "a supported format"
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"


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
    except Exception:  # noqa: BLE001 - a guesser failure must not fail the document: fall back below
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
