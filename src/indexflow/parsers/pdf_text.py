"""Turn one PDF page's text into paragraphs.

pypdf extracts text line by line and says nothing about paragraphs. Its ``visitor_text`` hook
tells where each piece was drawn, so we rebuild lines with their baseline and font size and
start a new paragraph where the vertical gap is clearly larger than the page's usual line
spacing, where the font size changes (a heading), or where a short line ends a sentence.
Lines of a paragraph are rejoined, undoing hyphenation at line ends.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from indexflow.parsers.base import drop_nuls

# A gap this many times the usual line spacing separates paragraphs.
GAP_FACTOR = 1.4
# Font sizes further apart than this (points) mean a heading and its body.
SIZE_TOLERANCE = 0.6
# A line shorter than this share of the page's long lines, ending a sentence, ends a paragraph.
SHORT_LINE = 0.7
_SOFT_HYPHEN = "\u00ad"
# "12", "Page 3 of 9", "- 4 -", or a well-formed roman numeral up to 39 ("xiv").
_PAGE_NUMBER_RE = re.compile(
    r"(page\s+)?(\d{1,4}|x{0,3}(ix|iv|v?i{0,3}))(\s*(/|of)\s*\d{1,4})?|[-–—]\s*\d{1,4}\s*[-–—]",
    re.IGNORECASE,
)
_DIGITS_RE = re.compile(r"\d+")
# Running headers and footers are short lines at the top or bottom of most pages.
_EDGE = 2
_RUNNING_MAX_CHARS = 120


@dataclass(slots=True)
class Line:
    """One extracted line: its text, baseline y and font size (None when unknown)."""

    text: str
    y: float | None = None
    size: float | None = None


def page_paragraphs(page: Any) -> list[str]:
    """Paragraph texts of a pypdf page, in reading order."""
    pieces: list[tuple[str, float, float]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, font_size: Any) -> None:
        if not text:
            return
        try:
            # Text space → device space: the baseline y and the scaled font size.
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            scale = math.hypot(tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3])
            pieces.append((text, float(y), float(font_size or 0) * scale))
        except (TypeError, ValueError, IndexError):
            pieces.append((text, math.nan, math.nan))

    plain = page.extract_text(visitor_text=visit) or ""
    lines = lines_from_pieces(pieces)
    if not any(line.text.strip() for line in lines):
        lines = [Line(text) for text in plain.split("\n")]
    return split_lines(lines)


def lines_from_pieces(pieces: list[tuple[str, float, float]]) -> list[Line]:
    """Group visitor pieces into lines; a piece's newlines end lines.

    A line's size is the one most of its characters use, so a bullet glyph or an inline symbol
    in another font does not make the line look like a heading.
    """
    lines: list[Line] = []
    current: Line | None = None
    sizes: Counter[float] = Counter()

    def close() -> None:
        nonlocal current
        if current is not None:
            current.size = sizes.most_common(1)[0][0] if sizes else None
            lines.append(current)
        current = None
        sizes.clear()

    for text, y, size in pieces:
        parts = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for index, part in enumerate(parts):
            if current is None:
                if not part and index == len(parts) - 1:
                    break  # the piece ended its line; the next piece starts a new one
                known = index == 0 and not math.isnan(y)
                current = Line(part, y if known else None)
            else:
                current.text += part
            if index == 0 and size > 0 and part.strip():  # nan > 0 is False
                sizes[round(size, 1)] += len(part.strip())
            if index < len(parts) - 1:
                close()
    close()
    return lines


def split_lines(lines: list[Line]) -> list[str]:
    """Paragraphs from lines: break on blank lines, big gaps, font changes, short last lines."""
    kept = [Line(drop_nuls(line.text).strip(), line.y, line.size) for line in lines]
    leading = _usual_spacing(kept)
    lengths = sorted(len(line.text) for line in kept if line.text)
    long_line = lengths[int(len(lengths) * 0.9)] if lengths else 0
    paragraphs: list[str] = []
    current: list[str] = []
    prev: Line | None = None
    for line in kept:
        if not line.text:
            _close(current, paragraphs)
            prev = None
            continue
        if prev is not None and _breaks(prev, line, leading, long_line):
            _close(current, paragraphs)
        current.append(line.text)
        prev = line
    _close(current, paragraphs)
    return paragraphs


def join_lines(lines: list[str]) -> str:
    """Join the lines of one paragraph with spaces, rejoining words hyphenated at line ends."""
    parts: list[str] = []
    for line in lines:
        if parts:
            last = parts[-1]
            if last.endswith(_SOFT_HYPHEN) or (
                last.endswith("-") and len(last) > 1 and last[-2].isalpha() and line[:1].islower()
            ):
                parts[-1] = last[:-1]
            else:
                parts.append(" ")
        parts.append(line)
    return "".join(parts).replace(_SOFT_HYPHEN, "")


def _close(current: list[str], paragraphs: list[str]) -> None:
    if current:
        paragraphs.append(join_lines(current))
        current.clear()


def _usual_spacing(lines: list[Line]) -> float | None:
    """The page's ordinary line spacing: the lower quartile of downward gaps between lines."""
    gaps = sorted(
        prev.y - cur.y
        for prev, cur in pairwise(lines)
        if prev.y is not None and cur.y is not None and prev.text and cur.text and prev.y > cur.y
    )
    return gaps[len(gaps) // 4] if gaps else None


def _breaks(prev: Line, line: Line, leading: float | None, long_line: int) -> bool:
    if leading and prev.y is not None and line.y is not None:
        gap = prev.y - line.y
        if gap > leading * GAP_FACTOR or gap < -leading:  # a wide gap, or a jump up (new column)
            return True
    if prev.size and line.size and abs(prev.size - line.size) > SIZE_TOLERANCE:
        return True
    return (
        long_line > 40
        and len(prev.text) < long_line * SHORT_LINE
        and prev.text.endswith((".", "!", "?", ":"))
        and line.text[:1].isupper()
    )


def drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Remove page numbers and running headers/footers from the edges of each page.

    A short paragraph among the first or last two of a page is dropped when it is a bare page
    number, or when (digits ignored) it recurs at the edges of at least half the pages (three at
    least): the document title or chapter name printed on every page adds nothing but noise.
    """

    def shape(text: str) -> str:
        return _DIGITS_RE.sub("#", " ".join(text.split()).casefold())

    def at_edge(index: int, count: int) -> bool:
        return index < _EDGE or index >= count - _EDGE

    seen: Counter[str] = Counter()
    for paragraphs in pages:
        seen.update(
            {
                shape(p)
                for i, p in enumerate(paragraphs)
                if at_edge(i, len(paragraphs)) and len(p) <= _RUNNING_MAX_CHARS
            }
        )
    threshold = max(3, sum(1 for paragraphs in pages if paragraphs) // 2)
    running = {text for text, count in seen.items() if count >= threshold}
    # The first page keeps its repeated lines: there the running title is the real title.
    first = next((n for n, paragraphs in enumerate(pages) if paragraphs), 0)
    cleaned = []
    for number, paragraphs in enumerate(pages):
        repeated = running if number != first else set()
        kept = [
            p
            for i, p in enumerate(paragraphs)
            if not (
                at_edge(i, len(paragraphs)) and (_PAGE_NUMBER_RE.fullmatch(p.strip()) or shape(p) in repeated)
            )
        ]
        cleaned.append(kept)
    return cleaned
