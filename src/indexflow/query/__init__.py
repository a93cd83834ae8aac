"""Read-side use cases: search and preview (nothing here writes)."""
