"""Remote sources: list a URI prefix (``s3://bucket/prefix/``) or name one object, with fingerprints.

A listing is what fsspec's filesystem of the scheme reports (every object under the prefix,
recursively), filtered like a local folder: hidden segments, ``*.meta.json`` sidecars and
extensions no parser claims are left out. Each :class:`~indexflow.sources.local.Source` carries a
``fingerprint`` (the ETag when the backend gives one, else size and modification time) so an
ingest can skip an unchanged object without downloading it.

The backend packages are optional extras; a missing one is a ``ConfigurationError`` that names
the extra to install (:data:`EXTRAS`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from indexflow.domain.ids import basename
from indexflow.errors import ConfigurationError, InvalidRequest, NotFound, TransientError
from indexflow.sources.local import SIDECAR_SUFFIX, Source

EXTRAS: dict[str, str] = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "adl": "azure",
    "http": "http",
    "https": "http",
}
"""URI scheme → the ``indexflow[...]`` extra that installs its fsspec backend."""

_SINGLE_ONLY = frozenset({"http", "https"})  # no listing: a URL names one document


def scheme(uri: str) -> str:
    return uri.split("://", 1)[0].lower()


def missing_extra(uri: str, exc: ImportError) -> ConfigurationError:
    """The error for a URI whose backend package is not installed, naming the extra."""
    proto = scheme(uri)
    extra = EXTRAS.get(proto)
    if extra is None:
        return ConfigurationError(f"{uri}: {proto}:// needs a package that is not installed: {exc}")
    return ConfigurationError(f"{proto}:// needs the {extra} extra: pip install 'indexflow[{extra}]' ({exc})")


@contextmanager
def translated(uri: str) -> Iterator[None]:
    """Turn a backend's exceptions into ours: missing package, not found, transient."""
    try:
        yield
    except ImportError as exc:
        raise missing_extra(uri, exc) from exc
    except FileNotFoundError as exc:
        raise NotFound(f"{uri}: not found") from exc
    except PermissionError as exc:
        raise InvalidRequest(f"{uri}: access denied: {exc}") from exc
    except (OSError, TimeoutError) as exc:
        raise TransientError(f"{uri}: {exc}") from exc
    except ValueError as exc:  # an unknown protocol, a malformed URI
        raise InvalidRequest(f"{uri}: {exc}") from exc
    except Exception as exc:
        # The SDKs' own errors (botocore's EndpointConnectionError is no OSError): missing
        # credentials are configuration; anything else from the backend may pass (connection,
        # throttling, timeouts). Errors of ours or of Python itself go on as they are.
        package = type(exc).__module__.split(".", 1)[0]
        if package not in _BACKEND_PACKAGES:
            raise
        if "credential" in type(exc).__name__.lower():
            raise ConfigurationError(f"{uri}: no credentials for {scheme(uri)}:// ({exc})") from exc
        raise TransientError(f"{uri}: {exc}") from exc


_BACKEND_PACKAGES = frozenset(
    {"botocore", "aiobotocore", "boto3", "s3fs", "aiohttp", "google", "gcsfs", "azure", "adlfs", "fsspec"}
)


def filesystem(uri: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``uri`` and the path within it.

    Raises:
        ConfigurationError: the scheme's package is missing (the message names the extra).
        InvalidRequest: fsspec knows no such scheme.
    """
    import fsspec.core

    with translated(uri):
        fs, path = fsspec.core.url_to_fs(uri)
        # fsspec keeps one instance per set of options and caches its listings: a listing served
        # from that cache would miss what changed since (a second ingest, indexflow watch).
        fs.invalidate_cache()
    return fs, path


def list_uri(uri: str, skipped: list[str] | None = None) -> list[Source]:
    """Every document a URI names: the objects under a prefix (sorted), or the one object.

    A URI ending in ``/`` is always a prefix; otherwise it is the object of that name if there is
    one, else a prefix. Objects under a prefix with an extension no parser claims are left out
    (and listed in ``skipped``); an object named explicitly is always tried.

    Raises:
        NotFound: no such object, and nothing under the prefix either.
        ConfigurationError, InvalidRequest, TransientError: see :func:`filesystem`.
    """
    proto = scheme(uri)
    fs, path = filesystem(uri)
    if proto in _SINGLE_ONLY:
        with translated(uri):
            info = fs.info(path)
        return [Source(uri, basename(uri), _size(info), fingerprint(info))]
    if not uri.endswith("/"):
        with translated(uri):
            try:
                info = fs.info(path)
            except FileNotFoundError:
                info = {"type": "directory"}  # object stores: a prefix need not exist as a key
        if info.get("type") != "directory":
            return [Source(uri, basename(uri), _size(info), fingerprint(info))]
    with translated(uri):
        found: dict[str, dict[str, Any]] = fs.find(path, detail=True)
    left_out: list[str] = []
    sources = _filtered(fs, path.rstrip("/"), found, left_out)
    if skipped is not None:
        skipped.extend(left_out)
    if not sources and not left_out:
        # An object store cannot tell an empty prefix from a mistyped one: say so, and never let
        # an empty listing retire every document under it (ingest --sync skips a failed root).
        raise NotFound(f"{uri}: no objects under this prefix")
    return sources


def _filtered(fs: Any, root: str, found: dict[str, dict[str, Any]], skipped: list[str]) -> list[Source]:
    from indexflow.parsers.registry import indexable_suffixes

    suffixes = indexable_suffixes()
    out: list[Source] = []
    for key in sorted(found):
        info = found[key]
        if info.get("type", "file") == "directory":
            continue
        relative = key[len(root) :].lstrip("/") if key.startswith(root) else key
        parts = PurePosixPath(relative).parts
        if not parts or any(p.startswith(".") for p in parts) or parts[-1].endswith(SIDECAR_SUFFIX):
            continue  # hidden, or a sidecar: another file's metadata
        full = fs.unstrip_protocol(key)
        if PurePosixPath(parts[-1]).suffix.lower() not in suffixes:
            skipped.append(full)
            continue
        out.append(Source(full, parts[-1], _size(info), fingerprint(info)))
    return out


def prefix_of(uri: str) -> str:
    """What every source listed under ``uri`` starts with: its canonical URI and one ``/``."""
    fs, path = filesystem(uri)
    return str(fs.unstrip_protocol(path.rstrip("/"))).rstrip("/") + "/"


def fingerprint(info: dict[str, Any]) -> str | None:
    """What the object looks like without reading it: its ETag (or checksum), else size and mtime."""
    lowered = {str(k).lower(): v for k, v in info.items()}
    for key in ("etag", "md5hash", "content-md5", "crc32c", "digest"):
        value = lowered.get(key)
        if value:
            return f"{key}:{str(value).strip()}"
    size = _size(info)
    for key in ("lastmodified", "last_modified", "mtime", "updated", "last-modified", "modified"):
        value = lowered.get(key)
        if value:
            stamp = value.isoformat() if isinstance(value, datetime) else str(value)
            return f"size:{size};mtime:{stamp}"
    return None  # nothing stable to compare: always read


def _size(info: dict[str, Any]) -> int | None:
    size = info.get("size")
    return int(size) if isinstance(size, int | float) else None
