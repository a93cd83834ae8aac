"""API keys and the principal an HTTP request acts for."""

from __future__ import annotations

from pydantic import Field, computed_field

from indexflow.db.models import (
    ApiKey,
)
from indexflow.views.base import View, iso

ROLES = ("read", "write", "admin")
"""API key roles, weakest first: each may do what the ones before it may."""


class KeyView(View):
    """An API key as listed: never its secret nor its hash."""

    name: str
    prefix: str = Field(description="the secret's first characters, to tell keys apart")
    role: str = Field(description="read | write | admin")
    datasets: list[str] | None = Field(description="the datasets it may see; null = every dataset")
    created_at: str | None
    last_used_at: str | None = Field(description="last request it authenticated (to the minute)")
    revoked_at: str | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def of(cls, k: ApiKey) -> KeyView:
        return cls(
            name=k.name,
            prefix=k.prefix,
            role=k.role,
            datasets=None if k.datasets is None else list(k.datasets),
            created_at=iso(k.created_at),
            last_used_at=iso(k.last_used_at),
            revoked_at=iso(k.revoked_at),
        )


class CreatedKey(KeyView):
    """A key just created, with its secret: shown this once, only its hash is stored."""

    secret: str = Field(description="send as `Authorization: Bearer <secret>`; not shown again")


class Principal(View):
    """Who an HTTP request acts for: an API key's name, role and datasets.

    ``name`` is None while no API key exists: the API is open (local use) and may do everything.
    """

    name: str | None
    role: str = Field(description="read | write | admin")
    datasets: list[str] | None = Field(description="the datasets it may see; null = every dataset")

    @classmethod
    def keyless(cls) -> Principal:
        """The caller of an API that has no key yet: every role, every dataset."""
        return cls(name=None, role="admin", datasets=None)

    @property
    def scope(self) -> frozenset[str] | None:
        """The datasets to restrict to, for the facade's ``datasets=`` arguments (None: all)."""
        return None if self.datasets is None else frozenset(self.datasets)

    def allows(self, role: str) -> bool:
        """Whether this role is at least ``role`` (read < write < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def sees(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets
