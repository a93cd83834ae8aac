"""DOCX (python-docx): Title/Heading styles → sections; paragraphs, list items and tables in order."""

from __future__ import annotations

import functools
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from indexflow.domain.components import ParsedDocument
from indexflow.errors import IndexflowError, InputTooLarge, ParseError
from indexflow.parsers.base import Limits, TreeBuilder, clean_title, collapse_ws, display_name
from indexflow.parsers.detect import Sniffed

if TYPE_CHECKING:
    from docx.text.paragraph import Paragraph

# Zip bomb guards, checked on the central directory before anything is decompressed. Python's
# zipfile never inflates a member past its declared size, so the declared sizes are a bound: at
# most MAX_EXPANSION times the largest document accepted (``Limits.max_bytes``, set from
# INDEXFLOW_MAX_DOCUMENT_BYTES), and never more than MAX_UNCOMPRESSED_BYTES.
MAX_UNCOMPRESSED_BYTES = 500_000_000
MAX_EXPANSION = 5
MAX_MEMBERS = 10_000
_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

_HEADING_RE = re.compile(r"heading\s*([1-9])")
_LIST_STYLE_RE = re.compile(r"list (?:bullet|number|paragraph)(?:\s*([2-9]))?")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_P, _TBL, _SDT, _SDT_CONTENT, _CUSTOM_XML = (
    f"{_W}p",
    f"{_W}tbl",
    f"{_W}sdt",
    f"{_W}sdtContent",
    f"{_W}customXml",
)
# What the walk visits among a container's children, in document order: paragraphs that may
# hold text (only w:t and w:noBreakHyphen survive Paragraph.text.strip(); tabs and breaks are
# whitespace), tables, and content controls to enter. Selected by lxml's XPath, so a million
# empty paragraphs cost no Python object each.
_WALKED = "./w:p[.//w:t or .//w:noBreakHyphen] | ./w:tbl | ./w:sdt | ./w:customXml | ./w:sdtContent"


