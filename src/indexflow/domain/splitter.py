"""Bundles too big for the target: cut at sentence ends, then between words, then anywhere.

``build_bundles`` never splits a component, so one component holding more text than a bundle
may (a 20 MB one-paragraph text, a 1 MB base64 line, CJK without spaces) used to become one
bundle of millions of tokens. ``fit_bundles`` cuts every bundle over ``target_tokens`` tokens
(or over ``max_chars(target_tokens)`` characters: a word the tokenizer cannot read is one
``[UNK]`` token however long it is) into pieces within both limits. Each cut is chosen in a
window of at most the target's tokens: the last sentence end in the window's second half, else
the last line break there, else the last whitespace in the window, else a hard cut at the
window's end (a token boundary where the tokenizer has one there). Every piece is a stripped
slice of the bundle text, so chunk spans keep pointing into it, and every non-whitespace
character lies in exactly one piece.

Linear: a window is scanned once by two regular expressions and located by binary search over
the token spans, and a piece cut at whitespace on both sides reuses its slice of the bundle's
encoding (``SlicedEncoding``) when the tokenizer never looks across whitespace; other pieces are
tokenized again, in one batch, and cut again with a smaller window if they came out too long.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from indexflow.domain.bundler import pieces_of

if TYPE_CHECKING:
    from indexflow.domain.bundler import BundleSpec
    from indexflow.domain.chunker import EncodingLike, TokenizerLike
    from indexflow.domain.components import Component

MAX_CHARS_PER_TOKEN = 10
"""Characters a bundle may hold per target token. English averages 4-5 characters a token and
code or URLs fewer; only text the tokenizer cannot read (long words that become ``[UNK]``)
comes near 10, and such a bundle is cut by characters."""
_ROUNDS = 6  # re-cuts of a piece that re-tokenized over the target, each with a smaller window

# The whitespace a BERT pre-tokenizer splits at (Unicode Zs, tab, CR, LF). Python's \s also has
# the \x1c-\x1f separators, which BERT drops as control characters: a cut there would split a
# word in two.
_WS = "\t\n\r \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_SPACE = re.compile(f"[{_WS}]+")
_SENTENCE_END = re.compile(
    f"[.!?\u2026]+[\"')\\]\u201d\u2019]*(?=[{_WS}])|[\u3002\uff01\uff1f]+[\u300d\u300f\u201d\u2019\uff09)]*"
)


def max_chars(target_tokens: int) -> int:
    """The most characters a bundle of ``target_tokens`` tokens may hold."""
    return target_tokens * MAX_CHARS_PER_TOKEN


class SlicedEncoding:
    """Tokens ``[first, stop)`` of an encoding, as the encoding of its text from ``offset`` on.

    Exact when the slice's text is cut at whitespace on both sides and the tokenizer never looks
    across whitespace (``indexflow.encoders.tokenizer.joins_at_whitespace``), as for
    ``JoinedEncoding``. Word numbers are the whole encoding's (the chunker only compares them
    and hands them back).
    """

    __slots__ = ("_enc", "_first", "_length", "_offset")

    def __init__(self, enc: EncodingLike, first: int, stop: int, offset: int) -> None:
        self._enc, self._first, self._length, self._offset = enc, first, stop - first, offset

    def __len__(self) -> int:
        return self._length

    def _check(self, token_index: int) -> int:
        if not 0 <= token_index < self._length:
            raise IndexError(f"token {token_index} out of range 0..{self._length - 1}")
        return self._first + token_index

    def token_to_chars(self, token_index: int, /) -> tuple[int, int] | None:
        span = self._enc.token_to_chars(self._check(token_index))
        return None if span is None else (span[0] - self._offset, span[1] - self._offset)

    def token_to_word(self, token_index: int, /) -> int | None:
        return self._enc.token_to_word(self._check(token_index))

    def word_to_tokens(self, word_index: int, /) -> tuple[int, int] | None:
        span = self._enc.word_to_tokens(word_index)
        if span is None:
            return None
        a, b = max(span[0] - self._first, 0), min(span[1] - self._first, self._length)
        return (a, b) if a < b else None


Piece = tuple[int, int, "EncodingLike"]
"""``(char_start, char_end, encoding of text[char_start:char_end])``."""


def fit_bundles(
    bundles: Sequence[BundleSpec],
    encodings: Sequence[EncodingLike],
    components: Sequence[Component],
    tokenizer: TokenizerLike,
    target_tokens: int,
    *,
    exact_slices: bool,
) -> tuple[list[BundleSpec], list[EncodingLike]]:
    """Cut each bundle over the target into pieces within it; the others pass unchanged.

    Args:
        bundles: ``build_bundles``' bundles, in order.
        encodings: each bundle text's encoding (without special tokens).
        components: the document's components (for the pieces' members).
        tokenizer: re-tokenizes the pieces that cannot reuse a slice.
        target_tokens: the most tokens a bundle may hold (the one exception: a single character
            that alone makes more tokens).
        exact_slices: slices of an encoding at whitespace are the encodings of their texts
            (``joins_at_whitespace(tokenizer)``); otherwise every piece is tokenized again.

    Returns:
        The bundles, ``seq`` renumbered 0..n-1, and the encoding of each one's text.
    """
    limit = max_chars(target_tokens)
    if all(b.token_count <= target_tokens and len(b.text) <= limit for b in bundles):
        return list(bundles), list(encodings)
    by_id = {c.id: c for c in components}
    out: list[BundleSpec] = []
    encs: list[EncodingLike] = []
    for bundle, enc in zip(bundles, encodings, strict=True):
        if bundle.token_count <= target_tokens and len(bundle.text) <= limit:
            out.append(_renumbered(bundle, len(out)))
            encs.append(enc)
            continue
        pieces = split_text(bundle.text, enc, tokenizer, target_tokens, exact_slices=exact_slices)
        members = [by_id[cid] for cid in bundle.component_ids]
        counts = [len(p[2]) for p in pieces]
        for spec in pieces_of(bundle, members, [(a, b) for a, b, _ in pieces], counts, first_seq=len(out)):
            out.append(spec)
        encs.extend(p[2] for p in pieces)
    return out, encs


def _renumbered(bundle: BundleSpec, seq: int) -> BundleSpec:
    if bundle.seq == seq:
        return bundle
    from dataclasses import replace

    return replace(bundle, seq=seq)


def split_text(
    text: str, enc: EncodingLike, tokenizer: TokenizerLike, target_tokens: int, *, exact_slices: bool
) -> list[Piece]:
    """Cut ``text`` (encoded as ``enc``) into stripped pieces of at most ``target_tokens`` tokens
    and ``max_chars(target_tokens)`` characters, in order; see the module docstring."""
    return _split(text, enc, tokenizer, target_tokens, target_tokens, exact_slices, _ROUNDS)


def _split(
    text: str, enc: EncodingLike, tokenizer: TokenizerLike, target: int, budget: int, exact: bool, rounds: int
) -> list[Piece]:
    spans = _cut(text, enc, budget, max_chars(target))
    done: list[list[Piece]] = [[] for _ in spans]
    redo: list[int] = []
    for k, (a, b, first, stop, clean) in enumerate(spans):
        if exact and clean:
            done[k] = [(a, b, SlicedEncoding(enc, first, stop, a))]
        else:
            redo.append(k)
    again = tokenizer.encode_batch([text[spans[k][0] : spans[k][1]] for k in redo], add_special_tokens=False)
    for k, piece_enc in zip(redo, again, strict=True):
        a, b = spans[k][0], spans[k][1]
        if len(piece_enc) > target and b - a > 1 and rounds > 0:
            # Cut mid-word, the piece tokenized longer than its slice: cut it again, tighter.
            sub = _split(text[a:b], piece_enc, tokenizer, target, max(1, budget * 3 // 4), exact, rounds - 1)
            done[k] = [(a + x, a + y, e) for x, y, e in sub]
        else:
            done[k] = [(a, b, piece_enc)]
    return [p for group in done for p in group]


def _cut(text: str, enc: EncodingLike, budget: int, limit: int) -> list[tuple[int, int, int, int, bool]]:
    """Pieces ``(start, end, first token, stop token, cut at whitespace on both sides)``."""
    n = len(enc)
    end = len(text)
    while end > 0 and _SPACE.match(text, end - 1):
        end -= 1
    space = _SPACE.match(text, 0)
    a = space.end() if space else 0
    clean_start = True
    t = 0
    out: list[tuple[int, int, int, int, bool]] = []
    while a < end:
        t = _first_token_at(enc, a, t, n)
        e = t + budget
        hi = end if e >= n else _start(enc, e)
        hi = max(a + 1, min(hi, a + limit))
        if hi >= end:
            piece_end = next_start = end
            clean = True
        else:
            piece_end, next_start = _cut_point(text, a, hi)
            clean = next_start > piece_end  # whitespace between the pieces
        stop = n if next_start >= end else _first_token_at(enc, next_start, t, n) if clean else t
        if not text[a:piece_end].isspace():  # a lone \x1f between spaces is no bundle
            out.append((a, piece_end, t, stop, clean_start and clean))
        a, clean_start = next_start, clean
    return out


def _cut_point(text: str, a: int, hi: int) -> tuple[int, int]:
    """Where to end a piece that starts at ``a`` and may not reach past ``hi``:
    ``(its end, the next piece's start)``."""
    last = None
    for m in _SENTENCE_END.finditer(text, a + (hi - a) // 2, min(hi + 1, len(text))):
        if m.end() <= hi:
            last = m
    if last is not None:
        gap = _SPACE.match(text, last.end())
        return last.end(), gap.end() if gap else last.end()
    newline = text.rfind("\n", a + (hi - a) // 2, hi + 1)  # lines: JSON key paths, logs, lists
    if newline > a:
        gap = _SPACE.match(text, newline)
        start = newline
        while start > a and _SPACE.match(text, start - 1):
            start -= 1
        assert gap is not None
        return start, gap.end()
    run = None
    for m in _SPACE.finditer(text, a + 1, min(hi + 1, len(text))):
        run = m
    if run is not None:
        gap = _SPACE.match(text, run.start())  # the whole run, past the window's end too
        assert gap is not None
        return run.start(), gap.end()
    return hi, hi


def _start(enc: EncodingLike, i: int) -> int:
    span = enc.token_to_chars(i)
    assert span is not None, "every token of a text without special tokens has a span"
    return span[0]


def _first_token_at(enc: EncodingLike, pos: int, lo: int, n: int) -> int:
    """The first token at or after ``lo`` that starts at or after ``pos`` (``n`` if none)."""
    hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if _start(enc, mid) < pos:
            lo = mid + 1
        else:
            hi = mid
    return lo
