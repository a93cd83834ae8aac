"""JSON component trees: records with ``id``/``parent_id``/``position``/``kind``/``text``.

Either an array of records or an object whose ``components`` array holds them, e.g. an exam
paper whose questions have parts (a), (b) and sub-parts (i), (ii). Records may come in any
order; they are validated and sorted into preorder without recursion. Any other JSON object or
array is generic data, flattened into readable key paths by ``indexflow.parsers.json_data``.

Ids are identities (``parent_id`` refers to them), so one longer than ``COMPONENT_ID_MAX`` (200)
characters fails the document's parse, naming the record and the limit: shortening could merge
two ids or break a parent link. A ``kind`` is a label nobody refers to, so one longer than
``COMPONENT_KIND_MAX`` (32) is shortened (ending in "…") and the document still indexes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from indexflow.domain.components import ParsedDocument
from indexflow.errors import InputTooLarge, ParseError
from indexflow.limits import COMPONENT_ID_MAX, COMPONENT_KIND_MAX, fit
from indexflow.parsers.base import Limits, TreeBuilder, clean_text, clean_title, display_name
from indexflow.parsers.detect import Sniffed, decode_text, looks_like_component_tree
from indexflow.parsers.json_data import parse_value


def parse(
    data: bytes, filename: str | None = None, limits: Limits | None = None, sniffed: Sniffed | None = None
) -> ParsedDocument:
    """Validate the records and return them in preorder, keeping each record's id; flatten
    other JSON (``json_data.parse_value``).

    Raises:
        ParseError: invalid JSON, wrong shape, a record without id, an id (or parent_id) over
            ``COMPONENT_ID_MAX`` characters, a duplicate id, a parent that does not exist, a
            parent cycle, or a tree deeper than the limit.
        InputTooLarge: more records than ``limits.max_components``.
    """
    limits = limits or Limits()
    name = display_name(filename)
    value = sniffed.value if sniffed is not None else None
    if value is None:
        value = _load(data, sniffed, name)
    if not looks_like_component_tree(value):
        return parse_value(value, filename, limits)
    metadata: dict[str, Any] = {}
    title = None
    if isinstance(value, dict):
        records = value.get("components")
        title = clean_title(value.get("title"))
        metadata = {
            k: v
            for k, v in value.items()
            if k not in ("components", "title") and isinstance(v, str | int | float | bool)
        }
    else:
        records = value
    if not isinstance(records, list):
        raise ParseError(
            f"{name}: expected an array of component records or an object with a 'components' array"
        )
    if len(records) > limits.max_components:
        raise InputTooLarge(f"{name}: {len(records)} records is over the limit of {limits.max_components}")
    ids, parents = _validate(records, name)
    order = _preorder(records, ids, parents, name)
    builder = TreeBuilder("json", limits, filename, prune_empty=False)
    handles: dict[str, int] = {}
    for i in order:
        record = records[i]
        parent = parents[i]
        handles[ids[i]] = builder.add(
            None if parent is None else handles[parent],
            _kind(record),
            _text(record.get("text")),
            label=_label(record, ids[i]),
            ident=ids[i],
        )
    return builder.finish(title=title, metadata=metadata)


def _load(data: bytes, sniffed: Sniffed | None, name: str) -> Any:
    text = sniffed.text if sniffed is not None and sniffed.text is not None else decode_text(data)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise ParseError(f"{name}: JSON is nested too deeply to read") from exc


def _as_id(value: Any) -> str | None:
    """Ids may be strings or integers; anything else (bool, null, objects) is not an id."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        value = clean_text(value)  # cleaned before the duplicate check: "a\x00" and "a" collide
        return value if value.strip() else None
    return None


