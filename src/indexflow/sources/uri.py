"""URI sources: anything fsspec reads (s3://, gs://, https://, …), read with a byte limit."""

from __future__ import annotations

from indexflow.errors import ConfigurationError, InputTooLarge, InvalidRequest, NotFound, TransientError


def read_uri(uri: str, max_bytes: int) -> bytes:
    import fsspec

    try:
        with fsspec.open(uri, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except ImportError as exc:  # fsspec names the missing backend package (s3fs, gcsfs, …)
        raise ConfigurationError(f"{uri}: {exc}") from exc
    except ValueError as exc:  # unknown protocol
        raise InvalidRequest(f"{uri}: {exc}") from exc
    except FileNotFoundError as exc:
        raise NotFound(f"{uri}: not found") from exc
    except (OSError, TimeoutError) as exc:
        raise TransientError(f"{uri}: {exc}") from exc
    if len(data) > max_bytes:
        raise InputTooLarge(f"{uri}: over the {max_bytes}-byte limit")
    return bytes(data)
