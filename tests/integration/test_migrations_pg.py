"""Migrations on the real PostgreSQL: upgrade head matches the models."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from indexflow.db.migrate import upgrade
from indexflow.db.models import Base
from indexflow.db.session import make_engine
from tests.conftest import PG_URL, require_port

pytestmark = pytest.mark.integration


def test_postgres_upgrade_head_matches_the_models() -> None:
    require_port("PostgreSQL", 5432)
    name = f"ixmig_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(PG_URL.rsplit("/", 1)[0] + f"/{name}")
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        engine.dispose()
        assert diff == []
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
