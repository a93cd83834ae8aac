"""HTML (beautifulsoup4 + lxml): boilerplate dropped, sections from h1–h6 and <section>/<article>."""

from __future__ import annotations

import codecs
import re
import warnings
from typing import Any

from indexflow.domain.components import ParsedDocument
from indexflow.errors import ParseError
from indexflow.parsers.base import (
    Limits,
    TreeBuilder,
    clean_heading,
    clean_title,
    collapse_ws,
    display_name,
    is_glyphs,
)
from indexflow.parsers.detect import Sniffed, decode_text

# Never content: code, styling, navigation chrome, forms and embedded media.
DROP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "nav",
        "aside",
        "form",
        "svg",
        "template",
        "iframe",
        "head",
        "footer",
        "button",
        "select",
        "input",
        "textarea",
        "option",
        "object",
        "embed",
        "canvas",
        "dialog",
        "audio",
        "video",
        "map",
        "math",
        "link",
        "meta",
    }
)
DROP_ROLES = frozenset({"navigation", "search", "complementary", "contentinfo", "dialog", "menu"})
HEADINGS = {f"h{n}": n for n in range(1, 7)}
SCOPES = frozenset({"section", "article", "main"})
BLOCKS = frozenset(
    {
        "p",
        "div",
        "body",
        "html",
        "header",
        "blockquote",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "figure",
        "figcaption",
        "address",
        "hr",
        "details",
        "summary",
        "fieldset",
        "center",
        "caption",
        "tr",
        "td",
        "th",
        "tbody",
        "thead",
        "tfoot",
        "table",
        *SCOPES,
    }
)
# A table holding these is page layout, not data: walk into it instead of flattening it.
_LAYOUT_MARKERS = frozenset({"table", "pre", "script", "style", *HEADINGS})
_CHARSET_RE = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
# Browsers read these labels as Windows-1252 (WHATWG Encoding Standard), and so do we.
_AS_CP1252 = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii"})
_CONTAINERS = ("list_item", "blockquote")


def decode_html(data: bytes, sniffed: Sniffed | None = None) -> str:
    """Decode HTML bytes: BOM / valid UTF-8 first, then a ``<meta charset>``, then guessing."""
    match = _CHARSET_RE.search(data[:4096])
    if match:
        declared = match.group(1).decode("ascii").lower()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            codec = "cp1252" if declared in _AS_CP1252 else declared
            try:
                codecs.lookup(codec)
                return data.decode(codec, errors="replace")
            except LookupError:
                pass
    if sniffed is not None and sniffed.text is not None:
        return sniffed.text
    return decode_text(data)


def parse(
    data: bytes, filename: str | None = None, limits: Limits | None = None, sniffed: Sniffed | None = None
) -> ParsedDocument:
    """Parse an HTML page into sections, paragraphs, lists, code blocks and tables.

    Raises:
        ParseError: lxml/bs4 failed, the page has no text, or the tree is too deep.
    """
    from bs4 import BeautifulSoup

    text = decode_html(data, sniffed).replace("\x00", "")
    try:
        with warnings.catch_warnings():
            # bs4 warns about XHTML ("XML parsed as HTML") and about markup that looks like a
            # URL or file name; both are fine for us and warnings are errors in our tests.
            warnings.simplefilter("ignore")
            soup = BeautifulSoup(text, "lxml")
    except Exception as exc:
        raise ParseError(f"{display_name(filename)}: could not parse HTML: {exc}") from exc
    builder = TreeBuilder("html", limits or Limits(), filename)
    first_h1 = _Walker(builder, soup).walk(main_content(soup))
    title_tag = soup.find("title")
    title = clean_title(title_tag.get_text(" ")) if title_tag is not None else None
    return builder.finish(title=title or clean_title(first_h1), metadata=_meta_tags(soup))


# <meta> names (and Open Graph / article properties) worth filtering on, by metadata key
_META_TAGS = {
    "author": "author",
    "article:author": "author",
    "description": "description",
    "keywords": "keywords",
    "date": "published",
    "dc.date": "published",
    "article:published_time": "published",
    "article:modified_time": "modified",
    "og:site_name": "site",
}


def _meta_tags(soup: Any) -> dict[str, str]:
    """Author, description, keywords, site and dates from the page's ``<meta>`` tags."""
    out: dict[str, str] = {}
    for tag in soup.find_all("meta", limit=200):
        name = str(tag.get("name") or tag.get("property") or "").strip().lower()
        key = _META_TAGS.get(name)
        content = tag.get("content")
        if key and key not in out and isinstance(content, str) and content.strip():
            out[key] = collapse_ws(content)[:500]
    return out


