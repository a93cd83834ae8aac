"""Tokenizing once: bundles cut from their members' encodings equal tokenizing the bundle texts."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

from indexflow.domain.bundler import build_bundles
from indexflow.domain.chunker import JoinedEncoding, bundle_and_split, split_encoded, split_texts
from indexflow.domain.components import Component
from indexflow.domain.splitter import fit_bundles
from indexflow.encoders.tokenizer import count_tokens, joins_at_whitespace
from indexflow.errors import IndexflowError
from indexflow.query.preview import preview
from tests.unit.domain.domain_strategies import texts, trees

FIXTURES = Path(__file__).parents[2] / "fixtures" / "docs"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
sizes = st.integers(1, 40).flatmap(lambda size: st.tuples(st.just(size), st.integers(0, size - 1)))


def tokenized_twice(components: list[Component], tokenizer, target: int, size: int, overlap: int):
    """What bundle_plan did before: count the components, then tokenize every bundle text again
    (and every piece of a bundle too big for the target, re-tokenized rather than sliced)."""
    counts = dict(
        zip((c.id for c in components), count_tokens([c.text for c in components], tokenizer), strict=True)
    )
    bundles = build_bundles(components, counts, target)
    encodings = tokenizer.encode_batch([b.text for b in bundles], add_special_tokens=False)
    bundles, _ = fit_bundles(bundles, encodings, components, tokenizer, target, exact_slices=False)
    return counts, bundles, split_texts([b.text for b in bundles], tokenizer, size, overlap)


def test_minilm_joins_at_whitespace_and_spacey_tokenizers_do_not(minilm) -> None:
    assert joins_at_whitespace(minilm)
    assert joins_at_whitespace(minilm)  # cached answer, same object
    byte_level = Tokenizer(models.BPE())
    byte_level.pre_tokenizer = pre_tokenizers.ByteLevel()
    byte_level.decoder = decoders.ByteLevel()
    assert not joins_at_whitespace(byte_level)
    metaspace = Tokenizer(models.Unigram())
    metaspace.pre_tokenizer = pre_tokenizers.Metaspace()
    assert not joins_at_whitespace(metaspace)
    swallowing = Tokenizer.from_str(minilm.to_str())
    swallowing.add_special_tokens([AddedToken("<mask>", lstrip=True)])
    assert not joins_at_whitespace(swallowing)
    sequenced = Tokenizer.from_str(minilm.to_str())
    sequenced.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Digits()]
    )
    assert joins_at_whitespace(sequenced)
    assert not joins_at_whitespace(object())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(components=trees(), target=st.integers(1, 80), size_overlap=sizes)
def test_random_trees_give_the_same_bundles_and_chunks_as_tokenizing_twice(
    minilm, components: list[Component], target: int, size_overlap: tuple[int, int]
) -> None:
    size, overlap = size_overlap
    counts, bundles, chunks = tokenized_twice(components, minilm, target, size, overlap)
    for reuse in (True, False):
        cut = bundle_and_split(components, minilm, target, size, overlap, reuse_encodings=reuse)
        assert (cut.token_counts, cut.bundles, cut.chunks) == (counts, bundles, chunks)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(texts, min_size=1, max_size=5), size_overlap=sizes)
def test_a_joined_encoding_answers_like_the_encoding_of_the_joined_text(
    minilm, parts: list[str], size_overlap: tuple[int, int]
) -> None:
    parts = [p for p in parts if p and not p.isspace()] or ["x"]
    joined_text = "\n\n".join(parts)
    offsets = [sum(len(p) + 2 for p in parts[:k]) for k in range(len(parts))]
    encodings = minilm.encode_batch(parts, add_special_tokens=False)
    joined = JoinedEncoding(list(zip(encodings, offsets, strict=True)))
    direct = minilm.encode_batch([joined_text], add_special_tokens=False)[0]
    assert len(joined) == len(direct)
    spans = [joined.token_to_chars(i) for i in range(len(joined))]
    assert spans == [direct.token_to_chars(i) for i in range(len(direct))]
    words = [joined.token_to_word(i) for i in range(len(joined))]
    same_word = [a == b for a, b in itertools.pairwise(words)]
    direct_words = [direct.token_to_word(i) for i in range(len(direct))]
    assert same_word == [a == b for a, b in itertools.pairwise(direct_words)]
    for i, w in enumerate(words):
        if w is not None:
            assert joined.word_to_tokens(w) == direct.word_to_tokens(direct_words[i])
    size, overlap = size_overlap
    assert split_encoded([joined_text], [joined], minilm, size, overlap) == split_texts(
        [joined_text], minilm, size, overlap
    )


def test_parts_without_tokens_and_long_words_are_handled(minilm) -> None:
    parts = ["\x00", "intro", "\x07\ufffd", "z" * 90 + " end", "\u200b"]
    offsets = [sum(len(p) + 2 for p in parts[:k]) for k in range(len(parts))]
    joined = JoinedEncoding(
        list(zip(minilm.encode_batch(parts, add_special_tokens=False), offsets, strict=True))
    )
    text = "\n\n".join(parts)
    assert split_encoded([text], [joined], minilm, 5, 2) == split_texts([text], minilm, 5, 2)
    with pytest.raises(IndexError):
        joined.token_to_chars(len(joined))
    assert joined.word_to_tokens(99 << 32) is None


def test_a_text_needs_its_encoding(minilm) -> None:
    with pytest.raises(ValueError, match="no encoding"):
        split_encoded(["words"], [None], minilm, 10, 0)
    with pytest.raises(ValueError, match="encodings for"):
        split_encoded(["a", "b"], [None], minilm, 10, 0)
    assert split_encoded(["", "  "], [None, None], minilm, 10, 0) == [[], []]


def _parsable() -> list[Path]:
    from indexflow.parsers import parse

    found = []
    for path in sorted(FIXTURES.iterdir()):
        try:
            parse(path.read_bytes(), path.name)
        except IndexflowError:
            continue
        found.append(path)
    return found


@pytest.mark.parametrize("path", _parsable(), ids=lambda p: p.name)
@pytest.mark.parametrize(("target", "size", "overlap"), [(512, 200, 40), (48, 20, 6)])
def test_fixture_documents_cut_exactly_as_preview_shows(minilm, path: Path, target, size, overlap) -> None:
    from indexflow.parsers import parse

    shown = preview(
        path.read_bytes(),
        path.name,
        tokenizer_name=MINILM,
        chunk_size=size,
        chunk_overlap=overlap,
        target_bundle_tokens=target,
    )
    components = parse(path.read_bytes(), path.name).components
    cut = bundle_and_split(
        components, minilm, target, size, overlap, reuse_encodings=joins_at_whitespace(minilm)
    )
    assert [b["text"] for b in shown["bundles"]] == [b.text for b in cut.bundles]
    assert [b["token_count"] for b in shown["bundles"]] == [b.token_count for b in cut.bundles]
    assert [b["component_ids"] for b in shown["bundles"]] == [list(b.component_ids) for b in cut.bundles]
    got = [
        [(c.seq, c.text, c.token_count, c.char_start, c.char_end) for c in chunks] for chunks in cut.chunks
    ]
    want = [
        [(c["seq"], c["text"], c["token_count"], c["char_start"], c["char_end"]) for c in b["chunks"]]
        for b in shown["bundles"]
    ]
    assert got == want and any(got)
