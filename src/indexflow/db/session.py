"""Engines and sessions: SQLite (WAL) for the embedded default, PostgreSQL for scale-out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from indexflow.errors import DatabaseUnavailable, InvalidData, WriteConflict

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
    """One unit of work: commit on success, roll back on error.

    The driver's errors leave as indexflow's: connection errors → ``DatabaseUnavailable``
    (transient); a value the database refuses (``DataError``: too long, a NUL, out of range; a NOT
    NULL or CHECK constraint) → ``InvalidData`` (permanent: never retried, HTTP 422); a unique or
    foreign key violation that no caller resolved as a race → ``WriteConflict`` (HTTP 409).
    """
    session = factory()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise DatabaseUnavailable(f"database error: {exc.orig}") from exc
    except (DataError, IntegrityError) as exc:
        session.rollback()
        raise refused(exc) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_TABLE_RE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)
_FROM_RE = re.compile(r'\bFROM\s+"?(\w+)"?', re.IGNORECASE)
_PARAM_SUFFIX_RE = re.compile(r"(__\d+|_\d+)$")  # insertmanyvalues "title__3", WHERE "name_1"
_UNIQUE_OR_FK = ("23505", "23503")  # unique_violation, foreign_key_violation


def refused(exc: DataError | IntegrityError) -> InvalidData | WriteConflict:
    """What a refused write means, in words: "value too long for documents.title (612 characters,
    at most 500)" rather than the driver's text and the SQL."""
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or ""
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    table = _statement_table(exc.statement or "")
    values = list(_bound_values(exc.params))
    if isinstance(exc, IntegrityError):
        name = getattr(orig, "sqlite_errorname", "") or ""
        if state in _UNIQUE_OR_FK or name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_FOREIGNKEY"):
            return WriteConflict(f"{first} (written concurrently); try again")
        return InvalidData(f"{first}" + (f" (table {table})" if table and table not in first else ""))
    if state == "22001" or "value too long" in first:
        for column, value, limit in _columns(table, values):
            if isinstance(value, str) and limit is not None and len(value) > limit:
                return InvalidData(f"value too long for {column} ({len(value)} characters, at most {limit})")
        return InvalidData(f"value too long for a column of {table or 'the database'}: {first}")
    if "NUL" in first:
        for column, value, _limit in _columns(table, values):
            if isinstance(value, str) and "\x00" in value:
                return InvalidData(f"{column} cannot hold a NUL character")
        return InvalidData("a value holds a NUL character, which the database cannot store")
    if state == "22003":
        return InvalidData(f"number out of range for a column of {table or 'the database'}: {first}")
    return InvalidData(f"the database refused a value{f' for {table}' if table else ''}: {first}")


def _statement_table(statement: str) -> str | None:
    found = _TABLE_RE.match(statement) or _FROM_RE.search(statement)
    return found.group(1) if found else None


def _bound_values(params: Any) -> Iterator[tuple[str, Any]]:
    batches = params if isinstance(params, list | tuple) else [params]
    for batch in batches:
        if isinstance(batch, dict):
            for key, value in batch.items():
                yield _PARAM_SUFFIX_RE.sub("", str(key)), value


def _columns(table: str | None, values: list[tuple[str, Any]]) -> Iterator[tuple[str, Any, int | None]]:
    """(``table.column``, value, the column's length) for each bound value naming a known column."""
    from indexflow.db.models import Base

    named = Base.metadata.tables.get(table) if table is not None else None
    tables = [named] if named is not None else []
    tables += [t for t in Base.metadata.tables.values() if t.name != table]
    for key, value in values:
        for t in tables:
            if key in t.c:
                yield f"{t.name}.{key}", value, getattr(t.c[key].type, "length", None)
                break


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
