"""Deterministic identifiers and content hashes."""

from __future__ import annotations

import hashlib
import uuid

# A fixed namespace so point ids are stable across machines and releases.
POINT_NAMESPACE = uuid.UUID("6f1c3f0e-8d7a-5b8e-9a53-1b0c4e2d7a10")


def content_hash(data: bytes) -> str:
    """SHA-256 hex digest of a document's bytes: the identity of a DocumentVersion."""
    return hashlib.sha256(data).hexdigest()


def point_id(profile_id: int, plan_id: int, chunk_seq: int, generation: int = 0) -> str:
    """UUIDv5 of (profile, plan, chunk sequence, generation).

    A retried batch overwrites, never duplicates; a rerun (a new generation) writes new ids, so a
    late batch of the old generation that undoes its own writes cannot touch the rerun's points.
    """
    key = f"{profile_id}:{plan_id}:{chunk_seq}" + (f":{generation}" if generation else "")
    return str(uuid.uuid5(POINT_NAMESPACE, key))


def basename(source: str) -> str:
    """The last segment of a path or URI, trailing slashes ignored ("s3://b/docs/" → "docs")."""
    return source.rstrip("/").rsplit("/", 1)[-1]
