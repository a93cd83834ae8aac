"""Metrics: the Prometheus text exposition of ``GET /metrics``."""

from __future__ import annotations

from pydantic import Field

from indexflow.views.base import View


class Exposition(View):
    """Metrics in the Prometheus text format (docs/operations.md lists them)."""

    content_type: str = Field(description="the media type to serve it with")
    text: str = Field(description="the exposition: # HELP / # TYPE lines and samples")