def main_content(soup: Any) -> Any:
    """The page's one ``<main>`` (or ``role="main"``) element when it holds most of the text,
    else the whole page.

    Documentation sites put the article in ``<main>`` and their chrome around it: menu bars
    with the site's name as an ``<h1>``, keyboard-help pop-ups, "edit this page" and
    previous/next links (mdBook, Sphinx themes, MkDocs, Docusaurus). A page whose ``<main>``
    holds under a third of its text (or that has several) is read whole.
    """
    mains = soup.find_all("main", limit=2)
    if not mains:
        mains = soup.find_all(attrs={"role": "main"}, limit=2)
    if len(mains) != 1:
        return soup
    inside = len(visible_text(mains[0]).split())
    body = soup.body or soup
    return mains[0] if inside >= 20 and inside * 3 >= len(visible_text(body).split()) else soup


class _Below:
    """Which elements hold a layout marker, and which a heading, somewhere below them.

    One backward sweep over the page answers for every element what ``tag.find(names) is not
    None`` answers for one: asking bs4 per table (or per ``<header>``) is quadratic on nested
    ones, since each ``find`` walks down to the last descendant first (264 KB of nested tables
    took 9–15 s).
    """

    def __init__(self, soup: Any) -> None:
        self.layout: set[int] = set()  # id() of the tags with a _LAYOUT_MARKERS tag below them
        self.heading: set[int] = set()  # id() of the tags with an h1–h6 below them
        # Document order puts every tag after its parent: backwards, children come first.
        for tag in reversed(soup.find_all(True)):
            parent = tag.parent
            if parent is None:
                continue
            mine, name = id(tag), tag.name
            if name in _LAYOUT_MARKERS or mine in self.layout:
                self.layout.add(id(parent))
            if name in HEADINGS or mine in self.heading:
                self.heading.add(id(parent))


class _Walker:
    """One iterative pass over the soup with enter/exit events (pages nest thousands deep)."""

    def __init__(self, builder: TreeBuilder, soup: Any) -> None:
        self.b = builder
        self.soup = soup
        self._below: _Below | None = None
        self.sections: list[tuple[int, int]] = []  # (heading level, handle)
        self.scopes: list[int] = []  # len(sections) when each <section>/<article> opened
        self.containers: list[int] = []  # lists, items, quotes: innermost last
        self.markers: dict[int, str] = {}
        self.counters: dict[int, int] = {}  # <ol> handle → next item number
        self.lines: list[list[str]] = [[]]  # inline text waiting for a block boundary
        self.first_h1: str | None = None

    def parent(self) -> int | None:
        if self.containers:
            return self.containers[-1]
        return self.sections[-1][1] if self.sections else None

    @property
    def below(self) -> _Below:
        """Computed for the whole page on first need (a page with a table or a <header>)."""
        if self._below is None:
            self._below = _Below(self.soup)
        return self._below

    def walk(self, soup: Any) -> str | None:
        from bs4.element import NavigableString, PreformattedString, Tag

        stack: list[tuple[bool, Any]] = [(True, soup)]
        while stack:
            entering, node = stack.pop()
            if not entering:
                self.leave(node)
            elif isinstance(node, Tag):
                if self.enter(node):
                    stack.append((False, node))
                    stack.extend((True, child) for child in reversed(node.contents))
            elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
                self.lines[-1].append(str(node))  # comments, CDATA and doctypes are skipped
        self.flush()
        return self.first_h1

    def enter(self, tag: Any) -> bool:
        """Handle an opening tag; True when its children should be walked."""
        name = (tag.name or "").lower()
        if self.dropped(tag, name):
            return False
        if name == "br":
            self.lines.append([])
            return False
        if name not in BLOCKS and name not in HEADINGS and name != "pre":
            return True  # inline markup: its text joins the current paragraph
        self.flush()
        if name in HEADINGS:
            self.heading(HEADINGS[name], clean_heading(collapse_ws(visible_text(tag))))
            return False
        if name == "pre":
            self.b.add(self.parent(), "code", visible_text(tag).strip("\n").rstrip())
            return False
        if name == "table" and id(tag) not in self.below.layout:
            self.b.add(self.parent(), "table", _table_text(tag))
            return False
        if name in ("ul", "ol"):
            handle = self.b.add(self.parent(), "list")
            if name == "ol":
                start = str(tag.get("start") or "1")
                self.counters[handle] = int(start) if start.isdigit() else 1
            self.containers.append(handle)
        elif name == "li":
            handle = self.b.add(self.parent(), "list_item")
            owner = self.containers[-1] if self.containers else None
            if owner is not None and owner in self.counters:
                self.markers[handle] = f"{self.counters[owner]}. "
                self.counters[owner] += 1
            else:
                self.markers[handle] = "- "
            self.containers.append(handle)
        elif name == "blockquote":
            self.containers.append(self.b.add(self.parent(), "blockquote"))
        elif name in SCOPES:
            self.scopes.append(len(self.sections))
        return True

    def leave(self, tag: Any) -> None:
        name = (tag.name or "").lower()
        if name not in BLOCKS:
            return
        self.flush()
        if name in ("ul", "ol", "li", "blockquote") and self.containers:
            self.containers.pop()
        elif name in SCOPES and self.scopes:
            del self.sections[self.scopes.pop() :]

    def dropped(self, tag: Any, name: str) -> bool:
        if is_hidden(tag, name):
            return True
        # A page-level <header> is site chrome (logo, menu) unless it carries a heading.
        return name == "header" and not self.scopes and id(tag) not in self.below.heading

    def heading(self, level: int, text: str) -> None:
        if level == 1 and self.first_h1 is None and text:
            self.first_h1 = text
        if self.containers:  # a heading inside a list item or quote reads as its text
            self.add_block(text)
            return
        floor = self.scopes[-1] if self.scopes else 0
        while len(self.sections) > floor and self.sections[-1][0] >= level:
            self.sections.pop()
        handle = self.b.add(self.parent(), "section", text, label=text or None)
        self.sections.append((level, handle))

    def flush(self) -> None:
        if len(self.lines) == 1 and not self.lines[0]:
            return  # nothing waiting (every block boundary flushes: keep it cheap)
        parts = (collapse_ws("".join(line)) for line in self.lines)
        text = "\n".join(part for part in parts if part)
        self.lines = [[]]
        if text:
            self.add_block(text)

    def add_block(self, text: str) -> None:
        where = self.parent()
        b = self.b
        # A list item or quote owns its first paragraph as its own text; later ones are children.
        if (
            where is not None
            and b.kind(where) in _CONTAINERS
            and not b.text(where)
            and not b.has_children(where)
        ):
            b.set_text(where, self.markers.pop(where, "") + text)
        else:
            b.add(where, "paragraph", text)


