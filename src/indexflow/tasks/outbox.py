"""The outbox relay: send committed work units to the broker and mark them sent.

Units are written in the transaction that makes their work visible; this sends them after that
commit. A crash (or a broker outage) between commit and send leaves them unsent, and the
sweeper's relay sends them later: work is delayed, never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from indexflow.db import units as units_repo
from indexflow.db.models import UnitKind, utcnow
from indexflow.db.session import transaction
from indexflow.db.units import Outgoing
from indexflow.runtime import Runtime

log = logging.getLogger(__name__)

Send = Callable[[UnitKind, int], None]


class Outbox:
    """Sends units through ``send(kind, unit_id)`` (the actors) and records that they went."""

    def __init__(self, rt: Runtime, send: Send, before_send: Callable[[], None] | None = None) -> None:
        self.rt, self._send, self._before_send = rt, send, before_send

    def send(self, unit_ids: Sequence[int]) -> int:
        """Send these (just committed) units; returns how many went out."""
        if not unit_ids:
            return 0
        with transaction(self.rt.sessions) as s:
            items = units_repo.outgoing(s, unit_ids)
        return self._deliver(items)

    def relay(self, limit: int = 1000) -> int:
        """Send every unit that is due and unsent (never sent, backoff over, claim expired)."""
        with transaction(self.rt.sessions) as s:
            items = units_repo.due_unsent(s, utcnow(), limit)
        return self._deliver(items)

    def _deliver(self, items: list[Outgoing]) -> int:
        if not items:
            return 0
        if self._before_send is not None:
            self._before_send()
        ids = [item.unit_id for item in items]
        # Marked sent *before* sending, in a committed transaction: a worker may get the message
        # within milliseconds, and its claim skips locked rows (FOR UPDATE SKIP LOCKED), so a
        # "mark sent" transaction still open at that moment would make it drop the message.
        with transaction(self.rt.sessions) as s:
            units_repo.mark_sent(s, ids)
        sent: list[int] = []
        try:
            for item in items:
                self._send(item.kind, item.unit_id)
                sent.append(item.unit_id)
        except Exception as exc:  # noqa: BLE001 - any broker client error: the rest waits for the relay
            unsent = ids[len(sent) :]
            log.warning("broker refused a message (%s); %d unit(s) left for the relay", exc, len(unsent))
            try:
                with transaction(self.rt.sessions) as s:
                    units_repo.mark_unsent(s, unsent)
            except Exception as undo:  # noqa: BLE001 - then they count as lost messages: redelivered
                log.warning(
                    "could not mark %d unit(s) unsent (%s); the sweeper redelivers them", len(unsent), undo
                )
        return len(sent)
