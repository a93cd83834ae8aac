"""Shared fixtures for the parser tests: the sample documents and a tree invariant checker."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from indexflow.domain.components import ParsedDocument, iter_preorder

DOCS = Path(__file__).resolve().parents[2] / "fixtures" / "docs"


@pytest.fixture
def docs() -> Path:
    """The folder of sample documents (tests/fixtures/docs)."""
    return DOCS


@pytest.fixture
def read_doc() -> Callable[[str], bytes]:
    """Read a sample document's bytes by file name."""
    return lambda name: (DOCS / name).read_bytes()


def assert_valid_tree(parsed: ParsedDocument) -> None:
    """The contract every parser output must meet, whatever the format."""
    components = parsed.components
    ids = [c.id for c in components]
    assert components, "a parsed document has at least one component"
    assert len(set(ids)) == len(ids), "ids are unique"
    assert all(isinstance(i, str) and i for i in ids), "ids are non-empty strings"
    seen: set[str] = set()
    positions: dict[str | None, list[int]] = defaultdict(list)
    for comp in components:
        assert comp.parent_id is None or comp.parent_id in seen, f"{comp.id} comes after its parent"
        seen.add(comp.id)
        positions[comp.parent_id].append(comp.position)
        assert "\x00" not in comp.text and "\x00" not in comp.path, "no NUL bytes anywhere"
        assert comp.path, "every component has a path"
    for parent, got in positions.items():
        assert got == list(range(len(got))), f"positions under {parent} run 0..n-1 in order"
    assert [c.id for c, _ in iter_preorder(components)] == ids, "components are in preorder"
    assert any(c.text.strip() for c in components), "a parsed document has text"


@pytest.fixture
def check_tree() -> Callable[[ParsedDocument], None]:
    """Assert the preorder/ids/positions/no-NUL invariants on a ParsedDocument."""
    return assert_valid_tree
