"""The state database's schema: apply migrations up to a revision."""

from __future__ import annotations

from indexflow.db.migrate import current_revision, upgrade
from indexflow.db.session import make_engine
from indexflow.settings import Settings, mask_url


def upgrade_schema(settings: Settings, revision: str = "head") -> str:
    """Apply the migrations up to ``revision`` (PostgreSQL and SQLite alike).

    Returns:
        "<database url, password masked> at revision <revision>".
    """
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine, revision)
        return f"{mask_url(settings.effective_database_url)} at revision {current_revision(engine)}"
    finally:
        engine.dispose()
