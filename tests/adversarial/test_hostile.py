"""Hostile documents: each one parses, or fails with an ``indexflow.errors`` class, in bounded time.

The corpus is generated (:mod:`tests.hostile`): zip bombs, billion laughs, nesting 100,000 deep
in every format, the inputs that made the old parsers quadratic, at 2 MB (160 KB of Markdown
took 17 s, 264 KB of nested HTML tables 9–15 s, an 18 KB .docx 28 s), NUL bytes, lone
surrogates, invalid UTF-8 and truncated files. A document may parse (into a valid tree) or
raise an :class:`~indexflow.errors.IndexflowError`; any other exception fails the test, and so
does a parse over :data:`BUDGET_SECONDS`. The budget is a correctness bound, not a benchmark:
these inputs take a few seconds at most now, and took minutes to hours before.
"""

from __future__ import annotations

import codecs
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest

from indexflow.domain.components import ParsedDocument
from indexflow.errors import IndexflowError, InputTooLarge, ParseError
from indexflow.parsers import parse
from tests import hostile

BUDGET_SECONDS = 20.0
MB = 1_000_000

Outcome = ParsedDocument | IndexflowError


def parse_within_budget(
    check_tree: Callable[[ParsedDocument], None], data: bytes, name: str, **limits: Any
) -> Outcome:
    """Parse ``data``; a valid tree or an indexflow error, within the budget (else the test fails)."""
    started = time.monotonic()
    try:
        outcome: Outcome = parse(data, name, **limits)
    except IndexflowError as exc:
        outcome = exc
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET_SECONDS, f"{name}: {len(data)} bytes took {elapsed:.1f} s"
    if isinstance(outcome, ParsedDocument):
        check_tree(outcome)
    else:
        assert str(outcome).startswith(f"{name}: "), outcome
    return outcome


def texts(outcome: Outcome) -> str:
    assert isinstance(outcome, ParsedDocument), outcome
    return "\n".join(c.text for c in outcome.components)


def declare_size(data: bytes, size: int) -> bytes:
    """Rewrite every central-directory entry to claim ``size`` uncompressed bytes."""
    patched = bytearray(data)
    at = patched.find(b"PK\x01\x02")
    while at != -1:
        struct.pack_into("<I", patched, at + 24, size)
        at = patched.find(b"PK\x01\x02", at + 4)
    return bytes(patched)


# -- the quadratic triggers, at 2 MB ------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("unit", sorted(hostile.MARKDOWN_HTML_BLOCK_UNITS))
def test_a_2_mb_markdown_html_block_of_unclosed_tags_parses_within_the_budget(check_tree, unit):
    # given one HTML block of 2 MB of "<!--", "<script " or "<a " that never close
    data = hostile.markdown_html_block(2 * MB, unit)

    # when it is parsed, then it parses (the text that is not a tag is kept) within the budget
    outcome = parse_within_budget(check_tree, data, "block.md")
    assert texts(outcome)


@pytest.mark.timeout(120)
def test_2_mb_of_html_tables_nested_in_cells_parse_within_the_budget(check_tree):
    # given 2 MB of <table><tr><td> nested 133,000 deep (the layout check was quadratic)
    data = hostile.html_nested_tables(2 * MB)

    # when it is parsed, then the innermost cell's text is there, within the budget
    outcome = parse_within_budget(check_tree, data, "tables.html")
    assert "the innermost cell" in texts(outcome)


@pytest.mark.timeout(120)
def test_a_docx_of_millions_of_empty_paragraphs_is_refused_at_once(check_tree):
    # given 60 KB of zip holding 3,000,000 <w:p/> (21 MB of XML) and one real paragraph
    data = hostile.docx_empty_paragraphs(3_000_000)
    assert len(data) < 100_000

    # when it is parsed, then every element counted: refused before python-docx builds a tree
    outcome = parse_within_budget(check_tree, data, "empty.docx")
    assert isinstance(outcome, InputTooLarge), outcome
    assert "more than 2000000 XML elements" in str(outcome)


