"""Markdown: heading hierarchy → nested sections; lists, code, tables, quotes as children."""

from __future__ import annotations

import pytest

from indexflow.parsers import parse


@pytest.fixture
def guide(read_doc):
    return parse(read_doc("git_guide.md"), "git_guide.md")


def by_text(parsed, prefix):
    return next(c for c in parsed.components if c.text.startswith(prefix))


def test_markdown_output_is_a_valid_preorder_tree(guide, check_tree):
    check_tree(guide)
    assert guide.format == "markdown"


def test_markdown_headings_nest_by_level(guide):
    h1 = by_text(guide, "Getting Started with Git")
    h2 = by_text(guide, "Installing Git")
    h3 = by_text(guide, "Linux")

    assert (h1.kind, h2.kind, h3.kind) == ("section", "section", "section")
    assert h1.parent_id is None
    assert h2.parent_id == h1.id and h3.parent_id == h2.id
    assert h3.path == "Getting Started with Git / Installing Git / Linux"
    # A later H2 closes the H3s before it and hangs off the H1 again.
    assert by_text(guide, "Configuring Your Identity").parent_id == h1.id


def test_markdown_section_text_is_only_its_heading(guide):
    assert by_text(guide, "Installing Git").text == "Installing Git"


def test_markdown_fenced_code_block_is_kept_whole(guide):
    code = by_text(guide, "sudo apt-get update")

    assert code.kind == "code"
    assert code.text == (
        "sudo apt-get update\nsudo apt-get install git\n\n# Fedora, CentOS Stream and friends\n"
        "sudo dnf install git"
    )
    assert code.path.endswith("Linux / code1")


def test_markdown_indented_code_block_is_code(guide):
    assert by_text(guide, "git log --graph").kind == "code"


def test_markdown_lists_hold_items_and_nested_lists(guide):
    item = by_text(guide, "- Merge it into main")
    nested = [c for c in guide.components if c.parent_id == item.id]

    assert item.kind == "list_item"
    assert [c.kind for c in nested] == ["list"]
    sub_items = [c.text for c in guide.components if c.parent_id == nested[0].id]
    assert sub_items == [
        "- switch back with git switch main;",
        "- run git merge feature/login;",
        "- delete the branch with git branch -d feature/login.",
    ]
    assert by_text(guide, "1. Choose a text editor").kind == "list_item"


def test_markdown_table_becomes_rows_of_cells(guide):
    table = next(c for c in guide.components if c.kind == "table")

    assert table.text.splitlines()[:2] == [
        "Command | What it does",
        "git status | Shows changed, staged and untracked files",
    ]


def test_markdown_links_keep_their_text_but_not_the_url(guide):
    macos = by_text(guide, "Apple ships a Git binary")

    assert "with Homebrew instead" in macos.text
    assert "https://brew.sh" not in macos.text


def test_markdown_blockquote_is_a_component(guide):
    quote = by_text(guide, "Tip: run git config")

    assert quote.kind == "blockquote"


def test_markdown_front_matter_is_metadata_not_text(guide):
    assert guide.title == "Getting Started with Git"
    assert guide.metadata["author"] == "Indexflow sample corpus"
    assert not any("tags:" in c.text for c in guide.components)


def test_markdown_title_falls_back_to_first_h1():
    parsed = parse(b"Intro text\n\n# The Real Title\n\nBody", "x.md")

    assert parsed.title == "The Real Title"


def test_markdown_raw_html_blocks_keep_text_but_not_scripts():
    parsed = parse(b"# T\n\n<div>Kept <b>words</b></div>\n\n<script>alert('x')</script>\n", "x.md")

    texts = [c.text for c in parsed.components]
    assert "Kept words" in texts
    assert not any("alert" in t for t in texts)


def test_markdown_nested_too_deep_for_markdown_it_keeps_all_text_as_plain_paragraphs(check_tree):
    source = "".join("  " * i + f"- item {i}\n" for i in range(300))

    parsed = parse(source.encode(), "deep.md")

    check_tree(parsed)
    text = "\n".join(c.text for c in parsed.components)
    assert "item 0" in text and "item 299" in text
    assert "structure" in parsed.metadata
