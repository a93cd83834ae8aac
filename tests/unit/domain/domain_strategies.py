"""Hypothesis strategies and helpers shared by the bundler and chunker tests."""

from __future__ import annotations

from hypothesis import strategies as st

from indexflow.domain.components import Component

# Pieces that stress a WordPiece tokenizer: subwords, long words, URLs, CJK, emoji, combining
# marks, characters the normaliser drops (NUL, controls, U+FFFD), case folding that grows text.
WORDS = [
    "the",
    "tokenization",
    "unbelievably",
    "a",
    "I",
    "don't",
    "e.g.",
    "3.14159",
    "x",
    "supercalifragilisticexpialidocious",
    "https://example.com/a/b?c=d&e=f#g",
    "中文字符",
    "日本語のテキスト",
    "한국어",
    "🙂",
    "👩‍💻",
    "café",
    "naïve",
    "İstanbul",
    "ß",
    "\x00",
    "\x07",
    "\ufffd",
    "\u200b",
    "a\u0301",
    "\u0301",
    "Ωμέγα",
    "(",
    ")",
    "—",
    "...",
    "q" * 30,
    "zx" * 60,
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "\u00a0",
    "\x1c",
    "[CLS]",
    "[SEP]x",
    "[UNK]",
]
SEPARATORS = [" ", " ", " ", "\n", "\n\n", "\t", "  ", " " * 40, "\r\n", "", "\u3000", "\x0b"]

word_texts = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=80).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)
any_texts = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300
)  # anything a str can hold but lone surrogates
texts = st.one_of(word_texts, word_texts, any_texts)


def n_tokens(tokenizer, text: str) -> int:
    """How many tokens the tokenizer makes of ``text``, special tokens excluded."""
    return len(tokenizer.encode_batch([text], add_special_tokens=False)[0])


@st.composite
def trees(draw, max_nodes: int = 40) -> list[Component]:
    """A random component tree in preorder; some texts blank, parents before children."""
    n = draw(st.integers(1, max_nodes))
    parents: list[int | None] = [None]
    for i in range(1, n):
        # Parent among the previous nodes keeps the list in a valid preorder once sorted below.
        parents.append(draw(st.one_of(st.none(), st.integers(0, i - 1))))
    bodies = draw(st.lists(st.one_of(st.just(""), st.just("  "), word_texts), min_size=n, max_size=n))
    positions: dict[int | None, int] = {}
    comps = []
    for i, (p, text) in enumerate(zip(parents, bodies, strict=True)):
        pos = positions.get(p, 0)
        positions[p] = pos + 1
        pid = None if p is None else f"n{p}"
        comps.append(Component(f"n{i}", pid, pos, "node", text, f"path/{i}"))
    return comps
