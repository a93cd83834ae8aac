"""The format registry: everything about one document format, in one place.

A :class:`Format` owns a format's name, its label for error messages, the file extensions it
claims, its content sniffer and its parser. Detection (:func:`indexflow.parsers.detect.sniff`),
parsing (:func:`indexflow.parsers.parse`) and folder walks (:func:`indexflow.sources.expand`)
all read this registry; nothing else lists formats or extensions.

Where the built-in formats are registered: in the one :data:`BUILTIN_FORMATS` tuple at the end
of this module. We chose one table over parser modules that register themselves because the
parser modules are imported lazily: ``parser`` and ``sniff`` may be ``"module:attr"``
references, imported on first use, so ``import indexflow.parsers`` (and a folder walk) loads no
parser module and no vendor library (pypdf, python-docx, bs4, markdown-it). Self-registration
would import every parser module up front; the table also shows every extension claim and
every precedence setting side by side. Adding a format is one new module plus one entry in
:data:`BUILTIN_FORMATS` (see CONTRIBUTING.md, "Add a document format"). Code outside the
package (a plug-in, a test) calls :func:`register` instead, or :func:`registered` to undo it.

How detection decides, highest precedence first (implemented in
:func:`indexflow.parsers.detect.sniff`):

1. The sniffer of a *binary* format matching the raw bytes (``%PDF-`` early on, a zip holding
   ``word/document.xml``): whatever the file name says. Binary formats are tried in
   registration order.
2. Refusals: other zip archives, legacy OLE Office files, and other binary content, unless the
   extension claims a binary format (a damaged PDF goes to the PDF parser, which explains).
3. On the decoded text, every text format's sniffer runs; the most confident :class:`Match`
   wins (ties: the format registered first). It overrides the extension's claim only when it
   is *more* confident than :attr:`Format.trust` (``NONE`` for :attr:`Format.hint_extensions`).
   A sniffer answering :data:`REJECT` drops the claim of its own format's extension.
4. The extension's claim; else the best match; else plain text (:data:`FALLBACK_FORMAT`).

The built-in settings reproduce the historic rules: a whole HTML page (``CERTAIN``) beats any
name; a ``.html``/``.md`` name (trust ``STRONG``) beats a JSON component tree (``STRONG``); a
component tree beats a ``.json`` name's trust (``LIKELY``), which beats HTML tags found early
(``LIKELY``); those beat ``.txt``/``.pdf``/``.docx`` names (trust ``WEAK``), which beat
Markdown-looking headings and other JSON data (``WEAK``); ``.csv``/``.log``/``.rst``… only hint
at text.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from indexflow.domain.components import ParsedDocument
    from indexflow.parsers.base import Limits
    from indexflow.parsers.detect import Probe, Sniffed

FALLBACK_FORMAT = "text"
"""The format of decodable text that no extension claims and no sniffer recognises."""


class Confidence(IntEnum):
    """How sure a sniffer is, and how far an extension claim is trusted (:attr:`Format.trust`)."""

    NONE = 0  # a match: the content is *not* this format; a trust: the extension is only a hint
    WEAK = 1  # a hint in otherwise plain text (Markdown-looking headings)
    LIKELY = 2  # telling markup early on (an <html>, <head> or <body> tag)
    STRONG = 3  # structure that is hard to produce by accident (a JSON component tree)
    CERTAIN = 4  # proof: magic bytes, a whole HTML page; no file name overrides it


@dataclass(frozen=True, slots=True)
class Match:
    """A sniffer's answer: its confidence and, optionally, what it already loaded.

    ``value`` reaches the parser as :attr:`Sniffed.value <indexflow.parsers.detect.Sniffed>`, so
    a parser need not load the document twice (the JSON sniffer hands on the loaded JSON).
    """

    confidence: Confidence
    value: object = None


REJECT = Match(Confidence.NONE)
"""A sniffer's answer for content that proves it is not this format (e.g. JSON that is not a
component tree): an extension claiming this format is then ignored."""


class Parser(Protocol):
    """The signature every parser shares: bytes in, component tree out, pure.

    ``filename`` only prefixes error messages; ``sniffed`` holds what detection already decoded
    or loaded. Failures leave as :mod:`indexflow.errors` classes; anything else is wrapped in a
    ParseError by :func:`indexflow.parsers.parse`.
    """

    def __call__(
        self, data: bytes, filename: str | None, limits: Limits, sniffed: Sniffed, /
    ) -> ParsedDocument: ...


class Sniffer(Protocol):
    """Recognise a format from content: a :class:`Match`, :data:`REJECT`, or None (no opinion).

    A binary format's sniffer sees only ``probe.data`` (it runs before the binary check); a text
    format's sniffer may read ``probe.text`` and ``probe.start`` (decoded once, shared).
    """

    def __call__(self, probe: Probe, /) -> Match | None: ...


@dataclass(frozen=True, slots=True)
class Format:
    """One document format.

    Attributes:
        name: the format name stored on documents (``ParsedDocument.format``), e.g. "markdown".
        label: the name used in error messages, e.g. "Markdown".
        extensions: extensions that claim this format (no dot, any case: normalised), trusted
            up to ``trust``. Folder walks pick them up.
        parser: the :class:`Parser`, or a lazy reference to it: ``"package.module"`` (its
            ``parse``) or ``"package.module:function"``, imported on first use.
        sniff: the :class:`Sniffer`, a lazy ``"package.module:function"`` reference, or None
            (recognised by extension only).
        binary: a binary container (PDF, DOCX): its sniffer runs on the raw bytes before
            anything else, and binary content named with its extension goes to its parser.
        trust: a sniffer match for another format overrides this format's extensions only when
            it is more confident than this.
        hint_extensions: extensions a folder walk picks up that only hint at this format: any
            sniffer match overrides them (trust NONE), as if the file had no extension.
    """

    name: str
    label: str
    extensions: tuple[str, ...]
    parser: Parser | str
    _: KW_ONLY
    sniff: Sniffer | str | None = None
    binary: bool = False
    trust: Confidence = Confidence.STRONG
    hint_extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not self.label:
            raise ValueError("a format needs a name and a label")
        extensions = _normalized(self.name, self.extensions)
        hints = _normalized(self.name, self.hint_extensions)
        both = set(extensions) & set(hints)
        if both:
            raise ValueError(f"format {self.name!r}: {sorted(both)} are both extensions and hints")
        object.__setattr__(self, "extensions", extensions)
        object.__setattr__(self, "hint_extensions", hints)

    @property
    def all_extensions(self) -> tuple[str, ...]:
        """Every extension of this format, claims first, then hints."""
        return self.extensions + self.hint_extensions

    @property
    def suffixes(self) -> tuple[str, ...]:
        """The extensions as path suffixes (".md"), as a folder walk compares them."""
        return tuple(f".{ext}" for ext in self.all_extensions)

    def trust_for(self, ext: str) -> Confidence:
        """How far a file name with extension ``ext`` (one of ours) is trusted to be this format."""
        return self.trust if _normalize(ext) in self.extensions else Confidence.NONE

    def load_parser(self) -> Parser:
        """The parser, imported now if it is a reference (ImportError/AttributeError if wrong)."""
        return _load_parser(self.parser) if isinstance(self.parser, str) else self.parser

    def load_sniffer(self) -> Sniffer | None:
        """The sniffer (imported now if it is a reference), or None."""
        return _load_sniffer(self.sniff) if isinstance(self.sniff, str) else self.sniff


_lock = threading.RLock()
_formats: dict[str, Format] = {}  # insertion order is precedence order on ties
_by_extension: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    """Add ``fmt`` to the registry and return it.

    Raises:
        ValueError: a format of that name is registered, or one of its extensions is claimed
            by another format (nothing is registered then).
    """
    with _lock:
        if fmt.name in _formats:
            raise ValueError(f"format {fmt.name!r} is already registered")
        taken = {ext: _by_extension[ext].name for ext in fmt.all_extensions if ext in _by_extension}
        if taken:
            owners = ", ".join(f".{ext} ({owner})" for ext, owner in sorted(taken.items()))
            raise ValueError(f"format {fmt.name!r}: extensions already registered: {owners}")
        _formats[fmt.name] = fmt
        for ext in fmt.all_extensions:
            _by_extension[ext] = fmt
    return fmt


def unregister(name: str) -> Format:
    """Remove the format called ``name`` and return it.

    Raises:
        KeyError: no format of that name is registered.
    """
    with _lock:
        fmt = get(name)
        del _formats[name]
        for ext in fmt.all_extensions:
            del _by_extension[ext]
    return fmt


@contextmanager
def registered(fmt: Format) -> Iterator[Format]:
    """Register ``fmt`` for the duration of a ``with`` block (tests, temporary plug-ins)."""
    register(fmt)
    try:
        yield fmt
    finally:
        unregister(fmt.name)


def get(name: str) -> Format:
    """The format called ``name``.

    Raises:
        KeyError: no format of that name is registered.
    """
    fmt = _formats.get(name)
    if fmt is None:
        raise KeyError(f"no format named {name!r} (registered: {', '.join(names())})")
    return fmt


def formats() -> tuple[Format, ...]:
    """Every registered format, in registration order."""
    with _lock:
        return tuple(_formats.values())


def names() -> tuple[str, ...]:
    """The names of the registered formats, in registration order."""
    return tuple(fmt.name for fmt in formats())


def by_extension(ext: str) -> Format | None:
    """The format that ``ext`` ("md", ".md" or ".MD") belongs to, claim or hint; None if none."""
    return _by_extension.get(_normalize(ext)) if ext else None


def indexable_suffixes() -> frozenset[str]:
    """Every registered extension as a path suffix (".md"): what a folder walk picks up."""
    return frozenset(suffix for fmt in formats() for suffix in fmt.suffixes)


def _normalize(ext: str) -> str:
    return ext.strip().lstrip(".").lower()


def _normalized(name: str, extensions: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(extensions, str):  # ("md") instead of ("md",): a classic slip
        raise TypeError(f"format {name!r}: extensions must be a tuple of strings, not a string")
    out = tuple(dict.fromkeys(_normalize(ext) for ext in extensions))
    if any(not ext or "/" in ext or "." in ext for ext in out):
        raise ValueError(f"format {name!r}: invalid extension in {extensions!r}")
    return out


def _split_reference(ref: str, default_attr: str) -> tuple[str, str]:
    module, _, attr = ref.partition(":")
    return module, attr or default_attr


@functools.cache
def _load_parser(ref: str) -> Parser:
    module, attr = _split_reference(ref, "parse")
    parser: Parser = getattr(importlib.import_module(module), attr)
    if not callable(parser):
        raise TypeError(f"parser reference {ref!r} is not callable")
    return parser


@functools.cache
def _load_sniffer(ref: str) -> Sniffer:
    module, attr = _split_reference(ref, "sniff")
    sniffer: Sniffer = getattr(importlib.import_module(module), attr)
    if not callable(sniffer):
        raise TypeError(f"sniffer reference {ref!r} is not callable")
    return sniffer


_DETECT = "indexflow.parsers.detect"

# The built-in formats, in precedence order for ties. A new format: one entry here.
BUILTIN_FORMATS: tuple[Format, ...] = (
    Format(
        "text",
        "text",
        ("txt", "text"),
        "indexflow.parsers.text",
        trust=Confidence.WEAK,
        hint_extensions=("csv", "log", "org", "adoc", "rst"),
    ),
    Format(
        "markdown",
        "Markdown",
        ("md", "markdown", "mdown", "mkd", "mkdn"),
        "indexflow.parsers.markdown",
        sniff=f"{_DETECT}:sniff_markdown",
    ),
    Format("html", "HTML", ("html", "htm", "xhtml"), "indexflow.parsers.html", sniff=f"{_DETECT}:sniff_html"),
    Format(
        "pdf",
        "PDF",
        ("pdf",),
        "indexflow.parsers.pdf",
        sniff=f"{_DETECT}:sniff_pdf",
        binary=True,
        trust=Confidence.WEAK,
    ),
    Format(
        "docx",
        "DOCX",
        ("docx",),
        "indexflow.parsers.docx",
        sniff=f"{_DETECT}:sniff_docx",
        binary=True,
        trust=Confidence.WEAK,
    ),
    Format(
        "json",
        "JSON",
        ("json",),
        "indexflow.parsers.json_tree",
        sniff=f"{_DETECT}:sniff_json",
        trust=Confidence.LIKELY,
    ),
)

for _builtin in BUILTIN_FORMATS:
    register(_builtin)
del _builtin
