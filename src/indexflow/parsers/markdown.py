"""Markdown (markdown-it-py): headings become nested sections, blocks become their children."""

from __future__ import annotations

import functools
import html
import re
from typing import Any

from indexflow.domain.components import ParsedDocument
from indexflow.parsers.base import Limits, TreeBuilder, clean_heading, clean_title, collapse_ws
from indexflow.parsers.detect import Sniffed, decode_text
from indexflow.parsers.text import normalize_newlines, split_paragraphs

# markdown-it silently drops blocks nested deeper than maxNesting, and its block parser
# recurses per level (~2 frames each), so the cap must stay far below the recursion limit.
MAX_NESTING = 100
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
# What an HTML block loses before its text is kept: script and style elements, comments, tags.
# The reference is the regex below; strip_tags() does the same in linear time (see there).
_TAG_RE = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.DOTALL | re.IGNORECASE)
_RAW_OPEN_RE = re.compile(r"<(script|style)\b", re.IGNORECASE)
# Ordinary tags (no script/style/comment opening) and the text between them: one C-speed step.
_PLAIN_RUN_RE = re.compile(r"(?:<(?!(?:script|style)\b|!--)[^>]*>[^<]*)+", re.IGNORECASE)
_PLAIN_TAG_RE = re.compile(r"<[^>]*>")
_CONTAINERS = ("list_item", "blockquote")


@functools.cache
def _markdown_it() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).enable(["table", "strikethrough"])


def split_front_matter(text: str) -> tuple[dict[str, str | list[str]], str]:
    """Split a leading ``--- yaml ---`` block off ``text``; simple ``key: value`` lines only
    (a ``[a, b]`` value is a list), never a YAML loader on a document's bytes."""
    match = _FRONT_MATTER_RE.match(text)
    if not match:
        return {}, text
    meta: dict[str, str | list[str]] = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t", "-", "#")):
            value = value.strip()
            if value.startswith("[") and value.endswith("]"):
                meta[key.strip()] = [v.strip().strip("\"'") for v in value[1:-1].split(",") if v.strip()]
            else:
                meta[key.strip()] = value.strip("\"'")
    return meta, text[match.end() :]


def strip_tags(text: str) -> str:
    """Replace each script/style element, comment and tag with a space: ``_TAG_RE.sub(" ", text)``.

    The regex alone is quadratic on hostile input: every ``<script`` without its end tag, every
    ``<!--`` without ``-->`` and every ``<`` without a later ``>`` rescans the rest of the block
    (160 KB took 17 s). This loop tries the same alternatives at each ``<``, in the same order,
    but remembers where a search for an end already failed: a search that found nothing from
    position p finds nothing from any later position either, so no stretch of text is scanned
    twice (but for a bounded number of spellings of "script" and "style") and the output is the
    regex's, character for character.
    """
    n = len(text)
    out: list[str] = []
    copied = 0  # text[:copied] is already in out
    at = 0  # where the next "<" is looked for
    no_end_tag: dict[str, int] = {}  # the end tag of an element, by name: absent from here on
    no_comment_end = n + 1  # "-->" is absent from here on
    last_gt = text.rfind(">")
    while 0 <= (lt := text.find("<", at)) < last_gt:  # past the last ">" nothing can end
        plain = _PLAIN_RUN_RE.match(text, lt)
        if plain is not None:
            out.append(text[copied:lt])
            out.append(_PLAIN_TAG_RE.sub(" ", plain.group()))
            copied = at = plain.end()
            continue
        end = -1
        opened = _RAW_OPEN_RE.match(text, lt)
        if opened is not None:
            name, start = opened.group(1), opened.end()
            key = name.lower()
            if start < no_end_tag.get(key, n + 1):
                end = _end_tag(text, name, start)
                if end < 0:
                    no_end_tag[key] = start
        if end < 0 and lt + 4 < no_comment_end and text.startswith("<!--", lt):
            found = text.find("-->", lt + 4)
            if found >= 0:
                end = found + 3
            else:
                no_comment_end = lt + 4
        if end < 0:
            end = text.find(">", lt + 1) + 1  # there is one: lt < last_gt
        out.append(text[copied:lt])
        out.append(" ")
        copied = at = end
    out.append(text[copied:])
    return "".join(out)


# ``\1`` under IGNORECASE compares character by character, lower case to lower case; a pattern
# spelled like the opening name may match more (``ſ`` for ``s``): each candidate is checked so.
_SAME_NAME_RE = re.compile(r"([^\x00]*)\x00\1\Z", re.IGNORECASE)


def _end_tag(text: str, name: str, start: int) -> int:
    """Where the first ``</name\\s*>`` after ``start`` that _TAG_RE's ``\\1`` accepts ends; else -1."""
    pattern = _end_tag_re(name)
    while (found := pattern.search(text, start)) is not None:
        if _SAME_NAME_RE.match(f"{name}\x00{found.group(1)}"):
            return found.end()
        start = found.start() + 1
    return -1


