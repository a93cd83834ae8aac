"""One process owns an embedded home: its SQLite database, its Qdrant Edge store, its worker.

The owner holds an exclusive ``flock`` on ``<home>/owner.lock`` and writes who it is there. A
second process refuses up front — before it registers anything — and says which process holds
the home and what to do instead. The kernel drops the lock when the owner dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from pathlib import Path
from typing import IO

from indexflow.errors import ConflictError


class HomeLocked(ConflictError):
    """Another process owns this embedded home."""

    code = "home_locked"


_held: dict[Path, tuple[IO[str], int]] = {}
_lock = threading.Lock()


def acquire(home: Path) -> None:
    """Own ``home`` in this process (re-entrant within the process).

    Raises:
        HomeLocked: another live process holds it.
    """
    path = (home / "owner.lock").resolve()
    with _lock:
        if path in _held:
            fh, count = _held[path]
            _held[path] = (fh, count + 1)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")  # noqa: SIM115 - held open for the life of the lock
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise HomeLocked(
                f"{home} is in use by {holder}. The embedded default allows one process per home: "
                "use that process's HTTP API (e.g. POST /v1/datasets/<name>/documents), stop it, or "
                "scale out (INDEXFLOW_DATABASE_URL + INDEXFLOW_BROKER_URL) for many processes"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} ({' '.join(os.path.basename(a) for a in sys.argv[:3])})")
        fh.flush()
        _held[path] = (fh, 1)


def release(home: Path) -> None:
    path = (home / "owner.lock").resolve()
    with _lock:
        if path not in _held:
            return
        fh, count = _held[path]
        if count > 1:
            _held[path] = (fh, count - 1)
            return
        del _held[path]
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()