def check_zip(data: bytes, name: str, max_bytes: int | None = None) -> None:
    """Refuse non-zips (ParseError) and archives that unpack too large (InputTooLarge).

    ``max_bytes`` (the largest document accepted) caps the declared unpacked size at
    ``MAX_EXPANSION * max_bytes``, and MAX_UNCOMPRESSED_BYTES caps it in any case.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ParseError(f"{name}: not a valid .docx file (not a zip archive: {exc})") from exc
    if len(infos) > MAX_MEMBERS:
        raise InputTooLarge(f"{name}: zip archive has {len(infos)} members (limit {MAX_MEMBERS})")
    limit = MAX_UNCOMPRESSED_BYTES
    if max_bytes is not None:
        limit = min(limit, MAX_EXPANSION * max_bytes)
    total = sum(info.file_size for info in infos)
    if total > limit:
        raise InputTooLarge(f"{name}: unpacks to {total} bytes, over the limit of {limit} (zip bomb?)")


def check_elements(data: bytes, name: str, limit: int) -> None:
    """Refuse a package whose XML holds more than ``limit`` elements, before any XML is parsed.

    Every element counts (empty paragraphs, runs, table cells, properties), not only those that
    become components: a few kilobytes of zip can hold millions of ``<w:p/>``, and python-docx
    would build all of them in memory first. Counted on the inflated bytes as they stream (start
    and empty tags: "<" not followed by "/"), so memory stays constant; comments and processing
    instructions count too, which Word writes one of per part. Members that are not XML (images)
    are skipped; a member that cannot be read is left for python-docx to report.

    Raises:
        InputTooLarge: more than ``limit`` elements.
    """
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            try:
                total += _count_tags(archive, info, limit - total)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError):
                continue
            if total > limit:
                raise InputTooLarge(
                    f"{name}: more than {limit} XML elements (every paragraph, run and table cell "
                    f"counts toward the limit of {limit} components)"
                )


def _count_tags(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> int:
    """Start and empty tags in one member (0 if it is not XML); stops once past ``budget``."""
    if info.is_dir():
        return 0
    count = 0
    with archive.open(info) as member:
        chunk = member.read(_CHUNK)
        head = chunk[:64]
        if not (head.startswith(_UTF16_BOMS) or head.removeprefix(_BOM).lstrip().startswith(b"<")):
            return 0
        previous = b""
        while chunk:
            count += chunk.count(b"<") - chunk.count(b"</")
            if previous.endswith(b"<") and chunk.startswith(b"/"):
                count -= 1  # "</" split across two chunks
            if count > budget:
                break
            previous, chunk = chunk, member.read(_CHUNK)
    return count


def parse(
    data: bytes, filename: str | None = None, limits: Limits | None = None, sniffed: Sniffed | None = None
) -> ParsedDocument:
    """Parse a Word document body, in document order, into sections, paragraphs, lists and tables.

    Raises:
        ParseError: not a zip / not a Word document / no text.
        InputTooLarge: the archive would unpack past the zip bomb limits, or its XML holds more
            elements than ``limits.max_components``.
    """
    name = display_name(filename)
    limits = limits or Limits()
    check_zip(data, name, limits.max_bytes)
    try:
        check_elements(data, name, limits.max_components)
        import docx

        document = docx.Document(io.BytesIO(data))
        builder = TreeBuilder("docx", limits, filename)
        first_heading = _Walker(document, builder).walk()
        props = _core_properties(document)
        title = clean_title(props.get("title")) or clean_title(first_heading)
        wanted = ("author", "subject", "keywords", "created", "modified")
        metadata = {key: props[key] for key in wanted if props.get(key)}
        return builder.finish(title=title, metadata=metadata)
    except IndexflowError:
        raise
    except Exception as exc:
        raise ParseError(f"{name}: could not parse DOCX: {exc or type(exc).__name__}") from exc


@dataclass(slots=True)
class _OpenList:
    indent: int
    handle: int
    last_item: int | None = None


class _Walker:
    def __init__(self, document: Any, builder: TreeBuilder) -> None:
        self.document = document
        self.b = builder
        self.sections: list[tuple[int, int]] = []  # (heading level, handle)
        self.lists: list[_OpenList] = []  # open (nested) lists, innermost last
        self.first_heading: str | None = None

    def wrap(self, element: Any) -> Paragraph:
        """A raw <w:p> as a Paragraph.

        python-docx offers no public way to wrap a raw <w:p>; the body is the parent it wants.
        """
        from docx.text.paragraph import Paragraph

        return Paragraph(element, self.document._body)

    def parent(self) -> int | None:
        return self.sections[-1][1] if self.sections else None

    def walk(self) -> str | None:
        """Visit body paragraphs and tables in document order, entering content controls.

        Paragraphs without text are skipped (they neither add text nor end a list).
        """
        walked = _walked()
        stack = [iter(walked(self.document.element.body))]
        while stack:
            element = next(stack[-1], None)
            if element is None:
                stack.pop()
            elif element.tag == _P:
                self.paragraph(self.wrap(element))
            elif element.tag == _TBL:
                self.lists.clear()
                self.b.add(self.parent(), "table", self.table_text(element))
            elif element.tag in (_SDT, _CUSTOM_XML, _SDT_CONTENT):
                stack.append(iter(walked(element)))
        return self.first_heading

    def paragraph(self, paragraph: Any) -> None:
        text = paragraph.text.strip()
        if not text:
            return  # empty paragraphs are spacing; they neither add text nor end a list
        style = _safe_style(paragraph)
        level = _heading_level(paragraph, style)
        if level is not None:
            self.lists.clear()
            if self.first_heading is None:
                self.first_heading = text
            while self.sections and self.sections[-1][0] >= level:
                self.sections.pop()
            handle = self.b.add(self.parent(), "section", text, label=text)
            self.sections.append((level, handle))
            return
        indent = _list_level(paragraph, style)
        if indent is None:
            self.lists.clear()
            self.b.add(self.parent(), "paragraph", text)
            return
        while self.lists and self.lists[-1].indent > indent:
            self.lists.pop()
        if not self.lists or self.lists[-1].indent < indent:
            # A deeper level nests under the previous item, as in Markdown and HTML lists.
            owner: int | None
            if self.lists:
                outer = self.lists[-1]
                owner = outer.last_item if outer.last_item is not None else outer.handle
            else:
                owner = self.parent()
            self.lists.append(_OpenList(indent, self.b.add(owner, "list")))
        current = self.lists[-1]
        current.last_item = self.b.add(current.handle, "list_item", text)

    def table_text(self, table: Any) -> str:
        """Rows as lines, cells joined by " | "; merged cells are written once."""
        rows = []
        for row in table.xpath("./w:tr | ./w:sdt/w:sdtContent/w:tr"):
            cells = []
            for cell in row.xpath("./w:tc | ./w:sdt/w:sdtContent/w:tc"):
                merge = cell.xpath("./w:tcPr/w:vMerge")
                if merge and merge[0].get(f"{_W}val") in (None, "continue"):
                    cells.append("")  # continuation of a vertically merged cell above
                    continue
                cells.append(collapse_ws(" ".join(self.wrap(p).text for p in cell.iter(_P))))
            if any(cells):
                rows.append(" | ".join(cells))
        return "\n".join(rows)


@functools.cache
def _walked() -> Any:
    """The compiled _WALKED (python-docx's own ``xpath`` knows no prefixes on a ``w:sdt``)."""
    from lxml import etree

    return etree.XPath(_WALKED, namespaces={"w": _W[1:-1]})


def _core_properties(document: Any) -> dict[str, str]:
    """Title, author, subject, keywords and dates from docProps/core.xml; {} when it is unreadable."""
    try:
        props = document.core_properties
        values = {key: getattr(props, key, None) for key in ("title", "author", "subject", "keywords")}
        dates = {key: getattr(props, key, None) for key in ("created", "modified")}
    except Exception:  # noqa: BLE001 - a damaged core.xml (any python-docx error) only costs the title
        return {}
    out = {key: value.strip() for key, value in values.items() if isinstance(value, str) and value.strip()}
    out.update({key: value.isoformat() for key, value in dates.items() if isinstance(value, datetime)})
    return out


def _safe_style(paragraph: Any) -> Any:
    try:
        return paragraph.style
    except Exception:  # noqa: BLE001 - dangling style ids in hand-edited files: treat as Normal
        return None


def _style_chain(style: Any) -> list[Any]:
    chain: list[Any] = []
    seen: set[int] = set()
    while style is not None and id(style) not in seen and len(chain) < 20:
        seen.add(id(style))
        chain.append(style)
        style = getattr(style, "base_style", None)
    return chain


def _heading_level(paragraph: Any, style: Any) -> int | None:
    """0 for Title, 1–9 for headings (by style name, or outline level for localized styles)."""
    name = (getattr(style, "name", None) or "").strip().lower()
    if name == "title":
        return 0
    match = _HEADING_RE.fullmatch(name)
    if match:
        return int(match.group(1))
    for element in [paragraph._p, *(s.element for s in _style_chain(style))]:
        found = element.xpath("./w:pPr/w:outlineLvl/@w:val")
        if found:
            value = str(found[0])
            return int(value) + 1 if value.isdigit() and int(value) < 9 else None
    return None


def _list_level(paragraph: Any, style: Any) -> int | None:
    """Indent level (0-based) of a list paragraph, or None for an ordinary paragraph."""
    num_id = paragraph._p.xpath("./w:pPr/w:numPr/w:numId/@w:val")
    if num_id and str(num_id[0]) == "0":
        return None  # numbering explicitly switched off for this paragraph
    if num_id:
        ilvl = paragraph._p.xpath("./w:pPr/w:numPr/w:ilvl/@w:val")
        return int(ilvl[0]) if ilvl and str(ilvl[0]).isdigit() else 0
    name = (getattr(style, "name", None) or "").strip().lower()
    match = _LIST_STYLE_RE.fullmatch(name)
    if match:
        return int(match.group(1)) - 1 if match.group(1) else 0
    if any(s.element.xpath("./w:pPr/w:numPr/w:numId") for s in _style_chain(style)):
        return 0
    return None
