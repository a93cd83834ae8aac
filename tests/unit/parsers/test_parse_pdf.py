"""PDF: outline → sections holding pages of paragraphs; pages → paragraphs without one."""

from __future__ import annotations

import pytest

from indexflow.errors import InputTooLarge, ParseError
from indexflow.parsers import parse
from indexflow.parsers.pdf_text import Line, join_lines, split_lines


@pytest.fixture
def tomato(read_doc):
    return parse(read_doc("tomato_guide.pdf"), "tomato_guide.pdf")


def by_text(parsed, prefix):
    return next(c for c in parsed.components if c.text.startswith(prefix))


def test_pdf_with_outline_is_a_valid_preorder_tree(tomato, check_tree):
    check_tree(tomato)
    assert tomato.format == "pdf"
    assert tomato.metadata["pages"] == 3


def test_pdf_title_comes_from_metadata(tomato):
    assert tomato.title == "A Gardener's Guide to Growing Tomatoes"


def test_pdf_outline_entries_become_nested_sections(tomato):
    sections = [c for c in tomato.components if c.kind == "section"]
    chapter = by_text(tomato, "Starting Seeds Indoors")
    sub = by_text(tomato, "Light and temperature")

    assert [s.text for s in sections if s.parent_id is None] == [
        "Choosing Varieties",
        "Starting Seeds Indoors",
        "Planting Out and Care",
    ]
    assert len(sections) == 9
    assert sub.kind == "section" and sub.parent_id == chapter.id


def test_pdf_paragraphs_sit_under_the_section_that_starts_before_them_on_the_same_page(tomato):
    # Both sub-sections of chapter 1 are on page 1: the title on the page decides the split.
    paragraph = by_text(tomato, "F1 hybrids are bred for vigour")

    assert paragraph.kind == "paragraph"
    assert paragraph.path == "Choosing Varieties / Heirlooms and hybrids / page 1 / p2"
    assert by_text(tomato, "Tomato varieties fall into two habits").path.startswith(
        "Choosing Varieties / Determinate and indeterminate plants / page 1"
    )


def test_pdf_text_before_the_first_outline_entry_stays_in_a_top_level_page(tomato):
    intro = by_text(tomato, "Home-grown tomatoes taste nothing like")

    assert intro.path == "page 1 / p2"


def test_pdf_lines_of_a_paragraph_are_rejoined(tomato):
    paragraph = by_text(tomato, "Tomato varieties fall into two habits")

    assert "\n" not in paragraph.text
    assert paragraph.text.endswith("who want a single large harvest for sauce or bottling.")


def test_pdf_heading_lines_are_not_duplicated_as_paragraphs(tomato):
    assert [c.kind for c in tomato.components if c.text == "Heirlooms and hybrids"] == ["section"]


def test_pdf_without_outline_gives_pages_with_paragraph_children(read_doc, check_tree):
    parsed = parse(read_doc("beekeeping.pdf"), "beekeeping.pdf")

    check_tree(parsed)
    pages = [c for c in parsed.components if c.parent_id is None]
    assert [p.kind for p in pages] == ["page", "page"]
    assert [p.path for p in pages] == ["page 1", "page 2"]
    children = [c for c in parsed.components if c.parent_id == pages[1].id]
    assert [c.text for c in children][:1] == ["Inspections"]
    assert all(c.kind == "paragraph" for c in children)


def test_pdf_placeholder_metadata_title_falls_back_to_first_line(read_doc):
    # reportlab writes "(anonymous)" when no title is given; that is no title.
    parsed = parse(read_doc("beekeeping.pdf"), "beekeeping.pdf")

    assert parsed.title == "Keeping Bees: The First Year"


def test_pdf_scanned_without_text_is_a_readable_parse_error(read_doc):
    with pytest.raises(ParseError, match=r"scanned\.pdf: no extractable text \(scanned PDF\? OCR"):
        parse(read_doc("scanned.pdf"), "scanned.pdf")


def test_pdf_encrypted_with_a_user_password_is_a_readable_parse_error(read_doc):
    with pytest.raises(ParseError, match=r"encrypted\.pdf: PDF is encrypted and needs a password"):
        parse(read_doc("encrypted.pdf"), "encrypted.pdf")


def test_pdf_truncated_file_is_a_parse_error_naming_the_file(read_doc):
    with pytest.raises(ParseError, match=r"^truncated\.pdf: could not parse PDF: "):
        parse(read_doc("truncated.pdf"), "truncated.pdf")


def test_pdf_over_the_page_limit_is_refused(read_doc):
    with pytest.raises(InputTooLarge, match="3 pages is over the limit of 2"):
        parse(read_doc("tomato_guide.pdf"), "tomato_guide.pdf", max_pages=2)


def test_pdf_named_pdf_without_pdf_header_is_a_parse_error():
    with pytest.raises(ParseError, match=r"report\.pdf: not a PDF file"):
        parse(b"Just some words, saved with the wrong extension.", "report.pdf")


def test_pdf_hyphenated_line_breaks_are_joined():
    assert join_lines(["the gar-", "dener waters well-", "Known plants"]) == (
        "the gardener waters well- Known plants"
    )
    assert join_lines(["soft\u00ad", "hyphen"]) == "softhyphen"


def test_pdf_paragraph_breaks_on_wide_gaps_and_font_changes():
    lines = [
        Line("Heading", 700, 18),
        Line("first line of a paragraph that runs", 670, 10),
        Line("on to a second line.", 658, 10),
        Line("A new paragraph after a gap", 630, 10),
        Line("that also continues.", 618, 10),
        Line("", None, None),
        Line("After a blank line", None, None),
    ]

    assert split_lines(lines) == [
        "Heading",
        "first line of a paragraph that runs on to a second line.",
        "A new paragraph after a gap that also continues.",
        "After a blank line",
    ]


def test_pdf_page_numbers_and_running_headers_are_dropped_but_kept_on_the_first_page():
    from indexflow.parsers.pdf_text import drop_running_lines

    pages = [
        ["Field Notes", "Introduction to the survey.", "1"],
        ["Field Notes", "Body of page two.", "Page 2 of 4"],
        ["Field Notes", "Body of page three.", "- 3 -"],
        ["Field Notes", "Body of page four.", "iv"],
    ]

    assert drop_running_lines(pages) == [
        ["Field Notes", "Introduction to the survey."],
        ["Body of page two."],
        ["Body of page three."],
        ["Body of page four."],
    ]


def test_pdf_short_documents_keep_repeated_lines_that_are_not_page_numbers():
    from indexflow.parsers.pdf_text import drop_running_lines

    pages = [["Note", "one"], ["Note", "two"]]

    assert drop_running_lines(pages) == pages
