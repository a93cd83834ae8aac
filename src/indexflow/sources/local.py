"""Local sources: files and folders, walked and read with limits."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexflow.errors import InputTooLarge, InvalidRequest, NotFound, invalid_request
from indexflow.parsers.registry import indexable_suffixes

if TYPE_CHECKING:
    from indexflow.sources.policy import UriPolicy


@dataclass(slots=True)
class Source:
    """A document to fetch: ``source`` is its stable identity (absolute path or URI).

    ``fingerprint`` is what the source looked like when listed (an ETag, or size and mtime), so
    an ingest can tell an unchanged source without reading it; None: unknown, always read.
    """

    source: str
    filename: str
    size: int | None = None
    fingerprint: str | None = None

    def read(self, max_bytes: int, policy: UriPolicy | None = None) -> bytes:
        """At most ``max_bytes`` of the document; a ``policy`` (the API's) checks and reads it."""
        if policy is not None:
            return policy.read(self.source, max_bytes)
        if "://" in self.source and not self.source.startswith("file://"):
            from indexflow.sources.uri import read_uri

            return read_uri(self.source, max_bytes)
        path = Path(self.source.removeprefix("file://"))
        size = path.stat().st_size
        if size > max_bytes:
            raise InputTooLarge(f"{path}: {size} bytes is over the {max_bytes}-byte limit")
        return path.read_bytes()


def expand(
    paths: Iterable[str | os.PathLike[str]],
    skipped: list[str] | None = None,
    walk_errors: list[OSError] | None = None,
) -> Iterator[Source]:
    """Yield every document under ``paths`` (folders recursively, hidden entries skipped), sorted.

    Files in folders with an extension no registered format claims
    (:func:`~indexflow.parsers.registry.indexable_suffixes`) are left out and, if ``skipped`` is
    given, listed there (a file named explicitly is always tried: format sniffing decides).
    A URI is listed by :func:`indexflow.sources.remote.list_uri` (a prefix: every object under it).
    Folders that cannot be read are passed over; with ``walk_errors`` their errors are kept there
    (a sync must not take a folder it could not read for a folder that is gone).
    """
    suffixes = indexable_suffixes()
    for raw in paths:
        text = str(raw)
        if "://" in text and not text.startswith("file://"):
            from indexflow.sources.remote import list_uri

            yield from list_uri(text, skipped)
            continue
        path = Path(text.removeprefix("file://")).expanduser()
        if path.is_file():
            yield _local(path.resolve(), path.name)
        elif path.is_dir():
            onerror = walk_errors.append if walk_errors is not None else None
            for root, dirs, files in os.walk(path, onerror=onerror):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or name.endswith(SIDECAR_SUFFIX):
                        continue  # hidden, or a sidecar: another file's metadata
                    if Path(name).suffix.lower() not in suffixes:
                        if skipped is not None:
                            skipped.append(str(Path(root) / name))
                        continue
                    try:
                        found = _local((Path(root) / name).resolve(), name)
                    except FileNotFoundError:
                        continue  # deleted since the folder was read: gone, like an unlisted file
                    yield found
        else:
            raise NotFound(f"{path}: no such file or folder")


def _local(path: Path, name: str) -> Source:
    st = path.stat()
    return Source(str(path), name, st.st_size, local_fingerprint(st))


RACY_SECONDS = 2.0


def local_fingerprint(st: os.stat_result) -> str | None:
    """A local file's look without reading it: size and modification time (ns).

    None for a file modified in the last :data:`RACY_SECONDS`: a file system's clock ticks
    coarser than a nanosecond, so a same-size edit in the same tick would look unchanged (git
    calls such entries "racily clean" and checks their content; so does an ingest).
    """
    if time.time() - st.st_mtime < RACY_SECONDS:
        return None
    return f"size:{st.st_size};mtime_ns:{st.st_mtime_ns}"


SIDECAR_SUFFIX = ".meta.json"
SIDECAR_MAX_BYTES = 1 << 20


def sidecar_path(source: str) -> Path | None:
    """The metadata sidecar of a local file: ``NAME.meta.json`` (``report.pdf.meta.json``), else
    ``STEM.meta.json`` (``report.meta.json``) next to it; None for URIs or when there is none."""
    if "://" in source and not source.startswith("file://"):
        return None
    path = Path(source.removeprefix("file://"))
    for candidate in (path.with_name(path.name + SIDECAR_SUFFIX), path.with_name(path.stem + SIDECAR_SUFFIX)):
        if candidate != path and candidate.is_file():
            return candidate
    return None


def sidecar_metadata(source: str) -> dict[str, Any]:
    """The (flattened, checked) metadata of a local file's sidecar; ``{}`` without one.

    Raises:
        InvalidRequest: the sidecar is not a JSON object of valid metadata (named in the message).
    """
    from indexflow.domain import metadata as md

    path = sidecar_path(source)
    if path is None:
        return {}
    try:
        if path.stat().st_size > SIDECAR_MAX_BYTES:
            raise InvalidRequest(f"{path}: a metadata sidecar over {SIDECAR_MAX_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"{path}: not a readable JSON metadata sidecar: {exc}") from exc
    with invalid_request():
        return dict(md.normalize(data, what=str(path)))
