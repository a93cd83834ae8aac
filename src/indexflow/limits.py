"""How long the strings indexflow stores may be, and the checks that hold outside input to them.

One place for every size: ``db/models.py`` declares its ``String`` columns with these constants,
and the checks run on them before anything is written, so a check cannot drift from the column
it protects. They are used by registration (``pipeline/register.py``: dataset, source, filename,
title), profile creation (``manage/profiles.py``), the JSON tree parser (component ids and
kinds) and the HTTP API's request models (``api/schemas.py``), which cannot import ``db/``.

Identities (a dataset, a source, a profile name, a component id) that do not fit are refused
with an ``InvalidRequest`` naming the field and the limit; descriptive values that come from the
documents themselves (a title, a file name, a component kind) are shortened instead.
"""

from __future__ import annotations

import re

from indexflow.domain.metadata import METADATA_KEY_MAX as _METADATA_KEY_MAX
from indexflow.errors import InvalidRequest

# -- column sizes (characters: VARCHAR(n) on PostgreSQL; SQLite does not enforce them) ------------
DATASET_NAME_MAX = 200  # datasets.name
SOURCE_MAX = 2000  # documents.source
TITLE_MAX = 500  # documents.title, document_versions.title
FILENAME_MAX = 500  # document_blobs.filename
FORMAT_NAME_MAX = 32  # document_versions.format
PROFILE_NAME_MAX = 200  # index_profiles.name
ENCODER_NAME_MAX = 500  # index_profiles.encoder, index_profiles.tokenizer
DISTANCE_MAX = 16  # index_profiles.distance
COMPONENT_ID_MAX = 200  # components.local_id, components.parent_local_id
COMPONENT_KIND_MAX = 32  # components.kind
WEBHOOK_URL_MAX = 2000  # webhooks.url
WEBHOOK_SECRET_MAX = 200  # webhooks.secret
EVENT_TYPE_MAX = 64  # webhook_deliveries.event_type
METADATA_KEY_MAX = _METADATA_KEY_MAX  # metadata_fields.name (the domain's rule)
FINGERPRINT_MAX = 255  # documents.source_fingerprint

# -- integer columns ---------------------------------------------------------------------------
ID_MAX = 2**63 - 1  # BIGINT ids (INTEGER on SQLite is 64-bit too)
INT_MAX = 2**31 - 1  # INTEGER columns on PostgreSQL (profile parameters, counts)

# Dataset and profile names: they appear in URL paths and upload:// sources.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter or a digit"
_NAME_RE = re.compile(NAME_PATTERN)

ELLIPSIS = "…"


def check_length(field: str, value: str, limit: int) -> str:
    """``value`` when it fits in ``limit`` characters and holds no NUL (nor a lone surrogate).

    Raises:
        InvalidRequest: it does not; the message names ``field`` and the limit.
    """
    if len(value) > limit:
        raise InvalidRequest(f"{field}: {len(value)} characters is over the limit of {limit}")
    if "\x00" in value:
        raise InvalidRequest(f"{field}: may not contain a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidRequest(f"{field}: is not valid Unicode (a lone surrogate)") from exc
    return value


def check_name(field: str, value: str, limit: int) -> str:
    """``value`` when it is a valid dataset or profile name of at most ``limit`` characters.

    Raises:
        InvalidRequest: it is empty, too long or holds other characters than ``NAME_RULE``.
    """
    if not value:
        raise InvalidRequest(f"{field}: may not be empty")
    check_length(field, value, limit)
    if _NAME_RE.fullmatch(value) is None:
        raise InvalidRequest(f"{field}: {value!r} may hold only {NAME_RULE}")
    return value


def is_name(value: str) -> bool:
    """Whether ``value`` follows ``NAME_RULE`` (the length is checked apart)."""
    return _NAME_RE.fullmatch(value) is not None


def check_int(field: str, value: int, limit: int = INT_MAX) -> int:
    """``value`` when it fits the integer column it is stored in.

    Raises:
        InvalidRequest: it does not.
    """
    if not -limit - 1 <= value <= limit:
        raise InvalidRequest(f"{field}: {value} is out of range (at most {limit})")
    return value


def fit(value: str, limit: int) -> str:
    """``value`` shortened to at most ``limit`` characters, ending in "…" when it was cut."""
    value = value.replace("\x00", "")
    if len(value) <= limit:
        return value
    return value[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def fit_filename(value: str, limit: int = FILENAME_MAX) -> str:
    """A file name shortened to ``limit`` characters keeping its extension (formats are detected by it)."""
    value = value.replace("\x00", "")
    if len(value) <= limit:
        return value
    stem, dot, ext = value.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        return fit(value, limit)
    keep = limit - len(ELLIPSIS) - len(ext) - 1
    return f"{stem[:keep]}{ELLIPSIS}.{ext}"
