"""Pure domain logic: component trees, bundling, chunking, ids. No I/O."""
