"""Loading the packaged tokenizer: offline, cached, never truncating, with the model's limits."""

from __future__ import annotations

import pytest

from indexflow.domain.chunker import split_bundle
from indexflow.encoders.tokenizer import count_tokens, load_tokenizer, max_chunk_tokens, model_max_tokens
from indexflow.errors import ConfigurationError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def test_a_long_text_is_not_cut_at_the_128_tokens_of_tokenizer_json(minilm) -> None:
    text = " ".join(f"word{i % 50}" for i in range(1000))
    [encoding] = minilm.encode_batch([text], add_special_tokens=False)
    assert len(encoding.ids) > 1000
    assert minilm.encode(text).ids[-1] == minilm.token_to_id("[SEP]")  # not padded, not cut


def test_the_same_name_gives_the_same_tokenizer_object(minilm) -> None:
    assert load_tokenizer(MINILM) is minilm
    assert load_tokenizer("all-MiniLM-L6-v2").encode("Hello").ids == minilm.encode("Hello").ids


def test_minilm_reads_256_tokens_so_chunks_hold_254() -> None:
    assert model_max_tokens(MINILM) == 256
    assert max_chunk_tokens(MINILM) == 254


def test_count_tokens_counts_each_text_without_special_tokens(minilm) -> None:
    assert count_tokens(["Hello, world!", "", "tokenization"], minilm) == [4, 0, 2]
    assert count_tokens([], minilm) == []


def test_the_largest_chunks_fit_the_model_with_its_special_tokens(minilm) -> None:
    text = "Every chunk plus [CLS] and [SEP] must fit the encoder without truncation. " * 200
    chunks = split_bundle(text, minilm, max_chunk_tokens(MINILM), 32)
    assert max(len(minilm.encode(c.text).ids) for c in chunks) <= model_max_tokens(MINILM)


def test_an_unknown_model_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        load_tokenizer("no-such/model-anywhere")
