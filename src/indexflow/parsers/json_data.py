"""Generic JSON (a config, an API response, a data export): readable ``key.path: value`` lines.

A JSON document that is not a component tree (``json_tree``) is flattened, never indexed as one
blob of raw JSON:

- each top-level key whose value is an object or an array is a ``section`` (its text is the key,
  so context headers say ``products``), and so is each key of such an object one level down;
- each element of an array that is a section is a ``record`` of its own (``products[3]``) and
  the members of a section that are not sections are one ``record`` too: a record's text is one
  line per value, ``products[3].name: Widget``, the full key path from the root;
- an array of plain values is one line, ``tags: red, green, blue``; ``null``, ``true`` and
  numbers read as JSON writes them; an empty object or array reads ``{}`` / ``[]``.

Why a record per array element, with full paths: the bundler never splits a record that fits
the target, so a chunk holds whole records (or consecutive ones), and every line names its
record, so a line cut out of a big record still says where it came from (for BM25 and dense
retrieval alike). Records of a huge array are cut into groups of ``RECORD_LINES`` lines.

Limits: the walk is iterative and linear in the number of values; key paths keep their first
``PATH_HEAD`` and last ``PATH_TAIL`` parts (``a.b.….y.z``) so deep nesting cannot make lines
quadratic, and a key is cut to ``KEY_MAX`` characters.

The title is the document's ``title`` (or ``name``, ``id``…: ``TITLE_FIELDS``) when it is a
plain value, else the file name.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from indexflow.domain.components import ParsedDocument
from indexflow.limits import fit
from indexflow.parsers.base import Limits, TreeBuilder, clean_title, shorten

TITLE_FIELDS = ("title", "name", "headline", "subject", "label", "id", "key")
SECTION_DEPTH = 2  # top-level keys and the keys of top-level objects are sections
RECORD_LINES = 200  # a record of more lines continues in the next record component
PATH_HEAD = 4
PATH_TAIL = 6
KEY_MAX = 60
VALUES_LABEL = "values"  # the path label of a record of plain values (not an array element)
_PLAIN_KEY = re.compile(r"^[^\s.\[\]\"]+$")
_Scalar = str | int | float | bool | None


def parse_value(value: Any, filename: str | None, limits: Limits) -> ParsedDocument:
    """Flatten a loaded JSON value into sections and records (see the module docstring).

    Raises:
        ParseError: the document holds no value at all ("document has no text").
        InputTooLarge: more components than ``limits.max_components``.
    """
    builder = TreeBuilder("json", limits, filename)
    _Walker(builder).walk(value)
    return builder.finish(title=_title(value, filename))


def _title(value: Any, filename: str | None) -> str | None:
    if isinstance(value, dict):
        lowered = {str(k).casefold(): v for k, v in value.items()}
        for field in TITLE_FIELDS:
            found = lowered.get(field)
            if isinstance(found, str | int | float) and not isinstance(found, bool):
                title = clean_title(str(found))
                if title:
                    return title
    return clean_title(filename.replace("\\", "/").rsplit("/", 1)[-1]) if filename else None


class _Walker:
    """Emits sections and records in document order, without recursion."""

    def __init__(self, builder: TreeBuilder) -> None:
        self.builder = builder

    def walk(self, value: Any) -> None:
        if not isinstance(value, dict | list):
            self._record(None, "value", [_scalar(value)])
            return
        # (parent handle, path parts, container, depth): containers to lay out as sections.
        todo: list[tuple[int | None, tuple[str, ...], dict[Any, Any] | list[Any], int]] = [
            (None, (), value, 0)
        ]
        while todo:
            parent, path, container, depth = todo.pop()
            later: list[tuple[int | None, tuple[str, ...], dict[Any, Any] | list[Any], int]] = []
            if isinstance(container, dict):
                # Plain values between sections are records of their own, in key order.
                plain: list[tuple[tuple[str, ...], Any]] = []
                for key, item in container.items():
                    part = _key(key)
                    if isinstance(item, dict | list) and item and depth < SECTION_DEPTH:
                        if plain:
                            self._record(parent, VALUES_LABEL, self._lines(plain))
                            plain = []
                        handle = self.builder.add(parent, "section", _heading(key), label=shorten(str(key)))
                        later.append((handle, (*path, part), item, depth + 1))
                    else:
                        plain.append(((*path, part), item))
                if plain:
                    self._record(parent, VALUES_LABEL, self._lines(plain))
            else:
                if _plain(container):
                    self._record(parent, VALUES_LABEL, [_line(path, _joined(container))])
                else:
                    for index, item in enumerate(container):
                        item_path = (*path, f"[{index}]")
                        label = _element_label(item_path, item)
                        self._record(parent, label, self._lines([(item_path, item)]))
            todo.extend(reversed(later))

    def _record(self, parent: int | None, label: str, lines: list[str]) -> None:
        for start in range(0, len(lines), RECORD_LINES):
            self.builder.add(parent, "record", "\n".join(lines[start : start + RECORD_LINES]), label=label)

    def _lines(self, items: list[tuple[tuple[str, ...], Any]]) -> list[str]:
        """One line per plain value under ``items`` (path, value), in document order."""
        out: list[str] = []
        # (path parts, the path as written, value); the written path grows by one part a step.
        stack = [(parts, _path(parts), item) for parts, item in reversed(items)]
        while stack:
            parts, written, item = stack.pop()
            if isinstance(item, dict) and item:
                children = [((*parts, _key(k)), v) for k, v in item.items()]
            elif isinstance(item, list) and item and not _plain(item):
                children = [((*parts, f"[{i}]"), v) for i, v in enumerate(item)]
            else:
                if isinstance(item, list):
                    value = _joined(item) if item else "[]"
                else:
                    value = "{}" if isinstance(item, dict) else _scalar(item)
                out.append(f"{written}: {value}" if written else value)
                continue
            long = len(parts) + 1 > PATH_HEAD + PATH_TAIL
            stack.extend(
                (child, _path(child) if long else _extend(written, child[-1]), v)
                for child, v in reversed(children)
            )
        return out


@lru_cache(maxsize=4096)
def _key(key: str) -> str:
    """A key as a path part: as it is when it reads as a name, else quoted (``"a.b"``)."""
    text = fit(str(key), KEY_MAX)
    return text if _PLAIN_KEY.match(text) else json.dumps(text, ensure_ascii=False)


def _plain(items: list[Any]) -> bool:
    return not any(isinstance(v, dict | list) for v in items)


def _extend(written: str, part: str) -> str:
    return written + part if part.startswith("[") or not written else f"{written}.{part}"


def _heading(key: Any) -> str:
    return shorten(str(key), KEY_MAX) or "(empty key)"


def _path(parts: tuple[str, ...]) -> str:
    if len(parts) > PATH_HEAD + PATH_TAIL:
        parts = (*parts[:PATH_HEAD], "…", *parts[-PATH_TAIL:])
    out = ""
    for part in parts:
        out = _extend(out, part)
    return out


def _line(parts: tuple[str, ...], value: str) -> str:
    return f"{_path(parts)}: {value}" if parts else value


def _element_label(path: tuple[str, ...], item: Any) -> str:
    """``products[3]``, with the element's name when it has one: ``products[3] Widget``."""
    label = _path(path[-2:]) if len(path) >= 2 and not path[-2].startswith("[") else path[-1]
    if isinstance(item, dict):
        lowered = {str(k).casefold(): v for k, v in item.items()}
        for field in TITLE_FIELDS:
            found = lowered.get(field)
            if isinstance(found, str | int | float) and not isinstance(found, bool) and str(found).strip():
                return f"{label} {shorten(str(found), 40)}"
    return label


def _scalar(value: _Scalar | Any) -> str:
    """A plain value as JSON writes it (strings without quotes)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _joined(items: list[Any]) -> str:
    return ", ".join(_scalar(v) for v in items)
