"""Format detection: extension and sniffed content; binary and foreign formats are refused."""

from __future__ import annotations

import io
import zipfile

import pytest

from indexflow.errors import InputTooLarge, ParseError, UnsupportedFormat
from indexflow.parsers import SUPPORTED_FORMATS, detect_format, parse
from indexflow.parsers.detect import decode_text, looks_binary


def test_supported_formats_are_the_six_parsers():
    assert set(SUPPORTED_FORMATS) == {"text", "markdown", "html", "pdf", "docx", "json"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("composting.txt", "text"),
        ("git_guide.md", "markdown"),
        ("lisbon_history.html", "html"),
        ("tomato_guide.pdf", "pdf"),
        ("beekeeping.pdf", "pdf"),
        ("sourdough.docx", "docx"),
        ("physics_exam.json", "json"),
        ("recettes_cp1252.txt", "text"),
    ],
)
def test_fixtures_are_detected_by_name_and_by_content_alone(read_doc, name, expected):
    data = read_doc(name)

    assert detect_format(data, name) == expected
    assert detect_format(data) == expected
    assert detect_format(data, "upload.bin") == expected


@pytest.mark.parametrize(
    ("source", "misnamed", "expected"),
    [
        ("tomato_guide.pdf", "report.txt", "pdf"),
        ("sourdough.docx", "recipe.pdf", "docx"),
        ("lisbon_history.html", "lisbon.md", "html"),
        ("lisbon_history.html", "lisbon.txt", "html"),
        ("physics_exam.json", "exam.txt", "json"),
    ],
)
def test_misnamed_files_are_detected_by_content(read_doc, source, misnamed, expected):
    parsed = parse(read_doc(source), misnamed)

    assert parsed.format == expected


def test_extension_decides_between_text_formats():
    data = b"# Heading\n\nSome words."

    assert detect_format(data, "notes.md") == "markdown"
    assert detect_format(data, "notes.txt") == "text"
    assert detect_format(data) == "markdown"  # no extension: markdown-looking headings
    assert detect_format(b"Plain words.\n\nMore words.") == "text"


def test_json_that_is_not_a_component_tree_is_flattened_json_unless_named_as_text():
    assert detect_format(b'{"name": "config", "values": [1, 2, 3]}', "config.json") == "json"
    assert detect_format(b'{"name": "config"}') == "json"
    assert detect_format(b'{"name": "config"}', "config.txt") == "text"
    assert detect_format(b'"just a string"') == "text"  # not an object or an array


def test_html_is_sniffed_without_an_extension():
    assert detect_format(b"  <!DOCTYPE html><html><body><p>x</p></body></html>") == "html"
    assert detect_format(b"<div><html><body>x</body></html>") == "html"


def test_random_binary_is_unsupported_with_a_readable_message(read_doc):
    with pytest.raises(UnsupportedFormat, match=r"random\.bin: binary content"):
        parse(read_doc("random.bin"), "random.bin")


def test_legacy_office_and_foreign_zips_are_unsupported():
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("content.xml", "<x/>")

    with pytest.raises(UnsupportedFormat, match="legacy Microsoft Office"):
        detect_format(ole, "old.doc")
    with pytest.raises(UnsupportedFormat, match=r"not a Word \.docx"):
        detect_format(buffer.getvalue(), "slides.odp")


def test_input_over_max_bytes_is_refused_before_parsing():
    with pytest.raises(InputTooLarge, match="over the limit of 10 bytes"):
        parse(b"x" * 11, "big.txt", max_bytes=10)


@pytest.mark.parametrize("data", [b"", b"   \n\n\t  "])
def test_empty_documents_have_no_text(data):
    with pytest.raises(ParseError, match="document has no text"):
        parse(data, "empty.txt")


def test_decode_text_fallback_chain():
    assert decode_text("plain ascii é".encode()) == "plain ascii é"
    assert decode_text(b"\xef\xbb\xbfwith bom") == "with bom"
    assert decode_text("crème brûlée, œuvre".encode("cp1252")) == "crème brûlée, œuvre"
    assert decode_text("utf-16 text".encode("utf-16-be")) == "utf-16 text"
    assert isinstance(decode_text(bytes(range(128, 256))), str)  # never raises


def test_text_with_a_few_nul_bytes_is_not_binary_but_random_bytes_are(read_doc):
    assert not looks_binary(b"a few\x00 nul\x00 bytes in text")
    assert looks_binary(read_doc("random.bin"))
