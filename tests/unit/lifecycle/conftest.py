"""The lifecycle tests run on the shipped test doubles: an in-memory store, a lexical encoder.

The database (SQLite), the tokenizer, the chunker, the state machine and the in-process worker
are the real ones. ``tests/embedded/test_lifecycle_on_the_real_stack.py`` runs these same tests
with all-MiniLM-L6-v2 and Qdrant Edge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from indexflow.settings import Settings
from tests.lifecycle_support import docs_dir, encoder_calls  # noqa: F401 (fixtures)

if TYPE_CHECKING:
    from indexflow.service import Indexflow


@pytest.fixture
def make_ix() -> Callable[[Settings], Indexflow]:
    """Build a facade on the doubles (each call: a fresh in-memory store and its own encoder)."""
    from indexflow import Indexflow
    from indexflow.testing import HashEncoder, MemoryStore

    return lambda settings: Indexflow(settings, store=MemoryStore(), encoder=HashEncoder())


@pytest.fixture
def ix(settings: Settings, make_ix: Callable[[Settings], Indexflow]) -> Iterator[Indexflow]:
    with make_ix(settings) as instance:
        yield instance
