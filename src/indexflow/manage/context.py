"""What every collaborator of the facade shares: the runtime and the task runner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from indexflow.db.session import transaction
from indexflow.errors import InvalidRequest
from indexflow.pipeline.machine import Applied, Queues
from indexflow.runtime import Runtime
from indexflow.settings import Settings
from indexflow.stores.base import VectorStore

if TYPE_CHECKING:  # the runner imports dramatiq: only the commands that run work load it
    from indexflow.tasks.runner import TaskRunner


class Context:
    """The runtime (database, store, models) and the task runner, built on first use."""

    def __init__(self, rt: Runtime, tasks: Callable[[], TaskRunner]) -> None:
        self.rt = rt
        self._tasks = tasks

    @property
    def settings(self) -> Settings:
        return self.rt.settings

    @property
    def store(self) -> VectorStore:
        return self.rt.store

    @property
    def queues(self) -> Queues:
        return self.rt.queues

    @property
    def tasks(self) -> TaskRunner:
        return self._tasks()

    def read(self) -> AbstractContextManager[Session]:
        """A read-only transaction (on SQLite it never waits behind the write lock)."""
        return transaction(self.rt.readers)

    def write(self) -> AbstractContextManager[Session]:
        """A read-write transaction, committed when the block ends."""
        return transaction(self.rt.sessions)

    def own_home(self) -> None:
        """On the embedded default, take the home's lock before changing anything."""
        self.tasks.own_home()

    def send(self, applied: Applied) -> None:
        """After commit: send the units ``applied`` added, drop what it retired from the store."""
        from indexflow.tasks.execute import after_commit

        after_commit(self.rt, applied, self.tasks.outbox)


def check_status(status: str, allowed: Sequence[str]) -> str:
    """``status`` upper-cased if it is one of ``allowed``.

    Raises:
        InvalidRequest: it is not (naming the statuses there are).
    """
    wanted = status.upper()
    if wanted not in allowed:
        raise InvalidRequest(f"status: {status!r} is not one of {', '.join(allowed)}")
    return wanted
