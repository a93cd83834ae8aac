"""Sources: where documents come from (local files and folders, fsspec URIs, uploaded bytes).

``Source`` names one document and reads its bytes with a limit; ``expand`` turns paths,
folders and URIs into sources (every extension a registered format claims); ``basename`` is a
source's last path segment, its default display name. ``UriPolicy`` is what a remote caller (the
HTTP API) may name: allowed schemes, local roots, vetted http(s) addresses.
"""

from indexflow.domain.ids import basename
from indexflow.sources.local import Source, expand
from indexflow.sources.policy import UriPolicy, classify_address

__all__ = ["Source", "UriPolicy", "basename", "classify_address", "expand"]
