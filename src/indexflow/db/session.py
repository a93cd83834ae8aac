"""Engines and sessions: SQLite (WAL) for the embedded default, PostgreSQL for scale-out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from indexflow.errors import DatabaseUnavailable

T = TypeVar("T")


def make_engine(url: str, *, reader: bool = False) -> Engine:
    """Create an engine tuned for ``url``'s backend.

    SQLite gets WAL, a busy timeout and ``foreign_keys=ON``, so an in-process worker thread and
    readers can work at once; writers take the lock at BEGIN, while a ``reader`` engine never
    does (WAL readers see a snapshot and block nobody). PostgreSQL gets a pre-pinged pool.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=8, max_overflow=8
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        # Take the write lock at BEGIN so two writers queue up instead of failing to upgrade.
        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")

        return engine
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    # indexflow never holds a transaction open while it computes (parse, encode run outside one),
    # so a session idle in a transaction is a stopped or hung process: free its row locks.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        connect_args={"options": "-c idle_in_transaction_session_timeout=60000"},
    )


def insert_or_find(s: Session, row: T, find: Callable[[], T | None]) -> tuple[T, bool]:
    """Insert ``row`` under a savepoint; if a concurrent transaction inserted it first, ``find`` it.

    Returns:
        The row (inserted, or found with its lock) and whether this call inserted it.
    """
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
        return row, True
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found, False


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error, connection errors → transient."""
    session = factory()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise DatabaseUnavailable(f"database error: {exc.orig}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ping(engine: Engine) -> None:
    """Check that the database answers.

    Raises:
        DatabaseUnavailable: it does not.
    """
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise DatabaseUnavailable(f"database error: {exc.orig}") from exc
