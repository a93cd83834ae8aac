"""Semantic bundling: group a component tree into subtree-aligned bundles (spec 002 §2).

Guarantee (subtree alignment). Bundles cut the preorder sequence of the components into
contiguous runs. In a bundle, the components whose subtree is not wholly inside it form a
parent→child chain, and every component with text that comes before one of them is its
ancestor. So a bundle reads: the own texts of a chain of ancestors (each the parent of the
next), then whole subtrees of consecutive children of the chain's last node; or, without a
chain, whole subtrees of consecutive siblings. A subtree that fits ``target_tokens`` is never
split, and a bundle exceeds ``target_tokens`` only when it holds a single text of that size
(``indexflow.domain.splitter`` then cuts that bundle into pieces, see ``pieces_of``).
Components without text go with the bundle after them (at the end, the one before), so the
sibling statements hold for the components with text.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from indexflow.domain.components import Component, iter_preorder

TITLE_CHARS = 80
JOIN = "\n\n"
"""What separates the member texts in a bundle's text."""


@dataclass(frozen=True, slots=True)
class BundleSpec:
    """A run of components bundled together; ``paths`` is aligned with ``component_ids``.

    ``text`` is the members' texts joined by ``JOIN`` from character ``text_offset`` on: the
    whole of it (offset 0), or a piece of a text too big for one bundle (see ``pieces_of``).
    """

    seq: int
    component_ids: tuple[str, ...]
    paths: tuple[str, ...]
    text: str
    token_count: int
    title: str
    text_offset: int = 0


TokenCounts = Mapping[str, int] | Callable[[list[str]], list[int]]


def build_bundles(
    components: Sequence[Component], token_counts: TokenCounts, target_tokens: int
) -> list[BundleSpec]:
    """Group a component tree into bundles of about ``target_tokens`` tokens, in preorder.

    Iterative and O(n) after the preorder walk, so 100,000-deep or 100,000-wide trees are fine.

    Args:
        components: the tree (any order; it is walked in preorder from its roots).
        token_counts: each component id's own-text token count, or a function that counts a
            batch of texts (called once). Blank texts count 0 and add no text.
        target_tokens: the budget a bundle stays within when the tree allows it.

    Returns:
        Bundles with ``seq`` 0..n-1 in preorder; ``[]`` when no component has text.

    Raises:
        ValueError: ``target_tokens`` is below 1 or a count is missing or negative.
    """
    if target_tokens < 1:
        raise ValueError(f"target_tokens must be >= 1, got {target_tokens}")
    order: list[Component] = []
    parent: list[int] = []  # index in `order` of each node's parent, -1 for roots
    stop: list[int] = []  # each node's subtree is order[i:stop[i]]
    chain: list[int] = []  # indices of the ancestors of the node being visited
    for comp, depth in iter_preorder(components):
        i = len(order)
        for closed in chain[depth:]:
            stop[closed] = i
        del chain[depth:]
        order.append(comp)
        parent.append(chain[-1] if chain else -1)
        stop.append(-1)
        chain.append(i)
    for closed in chain:
        stop[closed] = len(order)

    own = _own_counts(order, token_counts)
    prefix = [0]  # prefix[i]: tokens in order[:i]
    texted = [0]  # texted[i]: components with text in order[:i]
    for comp, count in zip(order, own, strict=True):
        prefix.append(prefix[-1] + count)
        texted.append(texted[-1] + has_text(comp))

    runs: list[tuple[int, int]] = []  # bundles as [start, end) ranges of `order`
    start = 0  # the open group is order[start:i]
    total = 0  # its token count
    owner = -2  # the parent of the group's members (last chain node for a chain)
    holds_whole = False  # whether the group holds a whole subtree (then no chain may follow)
    i, n = 0, len(order)
    while i < n:
        # A group without text is never closed: its components go with whatever follows.
        with_text = texted[i] > texted[start]
        subtree = prefix[stop[i]] - prefix[i]
        if subtree <= target_tokens:
            if with_text and (parent[i] != owner or total + subtree > target_tokens):
                runs.append((start, i))
                start, total = i, 0
            total += subtree
            owner, holds_whole = parent[i], True
            i = stop[i]
        else:
            # Too big: carry the node's own text ahead of its children (with its ancestors'
            # own texts when they all fit) and visit the children next.
            if with_text and (holds_whole or parent[i] != owner or total + own[i] > target_tokens):
                runs.append((start, i))
                start, total = i, 0
            total += own[i]
            owner, holds_whole = i, False
            i += 1
    if start < n:
        if texted[n] > texted[start] or not runs:
            runs.append((start, n))
        else:  # trailing components without text join the last bundle
            runs[-1] = (runs[-1][0], n)
    if texted[n] == 0:
        return []
    return _emit(order, prefix, runs)


