"""Sources: where documents come from (local files and folders, fsspec URIs, uploaded bytes).

``Source`` names one document and reads its bytes with a limit; ``expand`` turns paths,
folders and URIs into sources.
"""

from indexflow.sources.local import Source, expand

__all__ = ["Source", "expand"]
