"""Token windows over bundle text, with exact character spans (spec 002 §3).

Each text is tokenized once, in one batch, with offsets; windows are cut at word boundaries so that
re-tokenizing a chunk's text gives exactly its ``token_count`` tokens. Nothing is decoded back to
text: a chunk is always ``text[char_start:char_end]``. ``bundle_and_split`` goes further: it
tokenizes a document's component texts once and cuts each bundle from its members' encodings,
without tokenizing the bundle texts again.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from indexflow.domain.bundler import JOIN, BundleSpec, build_bundles, has_text
from indexflow.domain.components import Component
from indexflow.domain.splitter import fit_bundles

_STEP = 16  # tokens to step through a word before asking the encoding for its bounds
_WORD_BITS = 32  # JoinedEncoding word numbers: part index above these bits, the part's word below
_WORD_MASK = (1 << _WORD_BITS) - 1


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
    # Blank texts cannot yield chunks; leaving them out keeps the batch small.
    todo = [i for i, t in enumerate(texts) if _splittable(t)]
    encodings = tokenizer.encode_batch([texts[i] for i in todo], add_special_tokens=False) if todo else []
    given: list[EncodingLike | None] = [None] * len(texts)
    for i, enc in zip(todo, encodings, strict=True):
        given[i] = enc
    return split_encoded(texts, given, tokenizer, chunk_size, chunk_overlap)


def split_encoded(
    texts: Sequence[str],
    encodings: Sequence[EncodingLike | None],
    tokenizer: TokenizerLike,
    chunk_size: int,
    chunk_overlap: int,
) -> list[list[ChunkSpec]]:
    """``split_texts`` for texts already tokenized: the same chunks, without encoding them again.

    Args:
        texts: the texts to split.
        encodings: each text's encoding without special tokens (as
            ``tokenizer.encode_batch(texts, add_special_tokens=False)`` gives it, or a
            ``JoinedEncoding``); ``None`` for blank texts. ``tokenizer`` still re-tokenizes the
            pieces of words longer than ``chunk_size``.
        tokenizer, chunk_size, chunk_overlap: as for ``split_texts``.

    Raises:
        ValueError: invalid ``chunk_size`` or ``chunk_overlap``, or a non-blank text without
            an encoding.
    """
    _check(chunk_size, chunk_overlap)
    if len(encodings) != len(texts):
        raise ValueError(f"{len(encodings)} encodings for {len(texts)} texts")
    out: list[list[ChunkSpec]] = [[] for _ in texts]
    for i, (text, enc) in enumerate(zip(texts, encodings, strict=True)):
        if not _splittable(text):
            continue
        if enc is None:
            raise ValueError(f"text {i} is not blank but has no encoding")
        out[i] = _windows(text, enc, tokenizer, chunk_size, chunk_overlap)
    return out


def _splittable(text: str) -> bool:
    return bool(text) and not text.isspace()


class JoinedEncoding:
    """The encoding of texts joined by a separator that makes no token, built from the parts'.

    ``JoinedEncoding([(enc_a, 0), (enc_b, len(a) + 2)])`` stands for the encoding of
    ``a + "\n\n" + b``: the tokens of ``a`` then those of ``b``, with ``b``'s character spans
    shifted by its offset. That equals tokenizing the joined text only for a tokenizer that never
    looks across whitespace (BERT WordPiece; see
    ``indexflow.encoders.tokenizer.joins_at_whitespace``). Nothing is copied: each query is
    answered by the part that holds the token (word numbers are ``part << 32 | word``, distinct
    across parts; the chunker only compares them and hands them back).
    """

    __slots__ = ("_encodings", "_length", "_offsets", "_starts")

    def __init__(self, parts: Sequence[tuple[EncodingLike, int]]) -> None:
        """Join ``parts``: ``(encoding, char offset of that part in the joined text)``, in order."""
        self._encodings = [enc for enc, _ in parts]
        self._offsets = [offset for _, offset in parts]
        self._starts: list[int] = []  # index of each part's first token
        total = 0
        for enc in self._encodings:
            self._starts.append(total)
            total += len(enc)
        self._length = total

    def _part(self, token_index: int) -> tuple[int, int]:
        """``(part, token index inside it)`` of a token of the joined text."""
        if not 0 <= token_index < self._length:
            raise IndexError(f"token {token_index} out of range 0..{self._length - 1}")
        k = bisect_right(self._starts, token_index) - 1
        # Parts without tokens share their start with the next part; the last of them holds it.
        return k, token_index - self._starts[k]

    def __len__(self) -> int:
        return self._length

    def token_to_chars(self, token_index: int, /) -> tuple[int, int] | None:
        k, i = self._part(token_index)
        span = self._encodings[k].token_to_chars(i)
        if span is None:
            return None
        offset = self._offsets[k]
        return span[0] + offset, span[1] + offset

    def token_to_word(self, token_index: int, /) -> int | None:
        k, i = self._part(token_index)
        word = self._encodings[k].token_to_word(i)
        return None if word is None else (k << _WORD_BITS) | word

    def word_to_tokens(self, word_index: int, /) -> tuple[int, int] | None:
        k, word = word_index >> _WORD_BITS, word_index & _WORD_MASK
        if not 0 <= k < len(self._encodings):
            return None
        span = self._encodings[k].word_to_tokens(word)
        if span is None:
            return None
        start = self._starts[k]
        return span[0] + start, span[1] + start


@dataclass(frozen=True, slots=True)
class BundledDocument:
    """A component tree bundled and chunked: ``chunks[k]`` are the chunks of ``bundles[k]``."""

    token_counts: dict[str, int]  # each component's own-text tokens (blank texts: as tokenized)
    bundles: list[BundleSpec]
    chunks: list[list[ChunkSpec]]


def bundle_and_split(
    components: Sequence[Component],
    tokenizer: TokenizerLike,
    target_tokens: int,
    chunk_size: int,
    chunk_overlap: int,
    *,
    reuse_encodings: bool,
) -> BundledDocument:
    """Bundle a component tree and split each bundle into chunks, tokenizing each text once.

    The result is exactly ``build_bundles(components, counts, target_tokens)`` with ``counts``
    from one batched encode of the component texts, each bundle over the target (in tokens or
    in ``splitter.max_chars`` characters) cut into bundles within it
    (``indexflow.domain.splitter.fit_bundles``), and
    ``split_texts([b.text for b in bundles], tokenizer, chunk_size, chunk_overlap)``.

    Args:
        components: the document's components.
        tokenizer: the profile's tokenizer.
        target_tokens, chunk_size, chunk_overlap: the profile's bundling and chunking sizes.
        reuse_encodings: cut each bundle from its members' encodings (``JoinedEncoding``)
            instead of tokenizing the bundle text again. Only exact when the tokenizer encodes
            texts joined by whitespace as its parts end to end: pass
            ``indexflow.encoders.tokenizer.joins_at_whitespace(tokenizer)``.

    Raises:
        ValueError: invalid sizes.
    """
    _check(chunk_size, chunk_overlap)
    texts = [c.text for c in components]
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
    counts = {c.id: len(enc) for c, enc in zip(components, encodings, strict=True)}
    bundles = build_bundles(components, counts, target_tokens)
    by_id = {c.id: (c, enc) for c, enc in zip(components, encodings, strict=True)}
    joined: list[EncodingLike | None] = [None] * len(bundles)
    again: list[int] = []  # bundles whose text is tokenized again
    for k, bundle in enumerate(bundles):
        parts: list[tuple[EncodingLike, int]] = []
        offset = 0
        for cid in bundle.component_ids:
            comp, enc = by_id[cid]
            if has_text(comp):
                parts.append((enc, offset))
                offset += len(comp.text) + len(JOIN)
        assert offset - len(JOIN) == len(bundle.text), "a bundle's text is its members' texts joined"
        if len(parts) == 1:
            joined[k] = parts[0][0]  # the text is its one member's: the same encoding
        elif reuse_encodings:
            joined[k] = JoinedEncoding(parts)
        else:
            again.append(k)
    encoded = (
        tokenizer.encode_batch([bundles[k].text for k in again], add_special_tokens=False) if again else []
    )
    for k, enc in zip(again, encoded, strict=True):
        joined[k] = enc
    whole = [enc for enc in joined if enc is not None]
    assert len(whole) == len(bundles), "every bundle has text"
    # A text too big for one bundle is cut into bundles within the target.
    bundles, whole = fit_bundles(
        bundles, whole, components, tokenizer, target_tokens, exact_slices=reuse_encodings
    )
    chunks = split_encoded([b.text for b in bundles], list(whole), tokenizer, chunk_size, chunk_overlap)
    return BundledDocument(counts, bundles, chunks)


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
