"""Repository: API keys (looked up by the sha256 of their secret, never by the secret)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from indexflow.db.models import ApiKey
from indexflow.db.session import insert_or_find
from indexflow.errors import ConflictError, NotFound


def create(
    s: Session, *, name: str, key_hash: str, prefix: str, role: str, datasets: list[str] | None
) -> ApiKey:
    """Insert a key.

    Raises:
        ConflictError: a key (revoked or not) already has this name.
    """
    row = ApiKey(name=name, key_hash=key_hash, prefix=prefix, role=role, datasets=datasets)
    _, created = insert_or_find(s, row, lambda: find_by_name(s, name) or _by_hash(s, key_hash))
    if not created:
        raise ConflictError(f"an API key named {name!r} already exists (revoked keys keep their name)")
    return row


def find_by_name(s: Session, name: str) -> ApiKey | None:
    return s.scalar(select(ApiKey).where(ApiKey.name == name))


def get_by_name(s: Session, name: str) -> ApiKey:
    key = find_by_name(s, name)
    if key is None:
        raise NotFound(f"API key {name!r} does not exist")
    return key


def _by_hash(s: Session, key_hash: str) -> ApiKey | None:
    return s.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


def find_active_by_hash(s: Session, key_hash: str) -> ApiKey | None:
    """The unrevoked key whose secret hashes to ``key_hash`` (a unique index lookup)."""
    return s.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)))


def list_all(s: Session) -> list[ApiKey]:
    return list(s.scalars(select(ApiKey).order_by(ApiKey.id)))


def any_active(s: Session) -> bool:
    return s.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)) is not None


def any_exist(s: Session) -> bool:
    """Whether any key exists, revoked or not."""
    return s.scalar(select(ApiKey.id).limit(1)) is not None


def delete(s: Session, key: ApiKey) -> None:
    s.delete(key)


def revoke(s: Session, key: ApiKey, when: datetime) -> None:
    if key.revoked_at is None:
        key.revoked_at = when


def touch(s: Session, key_id: int, when: datetime, *, unless_since: datetime) -> None:
    """Record a use of the key, unless one was already recorded at or after ``unless_since``."""
    s.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < unless_since),
        )
        .values(last_used_at=when)
        .execution_options(synchronize_session=False)
    )
