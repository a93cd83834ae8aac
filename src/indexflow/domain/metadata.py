"""Document metadata: what keys and values are allowed, their kinds, and search filters on them.

Metadata is a flat mapping of keys to scalars (str, int, float, bool) or lists of them; nested
objects are flattened into dotted keys (``{"a": {"b": 1}}`` → ``{"a.b": 1}``). Each key has a
*kind*, decided by the first document of a dataset that holds it:

- ``keyword``: strings (equality and ``in``);
- ``number``: ints and floats (equality, ``in`` and ranges);
- ``bool``;
- ``datetime``: ISO 8601 dates or date-times (``2024-05-01``, ``2024-05-01T10:00:00Z``); equality,
  ``in`` and ranges, compared as instants (a date is its midnight UTC; a time without an offset
  is UTC).

Stores receive :func:`store_values` (datetimes as epoch seconds, so every engine compares them
as numbers); hits return the metadata as given.

A filter (:func:`parse_where`) maps keys to a value (equality; a list means ``in``) or to an
operator object ``{"eq"|"in"|"gt"|"gte"|"lt"|"lte": …}``. Every key must be one the dataset
knows and every value must fit its kind: anything else is a :class:`MetadataError` naming it
(the facade raises it as ``InvalidRequest``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

METADATA_KEY_MAX = 128  # metadata_fields.name (indexflow.limits re-exports it)


class MetadataError(ValueError):
    """Metadata or a filter that is not valid; the facade raises it as ``InvalidRequest``."""


KEYWORD, NUMBER, BOOL, DATETIME = "keyword", "number", "bool", "datetime"
KINDS = (KEYWORD, NUMBER, BOOL, DATETIME)
OPERATORS = ("eq", "in", "gt", "gte", "lt", "lte")
RANGE_OPERATORS = ("gt", "gte", "lt", "lte")
MAX_KEYS = 64
MAX_VALUE_CHARS = 2000
MAX_LIST = 100
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")

Scalar = str | int | float | bool
Value = Scalar | list[Scalar]


def normalize(metadata: Mapping[str, Any] | None, *, what: str = "metadata") -> dict[str, Value]:
    """Check and flatten caller-given metadata.

    Raises:
        MetadataError: not a mapping, a key that is not a name, too many keys, a value that is
            not a scalar or a list of scalars, or one too long.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise MetadataError(f"{what} must be an object of key/value pairs, not {type(metadata).__name__}")
    out: dict[str, Value] = {}
    _flatten(metadata, "", out, what)
    if len(out) > MAX_KEYS:
        raise MetadataError(f"{what} has {len(out)} keys; at most {MAX_KEYS} are allowed")
    return out


def _flatten(obj: Mapping[str, Any], prefix: str, out: dict[str, Value], what: str) -> None:
    for raw_key, value in obj.items():
        if not isinstance(raw_key, str):
            raise MetadataError(f"{what}: keys must be strings, not {raw_key!r}")
        key = f"{prefix}{raw_key}"
        if isinstance(value, Mapping):
            _flatten(value, f"{key}.", out, what)
            continue
        check_key(key, what)
        if value is None:
            continue  # an explicit null leaves the key out
        if isinstance(value, list | tuple):
            if len(value) > MAX_LIST:
                raise MetadataError(f"{what}: {key!r} has {len(value)} values; at most {MAX_LIST}")
            items = [_scalar(key, v, what) for v in value if v is not None]
            if len({kind_of(v) for v in items}) > 1:
                raise MetadataError(f"{what}: the values of {key!r} mix kinds")
            out[key] = items
        else:
            out[key] = _scalar(key, value, what)


def check_key(key: str, what: str = "metadata") -> str:
    if not _KEY.match(key) or len(key) > METADATA_KEY_MAX or ".." in key or key.endswith("."):
        raise MetadataError(
            f"{what}: {key[:80]!r} is not a valid key (letters, digits, '_', '-', '.'; starting with "
            f"a letter or '_'; at most {METADATA_KEY_MAX} characters)"
        )
    return key


def _scalar(key: str, value: Any, what: str) -> Scalar:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MetadataError(f"{what}: {key!r} is not a finite number")
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise MetadataError(f"{what}: the value of {key!r} is over {MAX_VALUE_CHARS} characters")
        return value
    raise MetadataError(f"{what}: {key!r} must be a string, number, boolean or a list of them, not {value!r}")


