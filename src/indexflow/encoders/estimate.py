"""A conservative token counter for models whose tokenizer indexflow does not have.

An HTTP embedding model (``openai:<model>``) tokenizes on the provider's side. When the profile
names no Hugging Face tokenizer for it, chunks are sized with this estimate, named
``indexflow-estimate`` in the profile's ``tokenizer`` field. It over-counts on purpose so that a
chunk sized by it fits the model:

- a run of ASCII letters and digits counts one token per 3 characters (rounded up): BPE
  vocabularies such as OpenAI's cl100k/o200k average about 4 characters per English token and
  cut numbers into groups of at most 3 digits, so English prose comes out at about 1.3-1.6x its
  true count (the safety factor);
- every other character that is not whitespace (punctuation, each CJK character, each accented
  letter, each emoji code point) is a token of its own;
- whitespace is free.

A text still rejected as too long by the provider is shortened by the encoder (the encoder port
truncates, it never fails on length). Words are the runs above (a punctuation character is a
word), so the chunker cuts windows between them as it does with a real tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ESTIMATE_TOKENIZER = "indexflow-estimate"
CHARS_PER_TOKEN = 3

_WORDS = re.compile(r"[A-Za-z0-9]+|\S")


@dataclass(frozen=True, slots=True)
class EstimateEncoding:
    """One text's estimated tokens (an ``indexflow.domain.chunker.EncodingLike``)."""

    spans: tuple[tuple[int, int], ...]
    words: tuple[int, ...]
    word_spans: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.spans)

    def token_to_chars(self, token_index: int, /) -> tuple[int, int] | None:
        return self.spans[token_index] if 0 <= token_index < len(self.spans) else None

    def token_to_word(self, token_index: int, /) -> int | None:
        return self.words[token_index] if 0 <= token_index < len(self.words) else None

    def word_to_tokens(self, word_index: int, /) -> tuple[int, int] | None:
        return self.word_spans[word_index] if 0 <= word_index < len(self.word_spans) else None


class EstimateTokenizer:
    """``encode_batch(texts)`` with the estimate above (an ``indexflow.domain.chunker.TokenizerLike``)."""

    name = ESTIMATE_TOKENIZER

    def encode_batch(
        self, texts: list[str], /, *, add_special_tokens: bool = False
    ) -> Sequence[EstimateEncoding]:
        return [self.encode(text) for text in texts]

    def encode(self, text: str) -> EstimateEncoding:
        spans: list[tuple[int, int]] = []
        words: list[int] = []
        word_spans: list[tuple[int, int]] = []
        for w, match in enumerate(_WORDS.finditer(text)):
            a, b = match.span()
            first = len(spans)
            step = CHARS_PER_TOKEN if b - a > 1 else 1
            for start in range(a, b, step):
                spans.append((start, min(b, start + step)))
                words.append(w)
            word_spans.append((first, len(spans)))
        return EstimateEncoding(tuple(spans), tuple(words), tuple(word_spans))

    def count(self, texts: Sequence[str]) -> list[int]:
        """Estimated tokens per text."""
        return [len(self.encode(text)) for text in texts]

    def num_special_tokens_to_add(self, is_pair: bool = False) -> int:
        return 0
