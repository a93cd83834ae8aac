"""Semantic bundling: subtree-aligned, preorder, full coverage, within budget, iterative."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexflow.domain.bundler import TITLE_CHARS, BundleSpec, build_bundles
from indexflow.domain.components import Component, iter_preorder
from indexflow.encoders.tokenizer import count_tokens
from tests.unit.domain.domain_strategies import n_tokens, trees, word_texts

PROPERTY = settings(max_examples=200, deadline=None)


def node(cid: str, parent: str | None, position: int, text: str) -> Component:
    return Component(cid, parent, position, "node", text, f"path/{cid}")


def has_text(comp: Component) -> bool:
    return bool(comp.text.strip())


class Tree:
    """Preorder facts about a component list, computed the slow, obvious way."""

    def __init__(self, components: list[Component]) -> None:
        self.order = [c for c, _ in iter_preorder(components)]
        self.index = {c.id: i for i, c in enumerate(self.order)}
        self.parent = {c.id: c.parent_id if c.parent_id in self.index else None for c in self.order}

    def ancestors(self, cid: str) -> set[str]:
        out, p = set(), self.parent[cid]
        while p is not None:
            out.add(p)
            p = self.parent[p]
        return out

    def subtree(self, cid: str) -> set[str]:
        return {c.id for c in self.order if c.id == cid or cid in self.ancestors(c.id)}


def check_bundles(
    components: list[Component], bundles: list[BundleSpec], counts: dict[str, int], target: int
) -> None:
    tree = Tree(components)
    # Preorder, numbered, and every component in exactly one bundle (when any has text).
    assert [b.seq for b in bundles] == list(range(len(bundles)))
    flat = [cid for b in bundles for cid in b.component_ids]
    if any(has_text(c) for c in components):
        assert flat == [c.id for c in tree.order]
    else:
        assert bundles == []
    by_id = {c.id: c for c in components}
    for b in bundles:
        members = [by_id[cid] for cid in b.component_ids]
        assert b.paths == tuple(c.path for c in members)
        assert b.text == "\n\n".join(c.text for c in members if has_text(c))
        assert b.text.strip()
        assert b.token_count == sum(counts[c.id] for c in members)
        assert 0 < len(b.title) <= TITLE_CHARS and b.title.rstrip("…") in " ".join(b.text.split())
        # Within budget unless one text alone is over it.
        if b.token_count > target:
            assert sum(1 for c in members if counts[c.id]) == 1
        # Subtree alignment: the members whose subtree is split are a parent->child chain, and
        # every text before such a member in the bundle belongs to one of its ancestors.
        inside = set(b.component_ids)
        cut = [cid for cid in b.component_ids if not tree.subtree(cid) <= inside]
        for upper, lower in itertools.pairwise(cut):
            assert tree.parent[lower] == upper
        for cid in cut:
            before = b.component_ids[: b.component_ids.index(cid)]
            assert all(p in tree.ancestors(cid) for p in before if has_text(by_id[p]))
    # A subtree that fits the budget is never split.
    home = {cid: b.seq for b in bundles for cid in b.component_ids}
    for c in tree.order:
        sub = tree.subtree(c.id)
        if sum(counts[x] for x in sub) <= target and bundles:
            assert len({home[x] for x in sub}) == 1


def real_counts(tokenizer, components: list[Component]) -> dict[str, int]:
    return {c.id: n_tokens(tokenizer, c.text) if has_text(c) else 0 for c in components}


@PROPERTY
@given(components=trees(), target=st.integers(1, 60), data=st.randoms())
def test_random_trees_bundle_aligned_in_preorder_within_budget(minilm, components, target, data) -> None:
    data.shuffle(components)  # input order must not matter, only parents and positions
    counts = real_counts(minilm, components)
    bundles = build_bundles(components, counts, target)
    check_bundles(components, bundles, counts, target)
    assert bundles == build_bundles(components, lambda texts: count_tokens(texts, minilm), target)
    assert bundles == build_bundles(list(reversed(components)), counts, target)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(word_texts.filter(str.strip), min_size=1, max_size=8))
def test_joining_texts_with_blank_lines_adds_no_wordpiece_tokens(minilm, texts: list[str]) -> None:
    assert n_tokens(minilm, "\n\n".join(texts)) == sum(count_tokens(texts, minilm))


def test_a_small_tree_stays_whole_in_one_bundle() -> None:
    comps = [node("r", None, 0, "Title"), node("a", "r", 0, "alpha"), node("b", "r", 1, "beta")]
    [bundle] = build_bundles(comps, {"r": 1, "a": 1, "b": 1}, 10)
    assert bundle.component_ids == ("r", "a", "b")
    assert (bundle.text, bundle.token_count, bundle.title) == ("Title\n\nalpha\n\nbeta", 3, "Title")


def test_headings_carry_down_into_their_first_oversized_section() -> None:
    comps = [
        node("doc", None, 0, "Guide"),
        node("s1", "doc", 0, "Install"),
        node("p1", "s1", 0, "one"),
        node("p2", "s1", 1, "two"),
        node("s2", "doc", 1, "Use"),
        node("p3", "s2", 0, "three"),
    ]
    counts = {"doc": 1, "s1": 1, "p1": 5, "p2": 5, "s2": 1, "p3": 2}
    bundles = build_bundles(comps, counts, 8)
    assert [b.component_ids for b in bundles] == [("doc", "s1", "p1"), ("p2",), ("s2", "p3")]
    check_bundles(comps, bundles, counts, 8)


def test_a_parent_text_too_big_for_its_first_child_is_a_bundle_alone() -> None:
    comps = [node("h", None, 0, "heading"), node("a", "h", 0, "a"), node("b", "h", 1, "b")]
    bundles = build_bundles(comps, {"h": 6, "a": 5, "b": 4}, 10)
    assert [b.component_ids for b in bundles] == [("h",), ("a", "b")]


def test_components_without_text_join_a_neighbouring_bundle() -> None:
    comps = [
        node("lead", None, 0, ""),
        node("big", None, 1, "x"),
        node("c1", "big", 0, "y"),
        node("c2", "big", 1, "z"),
        node("tail", None, 2, "   "),
    ]
    bundles = build_bundles(comps, {"big": 3, "c1": 3, "c2": 3}, 6)
    assert [b.component_ids for b in bundles] == [("lead", "big", "c1"), ("c2", "tail")]
    assert build_bundles([node("e", None, 0, "")], {}, 5) == []


def test_long_titles_are_cut_and_blank_lines_skipped() -> None:
    text = "\n  \n" + "word " * 40
    [bundle] = build_bundles([node("p", None, 0, text)], {"p": 40}, 100)
    assert len(bundle.title) == TITLE_CHARS and bundle.title.endswith("…")


def test_a_bad_budget_or_a_missing_count_is_rejected() -> None:
    comps = [node("p", None, 0, "text")]
    with pytest.raises(ValueError):
        build_bundles(comps, {"p": 1}, 0)
    with pytest.raises(ValueError):
        build_bundles(comps, {}, 10)
    with pytest.raises(ValueError):
        build_bundles(comps, {"p": -1}, 10)
    with pytest.raises(ValueError):
        build_bundles(comps, lambda texts: [], 10)
