"""Test doubles for code built on indexflow; shipped in the wheel for your own tests.

``MemoryStore`` is an in-memory ``VectorStore`` that passes the store contract suite;
``HashEncoder`` is a deterministic, model-free ``Encoder`` (also registered as the encoder
name ``indexflow-testing/hash``). Inject them into a runtime::

    from indexflow.runtime import Runtime
    from indexflow.testing import HashEncoder, MemoryStore

    rt = Runtime(settings, store=MemoryStore(), encoder=HashEncoder())

Nothing here loads a model or opens a connection.
"""

from indexflow.testing.hash_encoder import HASH_ENCODER_NAME, HashEncoder
from indexflow.testing.memory_store import MemoryStore

__all__ = ["HASH_ENCODER_NAME", "HashEncoder", "MemoryStore"]
