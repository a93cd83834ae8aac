"""Lifecycle operations of the facade: rerun, activate, deactivate, purge, profiles."""

from __future__ import annotations


class LifecycleMixin:
    """Mixed into ``Indexflow``; operations that change what serves search."""
