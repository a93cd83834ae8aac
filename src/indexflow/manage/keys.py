"""API keys for the HTTP API: create (the secret is shown once), list, revoke, authenticate.

A secret is ``ixk_`` + 32 random bytes (URL-safe base64); only its sha256 is stored. Keys do not
touch the pipeline, so they are changed without taking the embedded home's lock: a key can be
created or revoked while ``indexflow serve`` runs, and takes effect on the next request.

The HTTP API requires a key once one was created (``enforced``). Revoking every key keeps it
closed (a leaked key is revoked without opening the API to everyone); only deleting every key
(``delete``) makes it open again.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from indexflow.db import keys as keys_repo
from indexflow.db.models import as_utc, utcnow
from indexflow.errors import DatabaseUnavailable, InvalidRequest
from indexflow.manage.context import Context
from indexflow.views import ROLES, CreatedKey, KeyView, Principal

SECRET_PREFIX = "ixk_"
PREFIX_CHARS = 12  # "ixk_" and 8 characters of the secret, shown in listings
TOUCH_EVERY = timedelta(minutes=1)
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_MAX_SECRET = 200


def hash_secret(secret: str) -> str:
    """The sha256 hex digest stored for a secret (secrets are random, so no salt or stretching)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Keys:
    """``ix.keys``: who may call the HTTP API, with which role, on which datasets.

    Roles are ordered read < write < admin. The library and the CLI are not affected by keys.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def create(self, name: str, *, datasets: Iterable[str] | None = None, role: str = "read") -> CreatedKey:
        """Create a key; the returned view holds its secret, which is never shown again.

        Args:
            name: a unique name (letters, digits, ``_ . -``).
            datasets: the datasets it may see; None = every dataset (also those made later).
            role: ``read`` (look and search), ``write`` (also ingest and change documents, plans
                and chunks) or ``admin`` (also profiles); an admin key covers every dataset.

        Raises:
            InvalidRequest: a malformed name or role, an empty dataset list, a scoped admin key.
            ConflictError: a key with this name exists (revoked keys keep their name).
        """
        if not _NAME.match(name):
            raise InvalidRequest(f"key name {name!r}: use 1-200 letters, digits, '_', '.' or '-'")
        if role not in ROLES:
            raise InvalidRequest(f"role {role!r}: use one of {', '.join(ROLES)}")
        scope: builtins.list[str] | None = None
        if isinstance(datasets, str):
            datasets = [datasets]
        if datasets is not None:
            scope = sorted({d.strip() for d in datasets})
            if not scope or any(not d or len(d) > 200 for d in scope):
                raise InvalidRequest("datasets: give one or more dataset names (or none for every dataset)")
            if role == "admin":
                raise InvalidRequest(
                    "an admin key covers every dataset (profiles apply to all of them): "
                    "drop the datasets, or use role 'write'"
                )
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        with self._ctx.write() as s:
            row = keys_repo.create(
                s,
                name=name,
                key_hash=hash_secret(secret),
                prefix=secret[:PREFIX_CHARS],
                role=role,
                datasets=scope,
            )
            s.flush()
            view = KeyView.of(row)
        return CreatedKey(**view.model_dump(exclude={"active"}), secret=secret)

    def list(self) -> builtins.list[KeyView]:
        """Every key, revoked ones too, oldest first (never a secret or a hash)."""
        with self._ctx.read() as s:
            return [KeyView.of(k) for k in keys_repo.list_all(s)]

    def revoke(self, name: str) -> KeyView:
        """Revoke a key: from the next request on, it is refused (401). Revoking twice is a no-op.

        Raises:
            NotFound: no key has this name.
        """
        with self._ctx.write() as s:
            key = keys_repo.get_by_name(s, name)
            keys_repo.revoke(s, key, utcnow())
            return KeyView.of(key)

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of an unrevoked key with this secret, else None.

        The key is found by the sha256 of the secret (a unique index), so the lookup time says
        nothing about how much of a secret was right; the digests are compared in constant time.
        Its ``last_used_at`` is written at most once a minute.
        """
        if not secret.startswith(SECRET_PREFIX) or len(secret) > _MAX_SECRET:
            return None
        digest = hash_secret(secret)
        with self._ctx.read() as s:
            key = keys_repo.find_active_by_hash(s, digest)
            if key is None or not hmac.compare_digest(key.key_hash, digest):
                return None
            key_id, last = key.id, key.last_used_at
            principal = Principal(
                name=key.name, role=key.role, datasets=None if key.datasets is None else list(key.datasets)
            )
        now = utcnow()
        if last is None or as_utc(last) < now - TOUCH_EVERY:
            try:
                with self._ctx.write() as s:
                    keys_repo.touch(s, key_id, now, unless_since=now - TOUCH_EVERY)
            except DatabaseUnavailable:
                pass  # bookkeeping only: a busy database must not refuse a valid key
        return principal

    def delete(self, name: str) -> KeyView:
        """Forget a key altogether (revoke it to keep a record); with the last one gone the HTTP
        API is open again, as before any key existed.

        Raises:
            NotFound: no key has this name.
        """
        with self._ctx.write() as s:
            key = keys_repo.get_by_name(s, name)
            view = KeyView.of(key)
            keys_repo.delete(s, key)
        return view

    def any_active(self) -> bool:
        """Whether an unrevoked key exists (``serve`` needs one to listen beyond loopback)."""
        with self._ctx.read() as s:
            return keys_repo.any_active(s)

    def enforced(self) -> bool:
        """Whether the HTTP API requires a key: once any key exists, revoked ones included."""
        with self._ctx.read() as s:
            return keys_repo.any_exist(s)
