"""Metrics: what this process did, and the database's counts, for Prometheus."""

from __future__ import annotations

from collections.abc import Collection

from indexflow.db import stats as stats_repo
from indexflow.manage.context import Context
from indexflow.views.metrics import Exposition


class Metrics:
    """``ix.metrics``: the Prometheus exposition of this process (``GET /metrics``)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def snapshot(self, *, datasets: Collection[str] | None = None) -> stats_repo.Snapshot:
        """The state gauges' values: plans and documents by status, units per queue.

        ``datasets``: only plans and documents of these (an API key's scope).
        """
        with self._ctx.read() as s:
            return stats_repo.snapshot(s, datasets=datasets)

    def exposition(self, *, datasets: Collection[str] | None = None) -> Exposition:
        """This process's counters and histograms (stages, embedding, retries, failures,
        Dramatiq) and the state gauges read from the database now, in the text format."""
        from indexflow.observability import metrics

        settings = self._ctx.settings
        text = metrics.exposition(
            lambda: self.snapshot(datasets=datasets), [settings.plan_queue, settings.embed_queue]
        )
        return Exposition(content_type=metrics.CONTENT_TYPE, text=text.decode())
