"""PDF (pypdf): pages → paragraphs; the outline (bookmarks), when present, → sections."""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

from indexflow.domain.components import ParsedDocument
from indexflow.errors import IndexflowError, InputTooLarge, ParseError
from indexflow.parsers.base import Limits, TreeBuilder, clean_title, collapse_ws, display_name
from indexflow.parsers.detect import Sniffed
from indexflow.parsers.pdf_text import drop_running_lines, page_paragraphs

NO_TEXT = "no extractable text (scanned PDF? OCR is not supported)"
# Producers' placeholders that are not real titles.
_JUNK_TITLES = frozenset({"untitled", "(anonymous)", "anonymous", "(unspecified)", "unknown", "title"})
_END = object()

log = logging.getLogger(__name__)


class _ToOurLog(logging.Handler):
    """pypdf's log lines (a warning for every small spec violation) as DEBUG lines of ours."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("pypdf: %s", record.getMessage())


def _quiet_pypdf() -> None:
    """Route the ``pypdf`` logger into ours, once: with no handler of its own, its warnings would
    reach stderr through logging's last-resort handler in a process that configured no logging."""
    pypdf_log = logging.getLogger("pypdf")
    if not any(isinstance(h, _ToOurLog) for h in pypdf_log.handlers):
        pypdf_log.addHandler(_ToOurLog())
        pypdf_log.propagate = False


_quiet_pypdf()


def parse(
    data: bytes, filename: str | None = None, limits: Limits | None = None, sniffed: Sniffed | None = None
) -> ParsedDocument:
    """Parse a PDF into ``page`` components holding ``paragraph`` children, nested under
    ``section`` components built from the outline when the PDF has one.

    Raises:
        ParseError: not a PDF, damaged, encrypted with an unknown password, or no text at all.
        InputTooLarge: more pages than ``limits.max_pages``.
    """
    limits = limits or Limits()
    name = display_name(filename)
    start = data.find(b"%PDF-", 0, 1024)
    if start == -1:
        raise ParseError(f"{name}: not a PDF file (no %PDF- header; damaged or misnamed?)")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # pypdf warns on every small spec violation: logged below
            try:
                return _parse(data[start:], filename, limits)
            finally:
                for w in caught[:20]:
                    log.debug("pypdf warning: %s (%s)", w.message, w.category.__name__)
    except IndexflowError:
        raise
    except Exception as exc:
        raise ParseError(f"{name}: could not parse PDF: {exc or type(exc).__name__}") from exc


def _parse(data: bytes, filename: str | None, limits: Limits) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    name = display_name(filename)
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            unlocked = reader.decrypt("")
        except DependencyError as exc:
            raise ParseError(
                f"{name}: PDF is AES-encrypted and the 'cryptography' package is not installed to open it"
            ) from exc
        if not unlocked:
            raise ParseError(f"{name}: PDF is encrypted and needs a password to open")
    n_pages = len(reader.pages)
    if n_pages > limits.max_pages:
        raise InputTooLarge(f"{name}: {n_pages} pages is over the limit of {limits.max_pages}")
    pages: list[list[str]] = []
    failed: list[int] = []
    first_error: Exception | None = None
    for number, page in enumerate(reader.pages, start=1):
        try:
            pages.append(page_paragraphs(page))
        except Exception as exc:  # noqa: BLE001 - one damaged page must not cost the whole document
            pages.append([])
            failed.append(number)
            first_error = first_error or exc
    pages = drop_running_lines(pages)
    if not any(pages):
        if first_error is not None:
            raise ParseError(f"{name}: could not extract text from any page: {first_error}")
        raise ParseError(f"{name}: {NO_TEXT}")
    builder = TreeBuilder("pdf", limits, filename)
    entries = _outline(reader, limits.max_components)
    if entries:
        _build_sections(builder, pages, entries)
    else:
        for index, paragraphs in enumerate(pages):
            page_node = builder.add(None, "page", label=f"page {index + 1}") if paragraphs else None
            for paragraph in paragraphs:
                builder.add(page_node, "paragraph", paragraph)
    metadata: dict[str, Any] = {"pages": n_pages, **_info(reader)}
    if failed:
        metadata["failed_pages"] = failed
    return builder.finish(title=_title(reader, entries, pages), metadata=metadata)


