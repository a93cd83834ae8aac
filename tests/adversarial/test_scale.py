"""Documents of 100,000 components, as deep chains and as one wide level: parsed and bundled
without recursion, in order, fast. Moved here from the unit tier: each builds megabytes."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

from indexflow.domain.bundler import build_bundles
from indexflow.domain.components import ParsedDocument
from indexflow.parsers import parse
from tests.unit.domain.test_bundler import node


def test_json_chain_of_100000_nodes_parses_without_recursion(
    check_tree: Callable[[ParsedDocument], None],
) -> None:
    n = 100_000
    chain = [
        {"id": i, "parent_id": i - 1 if i else None, "position": 0, "kind": "node", "text": f"n{i}"}
        for i in range(n)
    ]

    parsed = parse(json.dumps(chain[::-1]).encode(), "chain.json")

    check_tree(parsed)
    assert len(parsed.components) == n
    assert parsed.components[-1].text == f"n{n - 1}"
    assert len(parsed.components[-1].path) < 300


def test_json_node_with_100000_children_keeps_them_in_position_order(
    check_tree: Callable[[ParsedDocument], None],
) -> None:
    n = 100_000
    rows = [{"id": "root", "parent_id": None, "position": 0, "kind": "root", "text": "root"}]
    rows += [
        {"id": f"k{i}", "parent_id": "root", "position": n - i, "kind": "leaf", "text": f"leaf {i}"}
        for i in range(n)
    ]

    parsed = parse(json.dumps(rows).encode(), "wide.json")

    check_tree(parsed)
    assert parsed.components[1].id == f"k{n - 1}" and parsed.components[-1].id == "k0"


def test_a_100000_deep_chain_bundles_fast_without_recursion() -> None:
    n = 100_000
    comps = [node(str(i), str(i - 1) if i else None, 0, f"w{i}") for i in range(n)]
    started = time.perf_counter()
    bundles = build_bundles(comps, dict.fromkeys((c.id for c in comps), 1), 64)
    assert time.perf_counter() - started < 10
    assert [cid for b in bundles for cid in b.component_ids] == [str(i) for i in range(n)]
    # Ancestors' texts fill whole bundles until the deepest subtree fits on its own.
    assert all(b.token_count == 64 for b in bundles[:-2]) and len(bundles) == -(-(n - 64) // 64) + 1


def test_100000_children_of_one_node_bundle_fast_in_order() -> None:
    n = 100_000
    comps = [node("root", None, 0, "root")]
    comps += [node(f"c{i}", "root", i, f"w{i}") for i in random.Random(7).sample(range(n), n)]
    started = time.perf_counter()
    bundles = build_bundles(comps, dict.fromkeys((c.id for c in comps), 1), 64)
    assert time.perf_counter() - started < 10
    assert [cid for b in bundles for cid in b.component_ids] == ["root"] + [f"c{i}" for i in range(n)]
    assert bundles[0].component_ids[:2] == ("root", "c0")
    assert all(b.token_count == 64 for b in bundles[:-1])