def _validate(records: list[Any], name: str) -> tuple[list[str], list[str | None]]:
    ids: list[str] = []
    parents: list[str | None] = []
    first_seen: dict[str, int] = {}
    for number, record in enumerate(records):
        if not isinstance(record, dict):
            raise ParseError(f"{name}: record #{number} is not an object")
        ident = _as_id(record.get("id"))
        if ident is None:
            raise ParseError(f"{name}: record #{number} has no usable 'id' (a string or an integer)")
        _check_id_length(name, number, "id", ident)
        if ident in first_seen:
            raise ParseError(f"{name}: duplicate id {ident!r} (records #{first_seen[ident]} and #{number})")
        first_seen[ident] = number
        raw_parent = record.get("parent_id")
        parent = _as_id(raw_parent)
        if raw_parent is not None and parent is None:
            raise ParseError(f"{name}: record {ident!r} has an invalid parent_id {raw_parent!r}")
        if parent is not None:
            _check_id_length(name, number, "parent_id", parent)
        ids.append(ident)
        parents.append(parent)
    for ident, parent in zip(ids, parents, strict=True):
        if parent is not None and parent not in first_seen:
            raise ParseError(
                f"{name}: record {ident!r} has parent_id {parent!r}, which is not a record in this document"
            )
    return ids, parents


def _check_id_length(name: str, number: int, field: str, value: str) -> None:
    if len(value) > COMPONENT_ID_MAX:
        raise ParseError(
            f"{name}: record #{number}: its {field} is {len(value)} characters long, "
            f"over the limit of {COMPONENT_ID_MAX} ({value[:40]!r}…)"
        )


def _kind(record: dict[str, Any]) -> str:
    """The record's ``kind`` (default "paragraph"), shortened to ``COMPONENT_KIND_MAX`` characters."""
    return fit(clean_text(str(record.get("kind") or "paragraph")), COMPONENT_KIND_MAX)


def _preorder(records: list[Any], ids: list[str], parents: list[str | None], name: str) -> list[int]:
    index = {ident: number for number, ident in enumerate(ids)}
    children: list[list[int]] = [[] for _ in records]
    roots: list[int] = []
    for number, parent in enumerate(parents):
        (roots if parent is None else children[index[parent]]).append(number)

    def key(number: int) -> tuple[float, int]:
        position = records[number].get("position")
        valid = (
            isinstance(position, int | float) and not isinstance(position, bool) and math.isfinite(position)
        )
        return (position if valid else math.inf, number)  # unpositioned records keep file order

    roots.sort(key=key)
    for group in children:
        group.sort(key=key)
    order: list[int] = []
    stack = roots[::-1]
    while stack:
        number = stack.pop()
        order.append(number)
        stack.extend(reversed(children[number]))
    if len(order) != len(records):
        raise ParseError(f"{name}: parent cycle: {_cycle(order, ids, parents, index)}")
    return order


def _cycle(order: list[int], ids: list[str], parents: list[str | None], index: dict[str, int]) -> str:
    """Describe one cycle among the records that no root reaches, e.g. "a → b → a"."""
    reached = set(order)
    number = next(n for n in range(len(ids)) if n not in reached)
    chain: list[int] = []
    position: dict[int, int] = {}
    while number not in position:  # every record has one parent: walking up must loop
        position[number] = len(chain)
        chain.append(number)
        parent = parents[number]
        assert parent is not None  # records without a parent are roots, and every root is reached
        number = index[parent]
    loop = [*chain[position[number] :], number]
    return " → ".join(repr(ids[n]) for n in loop) + " (each record names the next as its parent)"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def _label(record: dict[str, Any], ident: str) -> str:
    """Path label: ``label``, ``title`` or ``number`` when present, else kind and id."""
    kind = str(record.get("kind") or "record")
    for field in ("label", "title"):
        value = record.get(field)
        if isinstance(value, str) and value.strip():
            return value
    number = record.get("number")
    if isinstance(number, str) and number.strip():
        return number
    if isinstance(number, int | float) and not isinstance(number, bool):
        return f"{kind} {number}"
    return f"{kind} {ident}"