def is_hidden(tag: Any, name: str) -> bool:
    """True for elements that are never content: DROP_TAGS, hidden ones, navigation roles."""
    if name in DROP_TAGS:
        return True
    attrs = tag.attrs or {}
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    return str(attrs.get("role", "")).lower() in DROP_ROLES


def is_header_link(tag: Any, name: str) -> bool:
    """A heading's permalink: an ``<a>`` to ``#…`` (Sphinx/MkDocs "headerlink", Docusaurus
    "hash-link", VuePress "header-anchor", GitHub "anchor") whose text is only glyphs.

    A link that wraps the heading's words (mdBook's ``<a class="header">Title</a>``) is kept.
    """
    if name != "a":
        return False
    return str(tag.get("href") or "").startswith("#") and is_glyphs(tag.get_text())


def visible_text(tag: Any) -> str:
    """Text of ``tag`` without hidden descendants (a heading's "copy link" button, say).

    Iterative; block children and <br> are separated by whitespace, inline ones are not.
    """
    from bs4.element import NavigableString, PreformattedString, Tag

    parts: list[str] = []
    stack: list[Any] = [tag]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            name = (node.name or "").lower()
            if node is not tag and (is_hidden(node, name) or is_header_link(node, name)):
                continue
            if name == "br" or name in BLOCKS or name in HEADINGS:
                parts.append("\n")
            stack.extend(reversed(node.contents))
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            parts.append(str(node))
    return "".join(parts)


def _table_text(table: Any) -> str:
    """Rows as lines, cells joined by " | ", the caption first."""
    lines = []
    caption = table.find("caption")
    if caption is not None:
        lines.append(collapse_ws(visible_text(caption)))
    for row in table.find_all("tr"):
        cells = [collapse_ws(visible_text(cell)) for cell in row.find_all(["td", "th"], recursive=False)]
        if any(cells):
            lines.append(" | ".join(cells))
    if len(lines) <= (caption is not None):
        lines.append(collapse_ws(visible_text(table)))  # cells outside any <tr> in broken markup
    return "\n".join(line for line in lines if line)
