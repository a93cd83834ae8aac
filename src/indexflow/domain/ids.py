"""Deterministic identifiers and content hashes."""

from __future__ import annotations

import hashlib
import uuid

# A fixed namespace so point ids are stable across machines and releases.
POINT_NAMESPACE = uuid.UUID("6f1c3f0e-8d7a-5b8e-9a53-1b0c4e2d7a10")


def content_hash(data: bytes) -> str:
    """SHA-256 hex digest of a document's bytes: the identity of a DocumentVersion."""
    return hashlib.sha256(data).hexdigest()


def point_id(profile_id: int, plan_id: int, chunk_seq: int) -> str:
    """UUIDv5 of (profile, plan, chunk sequence): a retried batch overwrites, never duplicates."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{profile_id}:{plan_id}:{chunk_seq}"))