def kind_of(value: Value) -> str:
    if isinstance(value, list):
        return kind_of(value[0]) if value else KEYWORD
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    return DATETIME if parse_datetime(value) is not None else KEYWORD


def kinds(metadata: Mapping[str, Value]) -> dict[str, str]:
    """Each key's kind; an empty list says nothing about its key (left out)."""
    return {k: kind_of(v) for k, v in metadata.items() if not (isinstance(v, list) and not v)}


def parse_datetime(value: object) -> float | None:
    """Epoch seconds of an ISO 8601 date or date-time string (UTC when it has no offset), else None."""
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        return None
    text = value.strip().replace(" ", "T").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def conform(metadata: Mapping[str, Value], known: Mapping[str, str], *, what: str = "metadata") -> None:
    """Every key already known in the dataset must keep its kind.

    Raises:
        MetadataError: a value of another kind (``year: "2020"`` where ``year`` is a number).
    """
    for key, kind in kinds(metadata).items():
        have = known.get(key)
        if have is not None and have != kind and not (have == KEYWORD and kind == DATETIME):
            raise MetadataError(f"{what}: {key!r} is a {have} in this dataset; {metadata[key]!r} is a {kind}")


def store_key(key: str) -> str:
    """A metadata key as the stores hold it under ``meta``: only ``[A-Za-z0-9_]`` (``_`` → ``_u``,
    ``.`` → ``_d``, ``-`` → ``_m``), so no engine reads a dot as a nested path; reversible."""
    return key.replace("_", "_u").replace(".", "_d").replace("-", "_m")


def store_values(metadata: Mapping[str, Value], known: Mapping[str, str]) -> dict[str, Any]:
    """What the vector store filters on (keys by :func:`store_key`): numbers as floats,
    datetimes as epoch seconds, keywords as strings, lists as lists (a filter matches any item)."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        kind = known.get(key) or kind_of(value)
        values = value if isinstance(value, list) else [value]
        converted = [_store_value(kind, v) for v in values]
        kept = [v for v in converted if v is not None]
        if isinstance(value, list):
            out[store_key(key)] = kept
        elif kept:
            out[store_key(key)] = kept[0]
    return out


def _store_value(kind: str, value: Scalar) -> Any:
    if kind == DATETIME:
        return parse_datetime(value)
    if kind == NUMBER:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == BOOL:
        return value if isinstance(value, bool) else None
    return str(value) if not isinstance(value, bool) else str(value).lower()


def identity(metadata: Mapping[str, Value]) -> str:
    """A digest of the metadata (empty for none), folded into the version's identity."""
    if not metadata:
        return ""
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def merge(found: Mapping[str, Any] | None, given: Mapping[str, Value] | None) -> dict[str, Value]:
    """The parser's findings overlaid by the caller's metadata (the caller wins)."""
    out: dict[str, Value] = {}
    for key, value in (found or {}).items():
        try:
            out.update(normalize({key: value}, what="document metadata"))
        except MetadataError:
            continue  # a parser's odd property is not worth failing a document over
    out.update(given or {})
    return out


@dataclass(frozen=True, slots=True)
class Condition:
    """One key's test: ``op`` is one of ``OPERATORS``; ``value`` is in store form (a list for
    ``in``): a float (numbers, datetimes), a str or a bool. ``field`` is the store's key."""

    key: str
    op: str
    value: Any

    @property
    def field(self) -> str:
        return store_key(self.key)

    def matches(self, stored: Any) -> bool:
        """Whether a stored value (a scalar, or a list: any item) passes — the reference semantics
        every store adapter implements."""
        items = stored if isinstance(stored, list) else [stored]
        return any(self._one(v) for v in items if v is not None)

    def _one(self, v: Any) -> bool:
        if self.op == "eq":
            return type(v) is type(self.value) and v == self.value
        if self.op == "in":
            return any(type(v) is type(x) and v == x for x in self.value)
        if isinstance(v, bool) or not isinstance(v, float | int):
            return False
        passed: bool = {
            "gt": v > self.value,
            "gte": v >= self.value,
            "lt": v < self.value,
            "lte": v <= self.value,
        }[self.op]
        return passed