@functools.lru_cache(maxsize=256)
def _end_tag_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"</({re.escape(name)})\s*>", re.IGNORECASE)


def inline_text(token: Any) -> str:
    """Readable text of an inline token: link text without URLs, image alt text, no markup."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
    return "".join(parts).strip()


def parse(
    data: bytes, filename: str | None = None, limits: Limits | None = None, sniffed: Sniffed | None = None
) -> ParsedDocument:
    """Parse Markdown into sections (by heading level) holding paragraphs, lists, code and tables.

    Raises:
        ParseError: no text, or the tree is deeper than the limit.
    """
    text = sniffed.text if sniffed is not None and sniffed.text is not None else decode_text(data)
    front, body = split_front_matter(normalize_newlines(text))
    builder = TreeBuilder("markdown", limits or Limits(), filename)
    # Front matter is the author's own metadata (title, date, tags…): filterable as it is.
    metadata: dict[str, Any] = {k: v for k, v in front.items() if v not in ("", [])}
    tokens = _markdown_it().parse(body)
    if any(token.level >= MAX_NESTING - 2 for token in tokens):
        # Past the nesting cap markdown-it would lose text; plain paragraphs keep all of it.
        metadata["structure"] = "nesting too deep for Markdown structure; parsed as plain text"
        for paragraph in split_paragraphs(body):
            builder.add(None, "paragraph", paragraph)
        headings: list[tuple[int, str]] = []
    else:
        headings = _build(tokens, builder)
    h1 = next((t for level, t in headings if level == 1 and t), None)
    title = clean_title(front.get("title")) or clean_title(h1)
    if title is None and headings:
        title = clean_title(headings[0][1])
    return builder.finish(title=title, metadata=metadata)


def _build(tokens: list[Any], builder: TreeBuilder) -> list[tuple[int, str]]:
    """Walk the flat token stream once (no recursion); return the headings seen."""
    sections: list[tuple[int, int]] = []  # (heading level, handle) of the open sections
    containers: list[int] = []  # open lists, list items and blockquotes, innermost last
    markers: dict[int, str] = {}
    headings: list[tuple[int, str]] = []

    def parent() -> int | None:
        if containers:
            return containers[-1]
        return sections[-1][1] if sections else None

    def add_block(text: str) -> None:
        where = parent()
        # A list item or quote owns its first paragraph as its own text; later ones are children.
        if (
            where is not None
            and builder.kind(where) in _CONTAINERS
            and not builder.text(where)
            and not builder.has_children(where)
        ):
            builder.set_text(where, markers.pop(where, "") + text)
        else:
            builder.add(where, "paragraph", text)

    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            text = clean_heading(inline_text(tokens[i + 1]))
            level = int(token.tag[1:])
            headings.append((level, text))
            if containers:  # "> # Title" inside a quote or list: text, not a section
                add_block(text)
            else:
                while sections and sections[-1][0] >= level:
                    sections.pop()
                handle = builder.add(parent(), "section", text, label=text or None)
                sections.append((level, handle))
            i += 3
            continue
        if kind in ("bullet_list_open", "ordered_list_open"):
            containers.append(builder.add(parent(), "list"))
        elif kind == "blockquote_open":
            containers.append(builder.add(parent(), "blockquote"))
        elif kind == "list_item_open":
            handle = builder.add(parent(), "list_item")
            markers[handle] = f"{token.info}. " if token.info else "- "
            containers.append(handle)
        elif kind in ("bullet_list_close", "ordered_list_close", "list_item_close", "blockquote_close"):
            containers.pop()
        elif kind == "paragraph_open":
            text = inline_text(tokens[i + 1])
            if text:
                add_block(text)
            i += 3
            continue
        elif kind in ("fence", "code_block"):
            builder.add(parent(), "code", token.content.strip("\n").rstrip())
        elif kind == "table_open":
            i = _table(tokens, i, builder, parent())
        elif kind == "html_block":
            text = collapse_ws(html.unescape(strip_tags(token.content)))
            if text:
                add_block(text)
        i += 1
    return headings


def _table(tokens: list[Any], start: int, builder: TreeBuilder, parent: int | None) -> int:
    """Add a ``table`` component (rows as lines, cells joined by " | "); return the close index."""
    rows: list[str] = []
    cells: list[str] = []
    i = start
    while i < len(tokens) and tokens[i].type != "table_close":
        token = tokens[i]
        if token.type == "inline":
            cells.append(inline_text(token))
        elif token.type == "tr_close":
            rows.append(" | ".join(cells))
            cells = []
        i += 1
    builder.add(parent, "table", "\n".join(rows))
    return i
