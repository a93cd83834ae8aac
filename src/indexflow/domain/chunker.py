"""Token windows over bundle text, with exact character spans (spec 002 §3).

Each text is tokenized once, in one batch, with offsets; windows are cut at word boundaries so that
re-tokenizing a chunk's text gives exactly its ``token_count`` tokens. Nothing is decoded back to
text: a chunk is always ``text[char_start:char_end]``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

_STEP = 16  # tokens to step through a word before asking the encoding for its bounds


class EncodingLike(Protocol):
    """One tokenized text: the per-token queries of a Hugging Face fast ``Encoding``.

    Contract: ``len()`` is the number of tokens; ``token_to_chars(i)`` is token ``i``'s
    ``(start, end)`` character span in the text; ``token_to_word(i)`` the index of the word
    (pre-token) it belongs to, or None when the tokenizer has no notion of words;
    ``word_to_tokens(w)`` the ``(first, stop)`` token range of word ``w``.
    """

    def __len__(self, /) -> int: ...
    def token_to_chars(self, token_index: int, /) -> tuple[int, int] | None: ...
    def token_to_word(self, token_index: int, /) -> int | None: ...
    def word_to_tokens(self, word_index: int, /) -> tuple[int, int] | None: ...


class TokenizerLike(Protocol):
    """What the domain needs from a tokenizer: batched encoding without special tokens.

    Contract: ``encode_batch(texts, add_special_tokens=False)`` returns one ``EncodingLike`` per
    text, in order, never truncated or padded (see ``indexflow.encoders.tokenizer``).
    """

    def encode_batch(
        self, texts: list[str], /, *, add_special_tokens: bool = ...
    ) -> Sequence[EncodingLike]: ...


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    """One chunk of a text: ``text == source[char_start:char_end]``, ``token_count`` tokens."""

    seq: int
    text: str
    token_count: int
    char_start: int
    char_end: int


def _check(chunk_size: int, chunk_overlap: int) -> None:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if not 0 <= chunk_overlap < chunk_size:
        raise ValueError(f"chunk_overlap must be in [0, chunk_size), got {chunk_overlap}")


def split_bundle(text: str, tokenizer: TokenizerLike, chunk_size: int, chunk_overlap: int) -> list[ChunkSpec]:
    """Split one text into token windows; see ``split_texts``."""
    return split_texts([text], tokenizer, chunk_size, chunk_overlap)[0]


def split_texts(
    texts: Sequence[str], tokenizer: TokenizerLike, chunk_size: int, chunk_overlap: int
) -> list[list[ChunkSpec]]:
    """Split many texts into overlapping token windows with one batched encode.

    Guarantees, for a tokenizer whose words tokenize independently (BERT WordPiece):
    ``chunk.text == text[chunk.char_start:chunk.char_end]``, non-empty, stripped of whitespace;
    re-tokenizing ``chunk.text`` gives exactly ``chunk.token_count <= chunk_size`` tokens (the
    one exception: a lone character that alone makes more tokens than a tiny ``chunk_size``, as a
    Hangul syllable makes 3); every non-whitespace character lies in some chunk (unless the text
    has no tokens at all); consecutive chunks share about ``chunk_overlap`` tokens (at most
    ``chunk_overlap`` plus the rest of the word the overlap would start in). A word longer than
    ``chunk_size`` tokens is cut into standalone pieces without overlap, each re-tokenized to
    check its count. Deterministic; the stride always advances.

    Args:
        texts: the texts to split (a text with no tokens gives ``[]``).
        tokenizer: a fast tokenizer with offsets and word ids, truncation and padding off.
        chunk_size: the most tokens per chunk (without special tokens).
        chunk_overlap: tokens shared by consecutive chunks, ``0 <= chunk_overlap < chunk_size``.

    Returns:
        One list of chunks per text, in text order, ``seq`` counting from 0 in each.

    Raises:
        ValueError: invalid ``chunk_size`` or ``chunk_overlap``.
    """
    _check(chunk_size, chunk_overlap)
    out: list[list[ChunkSpec]] = [[] for _ in texts]
    # Blank texts cannot yield chunks; leaving them out keeps the batch small.
    todo = [i for i, t in enumerate(texts) if t and not t.isspace()]
    if not todo:
        return out
    encodings = tokenizer.encode_batch([texts[i] for i in todo], add_special_tokens=False)
    for i, enc in zip(todo, encodings, strict=True):
        out[i] = _windows(texts[i], enc, tokenizer, chunk_size, chunk_overlap)
    return out


def _windows(
    text: str, enc: EncodingLike, tokenizer: TokenizerLike, size: int, overlap: int
) -> list[ChunkSpec]:
    """Cut one encoded text into word-aligned windows (token indices ``[s, e)``)."""
    n = len(enc)
    word_of = enc.token_to_word
    tokens_of = enc.word_to_tokens

    def chars(i: int) -> tuple[int, int]:
        span = enc.token_to_chars(i)
        assert span is not None, "every token of a text without special tokens has a span"
        return span

    # Bounds of the word holding token i (a tokenizer without words makes each token a word).
    # Words are a few tokens long, so stepping is cheaper than word_to_tokens, a linear scan.
    def word_start(i: int) -> int:
        w = word_of(i)
        if w is None:
            return i
        a = i
        while a > 0 and word_of(a - 1) == w:
            a -= 1
            if i - a > _STEP:
                return _tokens(tokens_of(w), i)[0]
        return a

    def word_stop(i: int) -> int:
        w = word_of(i)
        if w is None:
            return i + 1
        b = i + 1
        while b < n and word_of(b) == w:
            b += 1
            if b - i > _STEP:
                return _tokens(tokens_of(w), i)[1]
        return b

    chunks: list[ChunkSpec] = []
    s = 0
    prev_end = 0
    while s < n:
        e = n if s + size >= n else word_start(s + size)
        if e <= prev_end and s < prev_end:
            # The overlap left no room for the next word: restart at the last end instead.
            s = prev_end
            continue
        if e <= s:
            # The word starting at s has more than `size` tokens: cut it into pieces.
            stop = word_stop(s)
            lo = chars(s - 1)[1] if s > 0 else 0
            hi = chars(stop)[0] if stop < n else len(text)
            spans = [chars(t) for t in range(s, stop)]
            for a, b, count in _long_word_pieces(text, lo, hi, spans, tokenizer, size):
                chunks.append(ChunkSpec(len(chunks), text[a:b], count, a, b))
            s = prev_end = stop
            continue
        # The gaps around a window hold only characters that make no token (spaces, control
        # characters); they go to both neighbours so that no character is left out.
        a = chars(s - 1)[1] if s > 0 else 0
        b = chars(e)[0] if e < n else len(text)
        a, b = _strip(text, a, b)
        chunks.append(ChunkSpec(len(chunks), text[a:b], e - s, a, b))
        prev_end = e
        if e == n:
            break
        c = max(e - overlap, s + 1)
        start = word_start(c)
        s = start if start > s else word_stop(c)
    return chunks


def _tokens(span: tuple[int, int] | None, i: int) -> tuple[int, int]:
    assert span is not None, f"token {i}'s word has no tokens"
    return span


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    """Narrow ``[a, b)`` so the span neither starts nor ends with whitespace."""
    piece = text[a:b]
    left = piece.lstrip()
    a += len(piece) - len(left)
    b -= len(left) - len(left.rstrip())
    return a, b


def _long_word_pieces(
    text: str, lo: int, hi: int, spans: list[tuple[int, int]], tokenizer: TokenizerLike, size: int
) -> list[tuple[int, int, int]]:
    """Cut ``text[lo:hi]``, one word of more than ``size`` tokens with token ``spans``, into pieces.

    A piece that starts inside a word may tokenize differently from the same characters inside
    the word (no ``##`` continuation), so every candidate is re-tokenized; candidates run from
    the longest token-aligned one down to single characters. Characters that make no token on
    their own (NUL, a stray accent) never form a piece: they join the piece before (or after).

    Returns:
        ``(char_start, char_end, token_count)`` per piece, stripped, in order.
    """

    def count(a: int, b: int) -> int:
        return len(tokenizer.encode_batch([text[a:b]], add_special_tokens=False)[0])

    covered = sorted({c for a, b in spans for c in range(a, b)})
    cuts = sorted({a for a, _ in spans[1:] if a > lo} | {hi})
    pieces: list[tuple[int, int, int]] = []
    keep = pos = lo  # text[keep:pos] is not in any piece yet (characters without tokens)
    mi = ci = 0
    while pos < hi:
        mi = bisect_left(covered, pos, mi)
        floor = covered[mi] + 1 if mi < len(covered) else hi  # hold at least one covered char
        ci = bisect_left(cuts, floor, ci)
        ends = cuts[ci : ci + size][::-1] + [
            c + 1 for c in reversed(covered[mi : bisect_left(covered, cuts[ci] - 1)])
        ]
        best = None
        for end in ends:
            a, b = _strip(text, keep, end)
            n = count(a, b)
            if 1 <= n <= size:
                best = (a, b, n, end)
                break
            if n or best is None:  # else the shortest piece with a token: one character over size
                best = (a, b, n, end)
        assert best is not None
        a, b, n, pos = best
        if n and b > a:
            pieces.append((a, b, n))
            keep = pos
    if keep < hi and pieces:
        a, _, _ = pieces[-1]
        a, b = _strip(text, a, hi)
        pieces[-1] = (a, b, count(a, b))
    return pieces
