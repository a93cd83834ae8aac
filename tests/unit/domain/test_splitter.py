"""A text too big for one bundle becomes several bundles, each within the target (issue 13)."""

from __future__ import annotations

import base64
import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexflow.domain.bundler import JOIN, has_text
from indexflow.domain.chunker import bundle_and_split
from indexflow.domain.components import Component, iter_preorder
from indexflow.domain.context import cut_document
from indexflow.domain.splitter import max_chars, split_text
from indexflow.encoders.estimate import EstimateTokenizer
from tests.unit.domain.domain_strategies import n_tokens, texts, trees, word_texts

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPACES = " \t\n\r\u00a0\u3000"
_WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "indexing"]


def prose(n_chars: int, seed: int = 7) -> str:
    """One paragraph of sentences, no line breaks."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n_chars:
        sentence = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 30))).capitalize() + ". "
        out.append(sentence)
        size += len(sentence)
    return "".join(out).strip()


def check_pieces(text: str, pieces, tokenizer, target: int) -> None:
    """Stripped, ordered, disjoint slices covering every non-whitespace character, each within
    the target in tokens (re-tokenized) and characters."""
    pos = 0
    for a, b, enc in pieces:
        assert pos <= a < b <= len(text)
        assert text[pos:a].strip() == ""  # only whitespace between pieces
        piece = text[a:b]
        assert piece.strip() and piece[0] not in SPACES and piece[-1] not in SPACES
        assert len(enc) == n_tokens(tokenizer, piece)
        assert len(enc) <= target or len(piece) == 1
        assert len(piece) <= max_chars(target)
        pos = b
    assert text[pos:].strip() == ""


def paragraph(text: str) -> list[Component]:
    return [
        Component("root", None, 0, "document", "", ""),
        Component("h", "root", 0, "section", "Big", "Big"),
        Component("blank", "h", 0, "group", "", "Big / g"),
        Component("p", "h", 1, "paragraph", text, "Big / p1"),
        Component("tail", "root", 1, "paragraph", "The end.", "p2"),
    ]


@PROPERTY
@given(parts=st.lists(texts, min_size=1, max_size=12), target=st.integers(1, 40))
def test_pieces_cover_the_text_within_the_target_sliced_or_tokenized_again(
    minilm, parts: list[str], target: int
) -> None:
    text = " ".join(parts)
    enc = minilm.encode_batch([text], add_special_tokens=False)[0]
    sliced = split_text(text, enc, minilm, target, exact_slices=True)
    again = split_text(text, enc, minilm, target, exact_slices=False)
    check_pieces(text, sliced, minilm, target)
    # Slices of MiniLM's encoding at whitespace are what tokenizing the piece gives.
    assert [(a, b, len(e)) for a, b, e in sliced] == [(a, b, len(e)) for a, b, e in again]
    if len(enc) <= target and len(text.strip()) <= max_chars(target) and text.strip():
        assert len(sliced) == 1


@PROPERTY
@given(text=word_texts, target=st.integers(1, 30))
def test_the_estimate_tokenizer_pieces_hold_too(text: str, target: int) -> None:
    estimate = EstimateTokenizer()
    enc = estimate.encode(text)
    check_pieces(text, split_text(text, enc, estimate, target, exact_slices=False), estimate, target)


def test_a_long_paragraph_is_cut_at_sentence_ends(minilm) -> None:
    text = prose(60_000)
    enc = minilm.encode_batch([text], add_special_tokens=False)[0]
    pieces = split_text(text, enc, minilm, 128, exact_slices=True)
    check_pieces(text, pieces, minilm, 128)
    assert len(pieces) >= len(enc) // 128
    assert all(text[a:b].endswith(".") for a, b, _ in pieces)
    # Not needlessly small: every piece but the last fills at least half its window.
    assert all(len(e) >= 64 for _, _, e in pieces[:-1])


def test_text_without_sentence_ends_is_cut_between_words(minilm) -> None:
    text = " ".join(["alpha beta gamma delta"] * 3000)
    enc = minilm.encode_batch([text], add_special_tokens=False)[0]
    pieces = split_text(text, enc, minilm, 100, exact_slices=True)
    check_pieces(text, pieces, minilm, 100)
    for a, b, _ in pieces:
        assert (a == 0 or text[a - 1] == " ") and (b == len(text) or text[b] == " ")


def test_text_without_spaces_is_cut_hard_within_the_target(minilm) -> None:
    blob = base64.b64encode(random.Random(3).randbytes(60_000)).decode()
    cjk = "日本語のテキスト中文字符한국어" * 3000
    for text in (blob, cjk, "z" * 50_000):
        enc = minilm.encode_batch([text], add_special_tokens=False)[0]
        pieces = split_text(text, enc, minilm, 64, exact_slices=True)
        check_pieces(text, pieces, minilm, 64)
        assert "".join(text[a:b] for a, b, _ in pieces) == text  # no spaces: nothing dropped
        assert len(pieces) > 1


def test_one_huge_component_becomes_bundles_within_the_target_with_true_spans(minilm) -> None:
    text = prose(200_000)
    comps = paragraph(text)
    for reuse in (True, False):
        cut = bundle_and_split(comps, minilm, 256, 100, 20, reuse_encodings=reuse)
        bundles = cut.bundles
        assert len(bundles) > 150
        assert [b.seq for b in bundles] == list(range(len(bundles)))
        assert all(b.token_count <= 256 for b in bundles)
        assert all(b.token_count == n_tokens(minilm, b.text) for b in bundles[:5] + bundles[-5:])
        # The section heading's bundle, the pieces of the paragraph, then the last paragraph.
        first, pieces, last = bundles[0], bundles[1:-1], bundles[-1]
        assert first.text == "Big" and first.component_ids == ("root", "h", "blank")
        assert all(b.component_ids == ("p",) for b in pieces)
        assert last.text == "The end." and last.component_ids == ("tail",)
        # Every piece is the member's text from its offset on; every chunk a slice of its bundle.
        for b in bundles:
            members = JOIN.join(c.text for c in comps if c.id in b.component_ids and c.text)
            assert members[b.text_offset : b.text_offset + len(b.text)] == b.text
        for b, chunks in zip(bundles, cut.chunks, strict=True):
            assert chunks
            for c in chunks:
                assert b.text[c.char_start : c.char_end] == c.text and c.token_count <= 100
        joined = "".join(b.text for b in bundles[1:-1])
        assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", text)


def test_context_headers_of_pieces_name_the_section_of_the_piece(minilm) -> None:
    comps = paragraph(prose(40_000))
    cut, contexts = cut_document(
        comps,
        minilm,
        target_tokens=200,
        chunk_size=80,
        chunk_overlap=10,
        max_tokens=256,
        template="{title}\n{section}",
        title="Doc",
        source="big.txt",
        reuse_encodings=True,
    )
    assert len(cut.bundles) > 20
    for heads in contexts[1:-1]:
        assert heads and all(h == "Doc\nBig" for h in heads)
    assert contexts[-1] == ["Doc"]


def test_a_piece_starting_inside_a_member_gets_the_headers_of_its_own_text(minilm) -> None:
    # Few tokens (MiniLM reads a word of over 100 characters as one [UNK]) but over the
    # characters a 30-token bundle may hold: one bundle, cut inside p1's text.
    comps = [
        Component("a", None, 0, "section", "A", "A"),
        Component("p1", "a", 0, "paragraph", "z" * 150 + " " + "v" * 160, "A / p1"),
        Component("b", "a", 1, "section", "B", "A / B"),
        Component("p2", "b", 0, "paragraph", " ".join(["w"] * 20), "A / B / p1"),
    ]
    cut, contexts = cut_document(
        comps,
        minilm,
        target_tokens=30,
        chunk_size=8,
        chunk_overlap=0,
        max_tokens=256,
        template="{section}",
        title="Doc",
        source="x.txt",
        reuse_encodings=True,
    )
    assert [b.component_ids for b in cut.bundles] == [("a", "p1"), ("p1", "b", "p2")]
    second = cut.bundles[1]
    assert second.text.startswith("v" * 160) and second.text_offset == 151
    assert all(b.token_count <= 30 and len(b.text) <= max_chars(30) for b in cut.bundles)
    starts = [c.char_start for c in cut.chunks[1]]
    heads = contexts[1]
    assert heads[0] == "A" and len(heads) >= 2
    # Chunks after the "B" heading carry it; the one holding the rest of p1 does not.
    for start, head in zip(starts, heads, strict=True):
        want = "A / B" if start >= second.text.index("B") else "A"
        assert head == want


def test_bundling_tokenizes_a_big_paragraph_at_most_twice(minilm) -> None:
    """Linear work: the text is tokenized once for counting, and only pieces cut mid-word again."""

    class Counting:
        def __init__(self) -> None:
            self.chars = 0

        def encode_batch(self, batch, add_special_tokens=False):
            self.chars += sum(len(t) for t in batch)
            return minilm.encode_batch(batch, add_special_tokens=add_special_tokens)

    text = prose(400_000)
    for reuse, most in ((True, 1.05), (False, 2.05)):
        counting = Counting()
        cut = bundle_and_split(
            [Component("p", None, 0, "p", text, "p")], counting, 512, 200, 40, reuse_encodings=reuse
        )
        assert all(b.token_count <= 512 for b in cut.bundles)
        assert counting.chars <= most * len(text)


def test_lines_without_sentence_ends_are_cut_at_line_breaks(minilm) -> None:
    text = "\n".join(f"rows[{i}].name: item number {i} of the export" for i in range(3000))
    enc = minilm.encode_batch([text], add_special_tokens=False)[0]
    pieces = split_text(text, enc, minilm, 100, exact_slices=True)
    check_pieces(text, pieces, minilm, 100)
    for a, b, _ in pieces:
        assert (a == 0 or text[a - 1] == "\n") and (b == len(text) or text[b] == "\n")


@PROPERTY
@given(components=trees(), target=st.integers(1, 30))
def test_random_trees_give_bundles_within_the_target_that_read_their_members_texts(
    minilm, components: list[Component], target: int
) -> None:
    cut = bundle_and_split(components, minilm, target, 8, 2, reuse_encodings=True)
    by_id = {c.id: c for c in components}
    order = [c.id for c, _ in iter_preorder(components)]
    seen: list[str] = []
    for seq, bundle in enumerate(cut.bundles):
        assert bundle.seq == seq
        assert bundle.token_count <= target or len(bundle.text) == 1
        assert len(bundle.text) <= max_chars(target)
        members = [by_id[cid] for cid in bundle.component_ids]
        assert bundle.paths == tuple(c.path for c in members)
        joined = JOIN.join(c.text for c in members if has_text(c))
        assert joined[bundle.text_offset : bundle.text_offset + len(bundle.text)] == bundle.text
        # A component's bundles are consecutive: listing them drops only repeats of the last one.
        seen.extend(cid for k, cid in enumerate(bundle.component_ids) if k or not seen or seen[-1] != cid)
    if cut.bundles:
        assert seen == order
