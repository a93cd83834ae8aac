"""One token limit: the tokenizer (chunk sizes) and the encoder (truncation) read the same number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexflow.encoders import models, tokenizer
from indexflow.encoders.models import DEFAULT_MODEL, model_max_tokens
from indexflow.errors import ConfigurationError


def folder(tmp_path: Path, **files: dict[str, object]) -> str:
    """A model folder holding the given JSON files (``sbert`` = sentence_bert_config.json)."""
    names = {"sbert": "sentence_bert_config.json", "tok": "tokenizer_config.json", "config": "config.json"}
    path = tmp_path / "model"
    path.mkdir()
    (path / "config.json").write_text("{}")
    for key, data in files.items():
        (path / names[key]).write_text(json.dumps(data))
    return str(path)


@pytest.fixture(autouse=True)
def fresh_caches():
    model_max_tokens.cache_clear()
    models.resolve_model_dir.cache_clear()
    yield
    model_max_tokens.cache_clear()
    models.resolve_model_dir.cache_clear()


def test_minilm_reads_256_tokens_including_its_2_special_tokens() -> None:
    assert model_max_tokens(DEFAULT_MODEL) == 256
    assert tokenizer.model_max_tokens is model_max_tokens  # one function, re-exported
    assert tokenizer.max_chunk_tokens(DEFAULT_MODEL) == 254


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"sbert": {"max_seq_length": 128}, "tok": {"model_max_length": 512}, "config": {}}, 128),
        # RoBERTa: 514 positions, 2 of them padding; the tokenizer's 512 is the honest limit.
        ({"tok": {"model_max_length": 512}, "config": {"max_position_embeddings": 514}}, 512),
        # A tokenizer claiming more than the model has positions does not win.
        ({"tok": {"model_max_length": 2048}, "config": {"max_position_embeddings": 512}}, 512),
        # "No limit" is written as int(1e30): ignored.
        ({"tok": {"model_max_length": 10**30}, "config": {"max_position_embeddings": 384}}, 384),
        ({"sbert": {"max_seq_length": None}, "config": {"max_position_embeddings": 64}}, 64),
    ],
)
def test_precedence_sbert_then_the_smaller_of_tokenizer_and_positions(tmp_path, files, expected) -> None:
    assert model_max_tokens(folder(tmp_path, **files)) == expected


def test_a_model_declaring_no_limit_or_broken_json_is_a_configuration_error(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="declares no maximum"):
        model_max_tokens(folder(tmp_path, tok={"model_max_length": 10**30}))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    (broken / "sentence_bert_config.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match="cannot read"):
        model_max_tokens(str(broken))
