"""The component tree every parser produces and every bundler consumes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Component:
    """One node of a parsed document.

    ``text`` is the node's *own* text (a heading's title, a paragraph's words), never its
    children's. ``path`` is a human-readable location built from ancestor labels, e.g.
    ``"Install / Linux / p2"``. Components of a document are kept in preorder: a parent always
    comes before its children and siblings are ordered by ``position``.
    """

    id: str
    parent_id: str | None
    position: int
    kind: str
    text: str
    path: str


@dataclass(slots=True)
class ParsedDocument:
    """What a parser returns: a title, the detected format and the component tree in preorder."""

    format: str
    components: list[Component]
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def children_index(components: Sequence[Component]) -> dict[str | None, list[Component]]:
    """Group components by parent id, each group sorted by position (stable for ties)."""
    index: dict[str | None, list[Component]] = {}
    for comp in components:
        index.setdefault(comp.parent_id, []).append(comp)
    for group in index.values():
        group.sort(key=lambda c: c.position)
    return index


def roots(components: Sequence[Component]) -> list[Component]:
    """Components whose parent is absent (None or an id not in the tree), in position order."""
    ids = {c.id for c in components}
    out = [c for c in components if c.parent_id is None or c.parent_id not in ids]
    out.sort(key=lambda c: c.position)
    return out


def iter_preorder(components: Sequence[Component]) -> Iterator[tuple[Component, int]]:
    """Yield ``(component, depth)`` in preorder, iteratively (safe for 100,000-deep trees).

    Components unreachable from a root (cycles) are never yielded; parsers must not produce them.
    """
    index = children_index(components)
    ids = {c.id for c in components}
    top = [c for c in components if c.parent_id is None or c.parent_id not in ids]
    top.sort(key=lambda c: c.position)
    stack: list[tuple[Component, int]] = [(c, 0) for c in reversed(top)]
    seen: set[str] = set()
    while stack:
        comp, depth = stack.pop()
        if comp.id in seen:
            continue
        seen.add(comp.id)
        yield comp, depth
        for child in reversed(index.get(comp.id, ())):
            stack.append((child, depth + 1))
