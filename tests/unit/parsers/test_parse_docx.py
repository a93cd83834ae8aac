"""DOCX: heading styles → sections, list paragraphs → list items, tables → row text."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from indexflow.errors import InputTooLarge, ParseError, UnsupportedFormat
from indexflow.parsers import parse


@pytest.fixture
def bread(read_doc):
    return parse(read_doc("sourdough.docx"), "sourdough.docx")


def by_text(parsed, prefix):
    return next(c for c in parsed.components if c.text.startswith(prefix))


def test_docx_output_is_a_valid_preorder_tree(bread, check_tree):
    check_tree(bread)
    assert bread.format == "docx"


def test_docx_title_comes_from_core_properties(bread):
    assert bread.title == "Baking Sourdough Bread at Home"
    assert bread.metadata["author"] == "Indexflow sample corpus"


def test_docx_title_and_heading_styles_nest_as_sections(bread):
    title = by_text(bread, "Baking Sourdough Bread at Home")
    h1 = by_text(bread, "The Starter")
    h2 = by_text(bread, "Feeding schedule")

    assert title.kind == h1.kind == h2.kind == "section"
    assert title.parent_id is None and h1.parent_id == title.id and h2.parent_id == h1.id
    assert by_text(bread, "Ingredients").parent_id == title.id  # the next Heading 1 closes the H2
    assert h2.path == "Baking Sourdough Bread at Home / The Starter / Feeding schedule"


def test_docx_list_paragraphs_become_items_of_one_list(bread):
    item = by_text(bread, "Add fifty grams of flour")
    the_list = next(c for c in bread.components if c.id == item.parent_id)
    items = [c.text for c in bread.components if c.parent_id == the_list.id]

    assert item.kind == "list_item" and the_list.kind == "list"
    assert items == [
        "Discard all but fifty grams of the starter.",
        "Add fifty grams of flour and fifty grams of water.",
        "Stir well, scrape down the sides and mark the level with a rubber band.",
    ]


def test_docx_table_text_has_rows_with_cells_joined_by_bars(bread):
    table = next(c for c in bread.components if c.kind == "table")

    assert table.text.splitlines() == [
        "Hydration | Water per 500 g flour | Dough character",
        "65% | 325 g | Firm and easy to shape",
        "70% | 350 g | Soft, the usual starting point",
        "80% | 400 g | Slack, open crumb, harder to handle",
    ]
    assert table.parent_id == by_text(bread, "Ingredients").id


def test_docx_body_is_read_in_document_order(bread):
    texts = [c.text for c in bread.components]

    assert texts.index("Hydration changes how the dough behaves:") < texts.index(
        next(t for t in texts if t.startswith("Hydration | Water"))
    )
    assert texts.index("10 g fine sea salt") < texts.index("Hydration changes how the dough behaves:")


def test_docx_that_is_not_a_zip_is_a_readable_parse_error(read_doc):
    with pytest.raises(ParseError, match=r"not_a_zip\.docx: not a valid \.docx file"):
        parse(read_doc("not_a_zip.docx"), "not_a_zip.docx")


def test_docx_zip_without_a_word_document_is_rejected():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")

    with pytest.raises(UnsupportedFormat, match=r"zip archive that is not a Word \.docx"):
        parse(buffer.getvalue(), "sheet.xlsx")
    with pytest.raises(ParseError, match=r"sheet\.docx: could not parse DOCX"):
        parse(buffer.getvalue(), "sheet.docx")


def declare_size(data: bytes, size: int) -> bytes:
    """Rewrite every central-directory entry to claim ``size`` uncompressed bytes."""
    patched = bytearray(data)
    at = patched.find(b"PK\x01\x02")
    while at != -1:
        struct.pack_into("<I", patched, at + 24, size)
        at = patched.find(b"PK\x01\x02", at + 4)
    return bytes(patched)


def test_docx_zip_bomb_declaring_huge_members_is_refused_before_unpacking(read_doc):
    bomb = declare_size(read_doc("sourdough.docx"), 3_000_000_000 // 17)

    with pytest.raises(InputTooLarge, match="zip bomb"):
        parse(bomb, "bomb.docx")


def test_docx_real_high_ratio_member_over_the_limit_is_refused(read_doc, monkeypatch):
    import indexflow.parsers.docx as docx_parser

    monkeypatch.setattr(docx_parser, "MAX_UNCOMPRESSED_BYTES", 1_000_000)
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(read_doc("sourdough.docx"))) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("word/media/zeros.bin", b"\x00" * 2_000_000)
    assert len(buffer.getvalue()) < 100_000  # small on disk, two megabytes unpacked

    with pytest.raises(InputTooLarge, match="over the limit of 1000000"):
        parse(buffer.getvalue(), "bomb.docx")


def test_docx_heading_outline_levels_and_nested_list_levels(check_tree):
    import docx

    document = docx.Document()
    document.add_paragraph("Top", style="Heading 1")
    document.add_paragraph("outer item", style="List Bullet")
    document.add_paragraph("inner item", style="List Bullet 2")
    document.add_paragraph("outer again", style="List Bullet")
    buffer = io.BytesIO()
    document.save(buffer)

    parsed = parse(buffer.getvalue(), "lists.docx")

    check_tree(parsed)
    inner = by_text(parsed, "inner item")
    inner_list = next(c for c in parsed.components if c.id == inner.parent_id)
    assert inner_list.parent_id == by_text(parsed, "outer item").id
    assert by_text(parsed, "outer again").parent_id == by_text(parsed, "outer item").parent_id
