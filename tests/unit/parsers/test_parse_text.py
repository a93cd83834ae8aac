"""Plain text: paragraphs split on blank lines, all top level; tolerant decoding."""

from __future__ import annotations

import pytest

from indexflow.parsers import parse


def test_text_paragraphs_are_split_on_blank_lines_and_sit_at_top_level(read_doc, check_tree):
    parsed = parse(read_doc("composting.txt"), "composting.txt")

    check_tree(parsed)
    assert parsed.format == "text"
    assert all(c.kind == "paragraph" and c.parent_id is None for c in parsed.components)
    assert len(parsed.components) == 7
    assert parsed.components[2].text.startswith("A good heap needs four things")
    assert [c.path for c in parsed.components[:3]] == ["p1", "p2", "p3"]


def test_text_title_is_the_first_line(read_doc):
    parsed = parse(read_doc("composting.txt"), "composting.txt")

    assert parsed.title == "Composting at Home: A Practical Introduction"


def test_text_windows_line_endings_and_whitespace_only_lines_still_split_paragraphs(check_tree):
    parsed = parse(b"First line\r\nstill first\r\n   \r\nSecond\r\n", "notes.txt")

    check_tree(parsed)
    assert [c.text for c in parsed.components] == ["First line\nstill first", "Second"]


def test_text_a_very_long_paragraph_stays_whole():
    words = " ".join(f"word{i}" for i in range(50_000))

    parsed = parse(words.encode(), "long.txt")

    assert len(parsed.components) == 1
    assert parsed.components[0].text == words


def test_text_in_windows_1252_decodes_with_accents_intact(read_doc, check_tree):
    data = read_doc("recettes_cp1252.txt")

    parsed = parse(data, "recettes_cp1252.txt")

    check_tree(parsed)
    body = "\n".join(c.text for c in parsed.components)
    assert "crème fraîche" in body and "Le cœur de la recette" in body
    assert "\ufffd" not in body


def test_text_utf8_with_a_few_corrupt_bytes_keeps_the_valid_characters():
    data = "Größe und Maße: ".encode() + b"\xff\xfe broken " + "naïve café".encode()

    parsed = parse(data, "mixed.txt")

    text = parsed.components[0].text
    assert "Größe und Maße" in text and "naïve café" in text


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_text_utf16_and_utf32_with_and_without_bom_decode(codec):
    message = "Ünïcode text in a wide encoding\n\nsecond paragraph"
    bom = "\ufeff".encode(codec)

    with_bom = parse(bom + message.encode(codec), "a.txt")
    without_bom = parse(message.encode(codec), "b.txt")

    for parsed in (with_bom, without_bom):
        assert [c.text for c in parsed.components] == ["Ünïcode text in a wide encoding", "second paragraph"]


def test_text_nul_bytes_are_removed_from_text(check_tree):
    parsed = parse(b"nul\x00 in the\x00 middle\n\nand\x00 here", "nul.txt")

    check_tree(parsed)
    assert [c.text for c in parsed.components] == ["nul in the middle", "and here"]
