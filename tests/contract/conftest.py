"""Services for the store contract: PostgreSQL with pgvector must be there, or the run fails."""

from __future__ import annotations

import os

import psycopg
import pytest

PG_DSN = os.environ.get("INDEXFLOW_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
_HINT = "run scripts/install_pgvector.sh (as root) to build and install the pgvector extension"


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The test database's DSN, after checking that it answers and has the vector extension.

    A missing service fails the run instead of skipping it, so CI cannot pass by accident.
    """
    try:
        with psycopg.connect(PG_DSN, connect_timeout=5) as conn:
            available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_DSN} is unreachable ({exc}); start it, then {_HINT}")
    if available is None:
        pytest.fail(f"PostgreSQL at {PG_DSN} has no 'vector' extension available; {_HINT}")
    return PG_DSN