def _outline(reader: Any, max_entries: int) -> list[tuple[int, str, int]]:
    """Flatten the outline into (depth, title, page index) in reading order, without recursion."""
    try:
        outline = reader.outline
    except Exception:  # noqa: BLE001 - a broken outline is not worth failing for: fall back to pages
        return []
    entries: list[tuple[int, str, int]] = []
    stack: list[tuple[Any, int]] = [(iter(outline), 0)]
    page = 0
    while stack and len(entries) < max_entries:
        items, depth = stack[-1]
        item = next(items, _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append((iter(item), depth + 1))
        else:
            try:
                number = reader.get_destination_page_number(item)
            except Exception:  # noqa: BLE001 - pypdf raises anything on a bad destination; keep the page
                number = None
            # An entry without a usable target stays where the previous one pointed.
            page = number if isinstance(number, int) and number >= 0 else page
            entries.append((depth, collapse_ws(str(getattr(item, "title", "") or "")), page))
    return entries


def _key(text: str) -> str:
    return collapse_ws(text).casefold()


def _build_sections(
    builder: TreeBuilder, pages: list[list[str]], entries: list[tuple[int, str, int]]
) -> None:
    """Sections from outline entries; each section holds ``page`` nodes with its paragraphs.

    An entry starts at the paragraph on its page that carries its title (so two sections on
    one page split it correctly), else at the top of the page. That heading paragraph is
    dropped: the section's own text is the title.
    """
    anchors: list[tuple[int, int]] = []
    headings: set[tuple[int, int]] = set()
    last, last_found = (0, 0), False
    for _depth, title, page in entries:
        paragraphs = pages[page] if page < len(pages) else []
        begin = 0 if page != last[0] else last[1] + 1 if last_found else last[1]
        key = _key(title)
        anchor, last_found = (page, begin), False
        for k in range(begin, len(paragraphs)):
            candidate = _key(paragraphs[k])
            # "2.1 ASN.1 syntax" is the numbered heading of the bookmark "ASN.1 syntax".
            numbered = candidate.endswith(" " + key) and len(candidate) <= len(key) + 12
            if key and (candidate == key or candidate.startswith(key + " ") or numbered):
                anchor, last_found = (page, k), True
                if candidate == key:
                    headings.add(anchor)
                break
        last = max(anchor, last)  # keep anchors in reading order even if the outline is not
        anchors.append(last)

    stack: list[int] = []
    owner: int | None = None
    page_node: tuple[int, int] | None = None  # (page index, handle)
    next_entry = 0

    def open_until(position: tuple[int, int]) -> None:
        nonlocal next_entry, owner, page_node
        while next_entry < len(entries) and anchors[next_entry] <= position:
            depth, title, _ = entries[next_entry]
            del stack[depth:]
            owner = builder.add(stack[-1] if stack else None, "section", title, label=title or None)
            stack.append(owner)
            page_node = None
            next_entry += 1

    for index, paragraphs in enumerate(pages):
        for k, paragraph in enumerate(paragraphs):
            open_until((index, k))
            if (index, k) in headings:
                continue
            if page_node is None or page_node[0] != index:
                page_node = (index, builder.add(owner, "page", label=f"page {index + 1}"))
            builder.add(page_node[1], "paragraph", paragraph)
    open_until((len(pages), 0))


_JUNK_INFO = frozenset({"(unspecified)", "(anonymous)", "unknown", "untitled", "anonymous"})


def _info(reader: Any) -> dict[str, Any]:
    """Author, subject, keywords and dates from the document information dictionary."""
    out: dict[str, Any] = {}
    try:
        info = reader.metadata
    except Exception:  # noqa: BLE001 - an unreadable info dictionary costs only this metadata
        return out
    if info is None:
        return out
    for key, attr in (("author", "author"), ("subject", "subject"), ("keywords", "keywords")):
        try:
            value = getattr(info, attr)
        except Exception:  # noqa: BLE001 - one odd entry must not cost the others
            continue
        if isinstance(value, str) and value.strip() and value.strip().lower() not in _JUNK_INFO:
            out[key] = collapse_ws(value.replace("\x00", " ")).strip()[:500]
    for key, attr in (("created", "creation_date"), ("modified", "modification_date")):
        try:
            moment = getattr(info, attr)
        except Exception:  # noqa: BLE001 - pypdf raises on malformed PDF date strings
            continue
        if moment is not None:
            out[key] = moment.isoformat()
    return out


def _title(reader: Any, entries: list[tuple[int, str, int]], pages: list[list[str]]) -> str | None:
    try:
        raw = reader.metadata.title if reader.metadata is not None else None
    except Exception:  # noqa: BLE001 - unreadable metadata: fall back to the outline or the text
        raw = None
    title = clean_title(raw)
    if title and title.lower().startswith("microsoft word - "):
        title = clean_title(title[len("microsoft word - ") :])
    if title and title.lower() not in _JUNK_TITLES:
        return title
    # A cover page usually opens with the title; the first bookmark is often just "1 Introduction".
    first = next((paragraphs[0] for paragraphs in pages if paragraphs), "")
    if 0 < len(first) <= 150:
        return clean_title(first)
    return clean_title(entries[0][1]) if entries and entries[0][1] else None
