"""Fuzzing every parser: arbitrary input under every registered extension, each in bounded time.

Every input must give a valid tree or an :class:`~indexflow.errors.IndexflowError`, within
:data:`PER_INPUT_SECONDS` (asserted, besides Hypothesis's own ``deadline``). Random bytes mostly
stop at detection (binary content), so markup soups built from each format's own syntax reach
the parsers' insides. The linear rewrites are checked against what they replaced: the Markdown
tag stripper against its regex, the HTML layout check against bs4's ``find``.
"""

from __future__ import annotations

import time
import warnings
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexflow.domain.components import ParsedDocument
from indexflow.errors import IndexflowError
from indexflow.parsers import parse, registry
from tests import hostile

PER_INPUT_SECONDS = 5.0
FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EXTENSIONS = sorted({ext for fmt in registry.formats() for ext in fmt.all_extensions})

MARKUP = [
    # Markdown
    "# ",
    "## ",
    "\n",
    "\n\n",
    "- ",
    "* ",
    "1. ",
    "> ",
    "```",
    "~~~",
    "    ",
    "| a | b |\n|---|---|\n",
    "[link](http://x)",
    "![alt](i.png)",
    "**",
    "_",
    "---\n",
    "===\n",
    "<div>\n",
    "</div>",
    # HTML
    "<html>",
    "<body>",
    "<h1>",
    "</h1>",
    "<h3>",
    "<p>",
    "</p>",
    "<table>",
    "<tr>",
    "<td>",
    "</td>",
    "</tr>",
    "</table>",
    "<caption>",
    "<th>",
    "<ul>",
    "<ol start=3>",
    "<li>",
    "</li>",
    "<pre>",
    "</pre>",
    "<script>",
    "</script>",
    "<style>",
    "<!--",
    "-->",
    "<br>",
    "<header>",
    "</header>",
    "<section>",
    "<nav>",
    "<span hidden>",
    "<div role=navigation>",
    "&amp;",
    "&#0;",
    "&#xD800;",
    "<",
    ">",
    "<a ",
    # JSON component trees
    '{"components": [',
    '[{"id": "a", "parent_id": null, "position": 0, "kind": "q", "text": "t"}',
    '{"id": "b", "parent_id": "a", "kind": "p", "text": "u"}',
    ",",
    "]",
    "}",
    '"\\ud800"',
    "null",
    # text
    "word",
    "Ünïcödé",
    "\x00",
    "\t",
    "\r\n",
    "\u2028",
    "\ufeff",
]
markup_soups = st.lists(st.sampled_from(MARKUP) | st.text(max_size=6), max_size=60).map("".join)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Import every parser and its library once, so no example pays for an import."""
    for name, data in [
        ("w.txt", b"x"),
        ("w.md", b"# x"),
        ("w.html", b"<p>x</p>"),
        ("w.json", b'[{"id": "a", "parent_id": null, "position": 0, "kind": "q", "text": "t"}]'),
        ("w.docx", hostile.docx_paragraphs("x")),
        ("w.pdf", hostile.pdf_document()),
    ]:
        parse(data, name)


def check_parse(check_tree: Any, data: bytes, filename: str | None) -> None:
    started = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a parser must not warn either
            parsed: ParsedDocument | None = parse(data, filename)
    except IndexflowError as exc:
        parsed = None
        assert str(exc)
    elapsed = time.monotonic() - started
    assert elapsed < PER_INPUT_SECONDS, f"{filename}: {len(data)} bytes took {elapsed:.1f} s"
    if parsed is not None:
        check_tree(parsed)


@FUZZ
@given(data=st.binary(max_size=4096), ext=st.sampled_from([*EXTENSIONS, ""]))
def test_arbitrary_bytes_under_every_registered_extension(check_tree, data, ext):
    check_parse(check_tree, data, f"fuzz.{ext}" if ext else None)


@FUZZ
@given(soup=markup_soups, ext=st.sampled_from(["txt", "md", "html", "json", ""]))
def test_markup_soups_under_every_text_format(check_tree, soup, ext):
    check_parse(check_tree, soup.encode("utf-8", "surrogatepass"), f"soup.{ext}" if ext else None)


DOCX_XML = [
    "<w:p>",
    "</w:p>",
    "<w:p/>",
    "<w:r>",
    "</w:r>",
    "<w:t>",
    "</w:t>",
    "text",
    "<w:tbl>",
    "</w:tbl>",
    "<w:tr>",
    "</w:tr>",
    "<w:tc>",
    "</w:tc>",
    '<w:pPr><w:pStyle w:val="Heading1"/></w:pPr>',
    '<w:pPr><w:numPr><w:ilvl w:val="1"/><w:numId w:val="1"/></w:numPr></w:pPr>',
    "<w:sdt>",
    "<w:sdtContent>",
    "</w:sdtContent>",
    "</w:sdt>",
    "&amp;",
    "&lt;",
    "<!-- c -->",
    "<",
    "&#0;",
]


@settings(FUZZ, max_examples=100)
@given(parts=st.lists(st.sampled_from(DOCX_XML) | st.text(max_size=4), max_size=40))
def test_docx_bodies_of_arbitrary_xml(check_tree, parts):
    check_parse(check_tree, hostile.docx_body("".join(parts)), "fuzz.docx")


@settings(FUZZ, max_examples=100)
@given(seed=st.binary(min_size=1, max_size=64), where=st.integers(0, 10_000))
def test_pdfs_with_bytes_overwritten(check_tree, seed, where):
    data = bytearray(hostile.pdf_document())
    at = where % len(data)
    data[at : at + len(seed)] = seed
    check_parse(check_tree, bytes(data), "fuzz.pdf")


TAG_SOUP = [
    "<",
    ">",
    "<script",
    "<SCRIPT ",
    "</script>",
    "</SCRIPT >",
    "</script\n>",
    "<style",
    "</style>",
    "<!--",
    "-->",
    "--",
    "<a>",
    "x",
    " ",
    "\n",
    "ſ",
    "<ſcript",
    "</ſcript>",
    "K",
    "<scripts",
    "</styl",
    "İ",
    "<!-",
    "<!---->",
]


@settings(FUZZ, max_examples=1000)
@given(parts=st.lists(st.sampled_from(TAG_SOUP) | st.text(max_size=3), max_size=40))
def test_markdown_tag_stripping_equals_the_regex_it_replaces(parts):
    from indexflow.parsers.markdown import _TAG_RE, strip_tags

    text = "".join(parts)

    assert strip_tags(text) == _TAG_RE.sub(" ", text)


HTML_SOUP = [
    "<table>",
    "</table>",
    "<tr>",
    "<td>",
    "</td>",
    "<header>",
    "</header>",
    "<div>",
    "</div>",
    "<h2>",
    "</h2>",
    "<pre>",
    "</pre>",
    "<script>",
    "</script>",
    "<style>",
    "</style>",
    "<p>",
    "text",
    "<svg:table>",
]


@settings(FUZZ, max_examples=300)
@given(parts=st.lists(st.sampled_from(HTML_SOUP), max_size=40))
def test_html_layout_check_equals_bs4_find_on_every_element(parts):
    from bs4 import BeautifulSoup

    from indexflow.parsers.html import _LAYOUT_MARKERS, HEADINGS, _Below

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        soup = BeautifulSoup("<html><body>" + "".join(parts), "lxml")
    below = _Below(soup)

    for tag in soup.find_all(True):
        assert (tag.find(list(_LAYOUT_MARKERS)) is not None) == (id(tag) in below.layout), tag.name
        assert (tag.find(list(HEADINGS)) is not None) == (id(tag) in below.heading), tag.name
