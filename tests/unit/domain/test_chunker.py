"""Token windows: exact spans, limits the encoder never truncates, full coverage, overlap."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexflow.domain.chunker import ChunkSpec, split_bundle, split_texts
from tests.unit.domain.domain_strategies import n_tokens, texts

PROSE = (
    "Retrieval augmented generation pairs a search index with a language model. Documents are "
    "parsed into trees, bundled along their structure, cut into token windows and embedded. "
)
sizes = st.integers(1, 40).flatmap(lambda size: st.tuples(st.just(size), st.integers(0, size - 1)))
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def max_word_tokens(tokenizer, text: str) -> int:
    enc = tokenizer.encode_batch([text], add_special_tokens=False)[0]
    words = [w for w in enc.word_ids if w is not None]
    return max((words.count(w) for w in set(words)), default=0)


def check_invariants(tokenizer, text: str, chunks: list[ChunkSpec], size: int, overlap: int) -> None:
    """Every property a chunk list must have, asserted together."""
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    recount = [len(e) for e in tokenizer.encode_batch([c.text for c in chunks], add_special_tokens=False)]
    for chunk, tokens in zip(chunks, recount, strict=True):
        assert chunk.text == text[chunk.char_start : chunk.char_end]
        assert chunk.text and chunk.text == chunk.text.strip()
        assert chunk.token_count == tokens
        # Only a lone character may exceed the size: a Hangul syllable alone is 3 tokens.
        assert 1 <= chunk.token_count <= size or sum(n_tokens(tokenizer, ch) > 0 for ch in chunk.text) == 1
    covered = bytearray(len(text))
    for chunk in chunks:
        covered[chunk.char_start : chunk.char_end] = b"\x01" * (chunk.char_end - chunk.char_start)
    if chunks:
        assert all(covered[k] or ch.isspace() for k, ch in enumerate(text))
    else:
        assert n_tokens(tokenizer, text) == 0
    longest = max_word_tokens(tokenizer, text)
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.char_start > prev.char_start and nxt.char_end > prev.char_end
        shared = text[nxt.char_start : prev.char_end] if nxt.char_start < prev.char_end else ""
        assert n_tokens(tokenizer, shared) <= overlap + max(longest - 1, 0)


@PROPERTY
@given(text=texts, size_overlap=sizes)
def test_any_text_gives_exact_stripped_spans_within_limits_covering_everything(
    minilm, text: str, size_overlap: tuple[int, int]
) -> None:
    size, overlap = size_overlap
    chunks = split_bundle(text, minilm, size, overlap)
    check_invariants(minilm, text, chunks, size, overlap)


@settings(max_examples=25, deadline=None)
@given(text=texts)
def test_model_sized_windows_keep_every_invariant(minilm, text: str) -> None:
    chunks = split_bundle(text * 8, minilm, 254, 32)
    check_invariants(minilm, text * 8, chunks, 254, 32)


@settings(max_examples=30, deadline=None)
@given(batch=st.lists(texts, max_size=6), size_overlap=sizes)
def test_a_batch_splits_exactly_like_each_text_alone_and_deterministically(
    minilm, batch: list[str], size_overlap: tuple[int, int]
) -> None:
    size, overlap = size_overlap
    together = split_texts(batch, minilm, size, overlap)
    assert together == [split_bundle(t, minilm, size, overlap) for t in batch]
    assert together == split_texts(batch, minilm, size, overlap)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000,
        ("q" * 99 + " ") * 30 + ("zx" * 45 + ", ") * 30,
        "https://example.com/" + "very-long-path-segment/" * 200 + "?q=" + "a1b2" * 300,
        "中文的文本没有空格" * 400,
        "🙂👩‍💻🚀" * 500,
        "aé\u0301" * 2000,
        "\x00" * 100 + "word " * 300 + "\x01\x02" * 50,
        " \n\t " * 5000 + "lonely" + " " * 5000,
        "".join(chr(c) for c in range(0x20, 0x3000)),
    ],
    ids=["long-word", "long-words", "url", "cjk", "emoji", "combining", "controls", "spaces", "unicode"],
)
@pytest.mark.parametrize(("size", "overlap"), [(1, 0), (7, 3), (254, 32)])
def test_hostile_texts_keep_every_invariant(minilm, text: str, size: int, overlap: int) -> None:
    check_invariants(minilm, text, split_bundle(text, minilm, size, overlap), size, overlap)


def test_prose_windows_overlap_by_the_requested_tokens_up_to_one_word(minilm) -> None:
    text = PROSE * 40
    chunks = split_bundle(text, minilm, 20, 5)
    longest = max_word_tokens(minilm, text)
    for prev, nxt in itertools.pairwise(chunks):
        shared = n_tokens(minilm, text[nxt.char_start : prev.char_end])
        assert 5 <= shared <= 5 + longest - 1


def test_prose_windows_are_full_when_the_words_allow_it(minilm) -> None:
    chunks = split_bundle(PROSE * 40, minilm, 254, 32)
    assert all(c.token_count >= 250 for c in chunks[:-1])


def test_text_without_tokens_gives_no_chunks(minilm) -> None:
    assert split_bundle("", minilm, 10, 0) == []
    assert split_bundle(" \n\t\u3000 ", minilm, 10, 0) == []
    assert split_bundle("\x00\x01\ufffd", minilm, 10, 0) == []
    assert split_texts([], minilm, 10, 0) == []


def test_a_short_text_is_one_chunk_with_its_stripped_span(minilm) -> None:
    [chunk] = split_bundle("  Hello, world!\n", minilm, 10, 2)
    assert (chunk.text, chunk.char_start, chunk.char_end, chunk.token_count) == ("Hello, world!", 2, 15, 4)


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (-1, 0), (5, 5), (5, 6), (5, -1)])
def test_invalid_sizes_are_rejected(minilm, size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        split_bundle("text", minilm, size, overlap)
