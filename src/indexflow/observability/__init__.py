"""Metrics (Prometheus) and structured logs; see docs/operations.md.

``metrics`` holds every metric and imports prometheus_client; ``logs`` only the stdlib. Neither
is imported by ``import indexflow``.
"""