@pytest.mark.timeout(120)
def test_a_docx_of_a_million_empty_paragraphs_under_the_element_limit_parses_at_once(check_tree):
    # given 40 KB of zip holding 1,000,000 <w:p/> (an 18 KB one took 28 s and 281 MB)
    data = hostile.docx_empty_paragraphs(1_000_000)

    # when it is parsed, then the empty paragraphs are skipped without a Python object each
    outcome = parse_within_budget(check_tree, data, "spacing.docx")
    assert texts(outcome) == "one real paragraph"


def test_every_docx_element_counts_toward_the_component_limit(check_tree):
    # given 5 real paragraphs among 40 empty ones: 45 paragraphs, 5 components
    real = "".join(f"<w:p><w:r><w:t>p{i}</w:t></w:r></w:p>" for i in range(5))
    data = hostile.docx_body("<w:p/>" * 40 + real)

    # when it is parsed with room for 5 components, but not for its elements
    with pytest.raises(InputTooLarge, match="more than 60 XML elements"):
        parse(data, "spacing.docx", max_components=60)

    # then with room for them all it reads as before: the empty paragraphs leave no trace
    parsed = parse(data, "spacing.docx")
    check_tree(parsed)
    assert [c.text for c in parsed.components] == [f"p{i}" for i in range(5)]


# -- zip bombs and entity bombs -----------------------------------------------------------


def test_a_docx_zip_bomb_is_refused_by_the_size_it_declares(check_tree):
    # given a valid document next to 30 MB of zeros (30 KB on disk)
    data = hostile.docx_zip_bomb(30 * MB)
    assert len(data) < 100_000

    # when the largest document accepted is 1 MB, then the archive may unpack to 5 MB, not 30
    outcome = parse_within_budget(check_tree, data, "bomb.docx", max_bytes=MB)
    assert isinstance(outcome, InputTooLarge), outcome
    assert "over the limit of 5000000 (zip bomb?)" in str(outcome)
    # and with the default limits the same bomb is only 30 MB: it parses
    assert texts(parse_within_budget(check_tree, data, "bomb.docx")) == "bait"


def test_a_docx_declaring_gigabytes_is_refused_before_anything_is_inflated(check_tree):
    data = declare_size(hostile.docx_paragraphs("bait"), 1_000_000_000)

    outcome = parse_within_budget(check_tree, data, "declared.docx")

    assert isinstance(outcome, InputTooLarge) and "zip bomb" in str(outcome), outcome


def test_billion_laughs_inside_a_docx_never_expands(check_tree):
    # given entities that would expand to 10^9 "lol"s in word/document.xml
    outcome = parse_within_budget(check_tree, hostile.docx_billion_laughs(), "laughs.docx")

    # then either a parse error or a document without the expansion (entities stay unresolved)
    if isinstance(outcome, ParsedDocument):
        assert len(texts(outcome)) < 10_000
    else:
        assert isinstance(outcome, ParseError), outcome


# -- 100,000 levels deep, in every format --------------------------------------------------

DEEP = 100_000
DEEP_CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "markdown lists": (lambda: hostile.markdown_nested_lists(DEEP), "lists.md"),
    "markdown quotes": (lambda: hostile.markdown_nested_quotes(DEEP), "quotes.md"),
    "html divs": (lambda: hostile.html_nested_divs(DEEP), "divs.html"),
    "json arrays": (lambda: hostile.json_nested_arrays(DEEP), "arrays.json"),
    "json component tree": (lambda: hostile.json_component_chain(DEEP), "chain.json"),
    "docx nested tables": (lambda: hostile.docx_nested_tables(DEEP), "tables.docx"),
    "pdf nested arrays": (lambda: hostile.pdf_nested_arrays(DEEP), "arrays.pdf"),
    "pdf nested graphics states": (lambda: hostile.pdf_nested_content(DEEP), "states.pdf"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(DEEP_CASES))
def test_nesting_100000_levels_deep_parses_or_fails_readably_within_the_budget(check_tree, case):
    build, name = DEEP_CASES[case]

    outcome = parse_within_budget(check_tree, build(), name)

    if case in ("html divs", "json component tree"):  # these must keep their deepest text
        assert texts(outcome).endswith(("deep text", f"t{DEEP - 1}"))


# -- bytes that are not what they claim ---------------------------------------------------

