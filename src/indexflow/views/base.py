"""The base of every view: immutable pydantic models, JSON-ready; ISO timestamps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from indexflow.db.models import (
    as_utc,
)


class View(BaseModel):
    """Base of every view: immutable, JSON-ready with ``to_dict``."""

    model_config = ConfigDict(frozen=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset (SQLite hands datetimes back naive; all are UTC)."""
    return as_utc(dt).isoformat() if dt is not None else None
