"""The exceptions indexflow raises, in one tree.

    IndexflowError                      root: catch this to catch everything of ours
    ├── TransientError                  worth retrying with backoff (a service hiccup)
    │   ├── StoreUnavailable            vector store unreachable / timed out
    │   ├── DatabaseUnavailable         state database unreachable / locked
    │   └── EncoderUnavailable          remote encoder unreachable / rate limited
    ├── PermanentError                  retrying cannot help: fail the plan, keep the message
    │   ├── InvalidRequest              malformed input from the caller (also a ValueError)
    │   ├── UnsupportedFormat           no parser for these bytes
    │   ├── ParseError                  a parser could not read the document
    │   ├── InputTooLarge               a limit on outside input was exceeded (HTTP 413)
    │   │   └── RequestTooLarge         an HTTP request body over the API's limits
    │   ├── DimensionMismatch           encoder output does not fit the collection
    │   ├── InvalidData                 the database refused a value (too long, NUL, out of range)
    │   └── EncoderError                the encoder rejected the input / is misconfigured
    ├── NotFound                        an id or name that does not exist (or outside the key's datasets)
    ├── Unauthorized                    no API key, or an unknown or revoked one (HTTP 401)
    ├── Forbidden                       the API key's role is too weak for the operation (HTTP 403)
    ├── ConflictError                   an operation the current state forbids (e.g. edit a used profile)
    │   ├── NoWorkers                   a broker is set but no live worker listens on a needed queue
    │   └── WriteConflict               a unique or foreign key constraint hit by a concurrent write
    └── ConfigurationError              settings that cannot work together

Adapters translate vendor exceptions at their boundary (``raise StoreUnavailable(...) from exc``)
so the pipeline only ever reasons about these classes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class IndexflowError(Exception):
    """Root of every exception indexflow raises on purpose."""

    code = "indexflow_error"


class TransientError(IndexflowError):
    """A failure that may go away by itself; the caller should retry with backoff."""

    code = "transient_error"


class StoreUnavailable(TransientError):
    code = "store_unavailable"


class DatabaseUnavailable(TransientError):
    code = "database_unavailable"


class EncoderUnavailable(TransientError):
    code = "encoder_unavailable"


class PermanentError(IndexflowError):
    """A failure that retrying cannot fix (bad input, wrong configuration)."""

    code = "permanent_error"


class UnsupportedFormat(PermanentError):
    code = "unsupported_format"


class InvalidRequest(PermanentError, ValueError):
    """The caller asked for something malformed (an unknown URI scheme, a bad argument)."""

    code = "invalid_request"


class ParseError(PermanentError):
    code = "parse_error"


class InputTooLarge(PermanentError):
    code = "input_too_large"


class RequestTooLarge(InputTooLarge):
    """An HTTP request body over ``api_max_upload_bytes`` / ``api_max_json_bytes``."""

    code = "too_large"


class DimensionMismatch(PermanentError):
    code = "dimension_mismatch"


class EncoderError(PermanentError):
    code = "encoder_error"


class InvalidData(PermanentError):
    """The database refused a value: too long for its column, a NUL character, a number out of
    range, a NOT NULL or CHECK constraint. Retrying the same write cannot help (HTTP 422)."""

    code = "invalid_data"


class NotFound(IndexflowError):
    code = "not_found"


class Unauthorized(IndexflowError):
    """The HTTP API needs an API key (one exists) and the request has none that is valid."""

    code = "unauthorized"


class Forbidden(IndexflowError):
    """The API key is valid but its role does not allow the operation."""

    code = "forbidden"


class ConflictError(IndexflowError):
    code = "conflict"


class NoWorkers(ConflictError):
    code = "no_workers"


class WriteConflict(ConflictError):
    """A unique or foreign key constraint failed because another transaction wrote (or deleted)
    the same row first, past the races indexflow resolves itself. HTTP 409; a background unit
    retries it a bounded number of times, since a retry sees the other write."""

    code = "write_conflict"


class ConfigurationError(IndexflowError):
    code = "configuration_error"


@contextmanager
def invalid_request() -> Iterator[None]:
    """Raise the domain's validation errors (``MetadataError``) as ``InvalidRequest``."""
    from indexflow.domain.metadata import MetadataError

    try:
        yield
    except MetadataError as exc:
        raise InvalidRequest(str(exc)) from exc
