"""Shared fixtures for the domain tests: the real MiniLM tokenizer, loaded once."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer

from indexflow.encoders.tokenizer import load_tokenizer

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def minilm() -> Tokenizer:
    """The packaged all-MiniLM-L6-v2 fast tokenizer, truncation and padding off."""
    return load_tokenizer(MINILM)