def _own_counts(order: list[Component], token_counts: TokenCounts) -> list[int]:
    """Token count of each node's own text, 0 for blank texts."""
    flags = [has_text(c) for c in order]
    if callable(token_counts):
        texts = [c.text for c, t in zip(order, flags, strict=True) if t]
        counts = list(token_counts(texts)) if texts else []
        if len(counts) != len(texts):
            raise ValueError(f"the count function gave {len(counts)} counts for {len(texts)} texts")
        counted = iter(counts)
        own = [next(counted) if t else 0 for t in flags]
    else:
        try:
            own = [token_counts[c.id] if t else 0 for c, t in zip(order, flags, strict=True)]
        except KeyError as exc:
            raise ValueError(f"no token count for component {exc.args[0]!r}") from exc
    if any(count < 0 for count in own):
        raise ValueError("token counts must not be negative")
    return own


def has_text(comp: Component) -> bool:
    """Whether the component adds text to its bundle (blank texts count 0 tokens and add none)."""
    return bool(comp.text) and not comp.text.isspace()


def _emit(order: list[Component], prefix: list[int], runs: list[tuple[int, int]]) -> list[BundleSpec]:
    bundles = []
    for seq, (a, b) in enumerate(runs):
        members = order[a:b]
        texts = [c.text for c in members if has_text(c)]
        bundles.append(
            BundleSpec(
                seq=seq,
                component_ids=tuple(c.id for c in members),
                paths=tuple(c.path for c in members),
                text=JOIN.join(texts),
                token_count=prefix[b] - prefix[a],
                title=_title(texts, members),
            )
        )
    return bundles


def _title(texts: list[str], members: list[Component]) -> str:
    """The first non-blank line of the bundle's text, cut to ``TITLE_CHARS``, else a path."""
    for text in texts:
        for line in text.splitlines():
            line = " ".join(line.split())
            if line:
                return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
    return next((c.path for c in members if c.path), "")


def pieces_of(
    bundle: BundleSpec,
    members: Sequence[Component],
    spans: Sequence[tuple[int, int]],
    token_counts: Sequence[int],
    *,
    first_seq: int,
) -> list[BundleSpec]:
    """The bundles that pieces ``text[a:b]`` of ``bundle``'s text make, numbered from ``first_seq``.

    A piece's members are the members whose text it overlaps, in order; members without text
    go with the first piece after them (trailing ones with the last), as in ``build_bundles``.
    Its ``text_offset`` is where it starts in its own members' joined texts.

    Args:
        bundle: the bundle cut (``text_offset`` 0).
        members: its components, aligned with ``bundle.component_ids``.
        spans: the pieces' ``(start, end)`` in ``bundle.text``, in order, not overlapping.
        token_counts: each piece's tokens.
    """
    ends = [b for _, b in spans]
    last = len(spans) - 1
    groups: list[list[int]] = [[] for _ in spans]  # member indices of each piece
    first_text: list[int] = [-1] * len(spans)  # each piece's first member with text
    starts: list[int] = [0] * len(members)  # each member's start in the joined text
    offset = 0
    pending: list[int] = []  # members without text waiting for the next text
    for m, comp in enumerate(members):
        if not has_text(comp):
            pending.append(m)
            continue
        start, stop = offset, offset + len(comp.text)
        starts[m] = start
        offset = stop + len(JOIN)
        lo = min(bisect_right(ends, start), last)  # the first piece that ends after `start`
        hi = lo
        while hi < last and spans[hi + 1][0] < stop:
            hi += 1
        groups[lo].extend(pending)
        pending = []
        for k in range(lo, hi + 1):
            groups[k].append(m)
            if first_text[k] < 0:
                first_text[k] = m
    groups[last].extend(pending)
    out = []
    for k, ((a, b), count) in enumerate(zip(spans, token_counts, strict=True)):
        picked = sorted(groups[k])
        chosen = [members[m] for m in picked]
        text = bundle.text[a:b]
        out.append(
            BundleSpec(
                seq=first_seq + k,
                component_ids=tuple(c.id for c in chosen),
                paths=tuple(c.path for c in chosen),
                text=text,
                token_count=count,
                title=_title([text], chosen),
                text_offset=a - starts[first_text[k]] if first_text[k] >= 0 else 0,
            )
        )
    return out
