"""Shared parser plumbing: limits, text cleaning and the tree builder every parser fills.

Parsers never assemble ``Component`` objects themselves. They call :meth:`TreeBuilder.add` in
document order and :meth:`TreeBuilder.finish` turns the nodes into a preorder list with unique
ids, positions ``0..n-1`` per parent and readable paths. Everything here is iterative: trees can
be 100,000 levels deep and Python recursion would overflow long before that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from indexflow.domain.components import Component, ParsedDocument
from indexflow.errors import InputTooLarge, ParseError

LABEL_MAX_CHARS = 60
TITLE_MAX_CHARS = 300
# A path keeps its first and last labels; the middle of a very deep path is elided so path
# strings stay short (and memory stays linear) however deep the tree is.
PATH_HEAD = 4
PATH_TAIL = 8
PATH_SEPARATOR = " / "
PATH_ELISION = "…"

# Short labels for nodes that have no heading of their own ("p3", "list2", "code1").
KIND_LABELS = {"paragraph": "p", "list_item": "item", "blockquote": "quote"}

_WS_RE = re.compile(r"\s+")
# A NUL run between two visible characters stands for a separator ("grazing\x00end").
_NUL_BETWEEN_RE = re.compile(r"(?<=\S)\x00+(?=\S)")
# A node waiting to be emitted: (handle, position, label, path head, path tail, path length).
_Frame = tuple[int, int, str, tuple[str, ...], tuple[str, ...], int]


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on outside input, passed down from :func:`indexflow.parsers.parse`."""

    max_bytes: int = 200_000_000
    max_pages: int = 5000
    max_depth: int = 100_000
    max_components: int = 2_000_000


def display_name(filename: str | None) -> str:
    """The name used at the start of error messages."""
    return filename or "document"


def drop_nuls(text: str) -> str:
    """``text`` without NUL bytes, which databases reject.

    A NUL run between two visible characters becomes one space, so words it separated stay
    apart ("grazing\x00end" is "grazing end"); others (next to whitespace, at the ends) go.
    Text interleaved with NULs (a wide encoding read byte by byte) loses them instead.
    """
    if "\x00" not in text:
        return text
    if len(text) <= 16 or text.count("\x00") * 4 < len(text):
        text = _NUL_BETWEEN_RE.sub(" ", text)
    return text.replace("\x00", "")


