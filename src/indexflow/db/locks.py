"""Cross-process locks held in the database."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# pg_try_advisory_xact_lock key of the sweeper: one sweeper at a time across the fleet.
SWEEPER_LOCK = 7_204_118_332


def try_sweeper_lock(s: Session) -> bool:
    """Take the sweeper's lock for this transaction, if nobody holds it (always, on SQLite).

    On SQLite one process owns a home and writers are serialised anyway. On PostgreSQL the
    lock is a transaction-level advisory lock, and the transaction gets an idle timeout, so
    a sweeper stopped mid-pass (SIGSTOP) cannot hold it for ever.
    """
    if s.get_bind().dialect.name != "postgresql":
        return True
    s.execute(text("SET LOCAL idle_in_transaction_session_timeout = '30s'"))
    return bool(s.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SWEEPER_LOCK}))