INVALID_UTF8 = b"caf\xc3 au lait \xff\xfe\n\nsecond \x80\x81 paragraph\n"
SURROGATE_UTF8 = b"lone \xed\xa0\x80 surrogate\n\nand \xed\xbf\xbf another\n"
SURROGATE_UTF16 = codecs.BOM_UTF16_LE + "lone ".encode("utf-16-le") + b"\x00\xd8" + "!".encode("utf-16-le")
ODD_BYTES: dict[str, tuple[bytes, str]] = {
    "nul in text": (b"first\x00 para\n\nsecond\x00", "nul.txt"),
    "nul in markdown html": (b"<div>\x00<!--\x00-->\x00x</div>\n\n# T\x00itle\n", "nul.md"),
    "nul in html tables": (b"<table><tr><td>\x00a<table><tr><td>b\x00</td></tr></table>", "nul.html"),
    "nul in docx xml": (hostile.docx_paragraphs("a\x00b"), "nul.docx"),
    "nul in pdf text": (hostile.pdf_document(content=b"BT /F1 12 Tf 72 720 Td (a\x00b) Tj ET"), "nul.pdf"),
    "invalid utf-8 text": (INVALID_UTF8, "bad.txt"),
    "invalid utf-8 markdown": (b"# T\xffitle\n\n" + INVALID_UTF8, "bad.md"),
    "invalid utf-8 html": (b"<p>" + INVALID_UTF8 + b"</p>", "bad.html"),
    "invalid utf-8 json": (b'[{"id": "a", "parent_id": null, "kind": "q", "text": "\xff"}]', "bad.json"),
    "surrogates in utf-8 text": (SURROGATE_UTF8, "sur.txt"),
    "surrogates in utf-8 html": (b"<h1>" + SURROGATE_UTF8 + b"</h1>", "sur.html"),
    "surrogate in utf-16 text": (SURROGATE_UTF16, "sur16.txt"),
    "surrogate escapes in json": (
        b'[{"id": "\\udc00", "parent_id": null, "position": 0, "kind": "q", "text": "x\\ud800y"}]',
        "sur.json",
    ),
    "surrogate reference in docx": (hostile.docx_paragraphs("a&#xD800;b"), "sur.docx"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(ODD_BYTES))
def test_nul_bytes_surrogates_and_invalid_utf8_parse_or_fail_readably(check_tree, case):
    data, name = ODD_BYTES[case]

    outcome = parse_within_budget(check_tree, data, name)

    if isinstance(outcome, ParsedDocument):  # whatever was read is storable text
        for text in [outcome.title or "", *(c.text for c in outcome.components)]:
            assert "\x00" not in text
            text.encode("utf-8")  # raises on a lone surrogate


SAMPLES = [
    "composting.txt",
    "git_guide.md",
    "lisbon_history.html",
    "tomato_guide.pdf",
    "sourdough.docx",
    "physics_exam.json",
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", SAMPLES)
def test_truncated_samples_parse_or_fail_readably(check_tree, read_doc, name):
    data = read_doc(name)

    for cut in (1, 7, len(data) // 4, len(data) // 2, len(data) - len(data) // 4, len(data) - 1):
        parse_within_budget(check_tree, data[:cut], name)


def test_a_2000_page_pdf_parses_within_the_budget_and_keeps_every_page(check_tree) -> None:
    import io

    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    words = [
        "bees",
        "hive",
        "honey",
        "comb",
        "queen",
        "drone",
        "nectar",
        "pollen",
        "swarm",
        "wax",
        "brood",
        "frame",
        "smoke",
    ]
    for page in range(1, 2001):
        # distinct text on every page (a line repeated on every page is a running header: dropped)
        said = " ".join(words[(page * k + k) % len(words)] for k in range(1, 9))
        pdf.drawString(72, 720 - (page % 40) * 12, f"Passage {page}: the {said} story.")
        pdf.showPage()
    pdf.save()

    started = time.perf_counter()
    parsed = parse(buf.getvalue(), "manual.pdf")
    assert time.perf_counter() - started < BUDGET_SECONDS
    check_tree(parsed)
    text = "\n".join(c.text for c in parsed.components)
    assert "Passage 1:" in text and "Passage 2000:" in text and text.count(" story.") == 2000