def clean_text(text: str) -> str:
    """Drop NUL bytes (``drop_nuls``) and lone surrogates, which databases and tokenizers reject."""
    text = drop_nuls(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def has_text(text: str) -> bool:
    """True when ``text`` holds anything but whitespace (without copying it like strip())."""
    return bool(text) and not text.isspace()


def collapse_ws(text: str) -> str:
    """Collapse every whitespace run (newlines included) to one space and strip the ends."""
    return _WS_RE.sub(" ", text).strip()


def shorten(text: str, limit: int = LABEL_MAX_CHARS) -> str:
    """One-line ``text`` cut at a word boundary to at most ``limit`` characters (plus "…")."""
    text = collapse_ws(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def clean_title(title: Any) -> str | None:
    """A title fit for ``ParsedDocument.title``, or None when it is empty (glyphs dropped)."""
    if not isinstance(title, str):
        return None
    title = shorten(clean_heading(clean_text(title)), TITLE_MAX_CHARS)
    return title or None


# Header-link anchors and navigation glyphs that documentation generators put next to a
# heading: Sphinx/MkDocs "¶", "#", link emoji, anchor signs, zero-width and bidi marks.
# "#" only when a space sets it apart ("# Intro", "Intro #"), so "Learn C#" keeps its own.
_GLYPHS = "¶🔗⚓∞⁋❡⇗↗🔖\u200b\u200c\u200d\u2060\ufeff\u200e\u200f"
_EDGE_GLYPHS = re.compile(rf"^(?:[\s{_GLYPHS}]|#+(?=\s))+|(?:[\s{_GLYPHS}]|(?<=\s)#+)+$")
# Pandoc/kramdown heading attributes: "Install {#install .unnumbered}".
_ATTRIBUTES = re.compile(r"\s*\{[#.][^{}]*\}\s*$")


def is_glyphs(text: str) -> bool:
    """True when ``text`` holds nothing but header-link glyphs, "#" and whitespace."""
    return not re.sub(rf"[\s#{_GLYPHS}]+", "", text)


def clean_heading(text: str) -> str:
    """A heading or title without header-link glyphs at its ends or a trailing ``{#id}``.

    ``"Annotations Best Practices¶"`` → ``"Annotations Best Practices"``; "#" goes only when
    a space sets it apart ("# Intro"), so "Learn C#" keeps it.
    """
    text = _ATTRIBUTES.sub("", text)
    stripped = _EDGE_GLYPHS.sub("", text)
    # "#" alone is a heading about "#": keep a heading that would become empty.
    return stripped if stripped else text.strip()


class _Node:
    __slots__ = ("children", "depth", "ident", "kind", "label", "parent", "text")

    def __init__(
        self, kind: str, text: str, parent: int | None, label: str | None, ident: str | None, depth: int
    ) -> None:
        self.kind = kind
        self.text = text
        self.parent = parent
        self.label = label
        self.ident = ident
        self.depth = depth
        self.children: list[int] = []


class TreeBuilder:
    """Collects nodes in document order and emits a valid preorder component list.

    Args:
        fmt: the format name stored on the ParsedDocument.
        limits: the caps to enforce while nodes are added.
        filename: used in error messages only.
        prune_empty: drop nodes with no text and no (kept) children, e.g. an empty ``<ul>``.
    """

    def __init__(self, fmt: str, limits: Limits, filename: str | None, *, prune_empty: bool = True):
        self.fmt = fmt
        self.limits = limits
        self.name = display_name(filename)
        self.prune_empty = prune_empty
        self._nodes: list[_Node] = []
        self._roots: list[int] = []

    def add(
        self,
        parent: int | None,
        kind: str,
        text: str = "",
        *,
        label: str | None = None,
        ident: str | None = None,
    ) -> int:
        """Append a node as the last child of ``parent`` (None: top level) and return its handle.

        Raises:
            ParseError: the tree would be deeper than ``limits.max_depth``.
            InputTooLarge: the document has more than ``limits.max_components`` nodes.
        """
        depth = 1 if parent is None else self._nodes[parent].depth + 1
        if depth > self.limits.max_depth:
            raise ParseError(f"{self.name}: tree is deeper than {self.limits.max_depth} levels")
        if len(self._nodes) >= self.limits.max_components:
            raise InputTooLarge(
                f"{self.name}: more than {self.limits.max_components} components in one document"
            )
        handle = len(self._nodes)
        self._nodes.append(
            _Node(
                kind,
                clean_text(text),
                parent,
                label and clean_text(label),
                ident and clean_text(ident),
                depth,
            )
        )
        (self._roots if parent is None else self._nodes[parent].children).append(handle)
        return handle

    def text(self, handle: int) -> str:
        return self._nodes[handle].text

    def set_text(self, handle: int, text: str) -> None:
        self._nodes[handle].text = clean_text(text)

    def has_children(self, handle: int) -> bool:
        return bool(self._nodes[handle].children)

    def kind(self, handle: int) -> str:
        return self._nodes[handle].kind

    def __len__(self) -> int:
        return len(self._nodes)

    def finish(self, title: str | None = None, metadata: dict[str, Any] | None = None) -> ParsedDocument:
        """Emit the components in preorder.

        Raises:
            ParseError: no node carries any text ("document has no text").
        """
        nodes = self._nodes
        keep = self._kept()
        components: list[Component] = []
        stack: list[_Frame] = []
        self._push_children(stack, self._roots, keep, (), (), 0)
        while stack:
            handle, position, label, head, tail, length = stack.pop()
            node = nodes[handle]
            if len(head) < PATH_HEAD:
                head = (*head, label)
            else:
                tail = (*tail, label)[-PATH_TAIL:]
            length += 1
            ident = node.ident if node.ident is not None else f"c{len(components)}"
            parent_id = None if node.parent is None else nodes[node.parent].ident
            path = PATH_SEPARATOR.join(head)
            if tail:
                gap = [PATH_ELISION] if length > PATH_HEAD + PATH_TAIL else []
                path = PATH_SEPARATOR.join([path, *gap, *tail])
            components.append(Component(ident, parent_id, position, node.kind, node.text, path))
            node.ident = ident  # children look their parent's id up here
            self._push_children(stack, node.children, keep, head, tail, length)
        if not any(has_text(c.text) for c in components):
            raise ParseError(f"{self.name}: document has no text")
        return ParsedDocument(
            format=self.fmt, components=components, title=title, metadata=dict(metadata or {})
        )

    def _kept(self) -> list[bool]:
        nodes = self._nodes
        if not self.prune_empty:
            return [True] * len(nodes)
        keep = [False] * len(nodes)
        # Children always have larger handles than their parent, so one backward sweep sees
        # every child before its parent: a postorder without recursion.
        for handle in range(len(nodes) - 1, -1, -1):
            node = nodes[handle]
            if keep[handle] or has_text(node.text):
                keep[handle] = True
                if node.parent is not None:
                    keep[node.parent] = True
        return keep

    def _push_children(
        self,
        stack: list[_Frame],
        children: list[int],
        keep: list[bool],
        head: tuple[str, ...],
        tail: tuple[str, ...],
        length: int,
    ) -> None:
        counts: dict[str, int] = {}
        entries: list[_Frame] = []
        for handle in children:
            if not keep[handle]:
                continue
            node = self._nodes[handle]
            counts[node.kind] = counts.get(node.kind, 0) + 1
            label = node.label or f"{KIND_LABELS.get(node.kind, node.kind)}{counts[node.kind]}"
            entries.append((handle, len(entries), shorten(label) or node.kind, head, tail, length))
        stack.extend(reversed(entries))
