"""HTML: boilerplate dropped, h1–h6 and <section> give the hierarchy, blocks become children."""

from __future__ import annotations

import warnings

import pytest

from indexflow.parsers import parse


@pytest.fixture
def page(read_doc):
    return parse(read_doc("lisbon_history.html"), "lisbon_history.html")


def all_text(parsed):
    return "\n".join(c.text for c in parsed.components)


def by_text(parsed, prefix):
    return next(c for c in parsed.components if c.text.startswith(prefix))


def test_html_output_is_a_valid_preorder_tree(page, check_tree):
    check_tree(page)
    assert page.format == "html"


def test_html_title_comes_from_the_title_tag(page):
    assert page.title == "Lisbon: A Short History of the City"


@pytest.mark.parametrize(
    "boilerplate",
    [
        "analytics-token-should-not-appear",  # <script> in <head>
        "late script text",  # <script> in <body>
        "font-family",  # <style>
        "Europe menu link",  # <nav> inside the page <header>
        "City Histories",  # site logo in the page <header>
        "enable JavaScript",  # <noscript>
        "Porto sidebar teaser",  # <aside>
        "Newsletter signup",  # <form>
        "svg caption text",  # inline <svg>
        "Copyright footer notice",  # <footer>
    ],
)
def test_html_navigation_scripts_and_chrome_are_dropped(page, boilerplate):
    assert boilerplate not in all_text(page)


def test_html_headings_nest_h1_h2_h3(page):
    h1 = by_text(page, "Lisbon: A Short History")
    h2 = by_text(page, "The Great Earthquake of 1755")
    h3 = by_text(page, "Pombal's rebuilding")

    assert h1.kind == h2.kind == h3.kind == "section"
    assert h1.parent_id is None and h2.parent_id == h1.id and h3.parent_id == h2.id
    assert h3.path == "Lisbon: A Short History / The Great Earthquake of 1755 / Pombal's rebuilding"


def test_html_whitespace_is_normalised_and_inline_markup_joins_the_paragraph(page):
    paragraph = by_text(page, "Lisbon, the capital of Portugal")

    assert "estuary of the Tagus river." in paragraph.text
    assert "  " not in paragraph.text and "\n" not in paragraph.text


def test_html_list_items_table_and_pre_are_kept(page):
    item = by_text(page, "- the Tower of Belém")
    table = next(c for c in page.components if c.kind == "table")
    pre = next(c for c in page.components if c.kind == "code")

    assert item.kind == "list_item"
    assert "Year | Population" in table.text and "1755 | about 200,000" in table.text
    assert "1 Nov 1755  09:40  first shock" in pre.text  # whitespace inside <pre> is kept


def test_html_entities_are_decoded(page):
    assert "tremors & one of the first" in all_text(page)


def test_html_sections_scope_headings_so_h1_inside_section_nests():
    html = b"<h1>Page</h1><section><h1>Inner</h1><p>a</p></section><p>after</p>"

    parsed = parse(html, "s.html")

    page, inner = parsed.components[0], by_text(parsed, "Inner")
    assert inner.parent_id == page.id
    assert by_text(parsed, "after").parent_id == page.id


def test_html_malformed_markup_still_parses(check_tree):
    html = b"<html><body><h1>Broken<p>unclosed <b>bold <i>both</b> text<li>stray item<table><td>cell"

    parsed = parse(html, "broken.html")

    check_tree(parsed)
    text = all_text(parsed)
    assert "unclosed bold both text" in text and "stray item" in text and "cell" in text


def test_html_declared_legacy_charset_is_honoured():
    html = '<html><head><meta charset="windows-1252"><title>Café</title></head><body><p>Crème brûlée</p>'

    parsed = parse(html.encode("cp1252"), "menu.html")

    assert parsed.title == "Café"
    assert parsed.components[0].text == "Crème brûlée"


def test_html_xhtml_parses_without_warnings(check_tree):
    xhtml = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        b"<head><title>X</title></head><body><p>Hello</p></body></html>"
    )

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = parse(xhtml, "x.xhtml")

    check_tree(parsed)
    assert parsed.format == "html" and parsed.components[0].text == "Hello"


def test_html_five_thousand_nested_lists_parse_without_recursion_error(check_tree):
    depth = 5000
    html = "<html><body>" + "".join(f"<ul><li>level {i}" for i in range(depth))
    html += "</li></ul>" * depth + "</body></html>"

    parsed = parse(html.encode(), "deep.html")

    check_tree(parsed)
    items = [c for c in parsed.components if c.kind == "list_item"]
    assert len(items) == depth
    assert items[-1].text == f"- level {depth - 1}"
    assert len(items[-1].path) < 300  # deep paths are elided in the middle
    assert " / … / " in items[-1].path


def test_html_page_with_only_boilerplate_has_no_text():
    from indexflow.errors import ParseError

    with pytest.raises(ParseError, match="document has no text"):
        parse(b"<html><body><nav>Home</nav><script>x()</script></body></html>", "empty.html")


def test_html_heading_text_skips_buttons_and_keeps_inline_words_together():
    html = b"<h2>Hel<b>lo</b> world<button>Copy link</button><span hidden>secret</span></h2><p>x</p>"

    parsed = parse(html, "h.html")

    assert parsed.components[0].text == "Hello world"
