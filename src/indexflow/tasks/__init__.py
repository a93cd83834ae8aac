"""Dramatiq: broker setup, thin actors that call pipeline stages, the in-process worker."""