def parse_where(where: Mapping[str, Any] | None, known: Mapping[str, str]) -> tuple[Condition, ...]:
    """Turn a filter object into store conditions, checked against the dataset's fields.

    Raises:
        MetadataError: an unknown key (the known ones are named), an unknown operator, a range
            on a keyword or bool, or a value that does not fit the key's kind.
    """
    if not where:
        return ()
    if not isinstance(where, Mapping):
        raise MetadataError("where must be an object mapping metadata keys to values or {operator: value}")
    out: list[Condition] = []
    for key, test in where.items():
        kind = known.get(key)
        if kind is None:
            names = ", ".join(sorted(known)) or "none yet"
            raise MetadataError(f"unknown metadata field {key!r} in where; this dataset has: {names}")
        if isinstance(test, Mapping):
            if not test:
                raise MetadataError(f"where: {key!r} has an empty test")
            for op, value in test.items():
                out.append(_condition(key, kind, op, value))
        elif isinstance(test, list | tuple):
            out.append(_condition(key, kind, "in", test))
        else:
            out.append(_condition(key, kind, "eq", test))
    return tuple(out)


def _condition(key: str, kind: str, op: str, value: Any) -> Condition:
    if op not in OPERATORS:
        raise MetadataError(f"where: {key!r}: unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    if op in RANGE_OPERATORS and kind not in (NUMBER, DATETIME):
        raise MetadataError(f"where: {key!r} is a {kind}; ranges ({op}) need a number or a datetime field")
    if op == "in":
        if not isinstance(value, list | tuple) or not value:
            raise MetadataError(f"where: {key!r}: 'in' takes a non-empty list")
        return Condition(key, "in", [_filter_value(key, kind, v) for v in value])
    return Condition(key, op, _filter_value(key, kind, value))


def _filter_value(key: str, kind: str, value: Any) -> Any:
    if kind == NUMBER:
        number = _number(value)
        if number is None:
            raise MetadataError(f"where: {key!r} is a number; {value!r} is not")
        return number
    if kind == DATETIME:
        if isinstance(value, datetime | date):
            value = value.isoformat()
        moment = parse_datetime(value)
        if moment is None:
            raise MetadataError(f"where: {key!r} is a datetime; {value!r} is not an ISO 8601 date or time")
        return moment
    if kind == BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise MetadataError(f"where: {key!r} is a bool; {value!r} is not true or false")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    raise MetadataError(f"where: {key!r}: {value!r} is not a string")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def parse_cli_meta(items: list[str]) -> dict[str, Value]:
    """``--meta key=value`` options into metadata: a value that reads as a number or as
    true/false is one (``year=2024``, ``draft=false``); ``a,b`` stays one string.

    Raises:
        MetadataError: an option without ``=`` or with an invalid key.
    """
    out: dict[str, Value] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MetadataError(f"--meta {item!r}: use key=value")
        out[check_key(key.strip(), "--meta")] = _typed(value.strip())
    return normalize(out, what="--meta")


def _typed(value: str) -> Scalar:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if re.fullmatch(r"[+-]?\d{1,18}", value):
        return int(value)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", value):
        number = float(value)
        return number if math.isfinite(number) else value
    return value


_CLI = re.compile(r"^\s*([^\s<>=!]+?)\s*(>=|<=|=|>|<|\s+in\s+)\s*(.*?)\s*$", re.IGNORECASE)
_CLI_OPS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt", "=": "eq"}


def parse_cli_where(items: list[str]) -> dict[str, Any]:
    """``--where`` options into a filter object: ``key=value``, ``key>=v`` (``>``, ``<``, ``<=``)
    and ``key in a,b,c`` (also ``key in (a, b)``); repeated options are all required.

    Values stay strings: :func:`parse_where` reads them by the key's kind.

    Raises:
        MetadataError: an option that is not one of those forms.
    """
    where: dict[str, dict[str, Any]] = {}
    for item in items:
        match = _CLI.match(item)
        if not match:
            raise MetadataError(f"--where {item!r}: use key=value, key>=value, key<value or 'key in a,b'")
        key, raw_op, value = match.groups()
        op = "in" if raw_op.strip().lower() == "in" else _CLI_OPS[raw_op]
        test = where.setdefault(key, {})
        if op == "in":
            inner = value.strip()
            if inner.startswith("(") and inner.endswith(")"):
                inner = inner[1:-1]
            test["in"] = [v.strip() for v in inner.split(",") if v.strip()]
        elif op in test:
            raise MetadataError(f"--where: {key!r} has two {op} tests")
        else:
            test[op] = value
    return where
