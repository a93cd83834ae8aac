"""Context headers: section paths, rendering, and the room they take from the chunk size."""

from __future__ import annotations

from indexflow.domain.bundler import BundleSpec
from indexflow.domain.components import Component
from indexflow.domain.context import ContextHeaders, embedded_text, render, section_chains
from indexflow.encoders.tokenizer import load_tokenizer

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _tree() -> list[Component]:
    return [
        Component("s1", None, 0, "section", "Install", "Install"),
        Component("p1", "s1", 0, "paragraph", "Get it.", "Install / p1"),
        Component("s2", "s1", 1, "section", "On  Linux", "Install / On Linux"),
        Component("p2", "s2", 0, "paragraph", "Run it.", "Install / On Linux / p1"),
        Component("l1", "s2", 1, "list", "", "Install / On Linux / list1"),
        Component("i1", "l1", 0, "list_item", "- step", "Install / On Linux / list1 / i1"),
    ]


def test_section_chains_follow_the_headings() -> None:
    chains = section_chains(_tree())
    assert chains["p1"] == ("Install",)
    assert chains["s2"] == ("Install", "On Linux")  # whitespace collapsed
    assert chains["i1"] == ("Install", "On Linux")


def test_render_drops_empty_lines_and_the_repeated_page_heading() -> None:
    assert render("{title}\n{section}", title="Guide", section=(), source="g.md") == "Guide"
    assert render("{title}\n{section}", title="Install", section=("Install", "On Linux"), source="") == (
        "Install\nOn Linux"
    )
    # a title that holds the page's heading and more is kept whole (it measured better)
    got = render(
        "{title}\n{section}",
        title="Configuration - The Cargo Book",
        section=("Configuration", "Keys"),
        source="",
    )
    assert got == "Configuration - The Cargo Book\nConfiguration / Keys"
    assert render("{source}: {title}", title="T", section=("Other",), source="a.md") == "a.md: T"
    assert embedded_text(None, "text") == "text" and embedded_text("H", "text") == "H\ntext"


def test_headers_per_span_and_the_chunk_size_left_for_the_text() -> None:
    tokenizer = load_tokenizer(MODEL)
    comps = _tree()
    headers = ContextHeaders.build(comps, "{title}\n{section}", "Install", "x.md", tokenizer, 256)
    bundle = BundleSpec(0, tuple(c.id for c in comps), tuple(c.path for c in comps), "", 0, "Install")
    texts = [c.text for c in comps if c.text.strip()]
    start_of = {}
    offset = 0
    for c in comps:
        if c.text.strip():
            start_of[c.id] = offset
            offset += len(c.text) + 2
    assert headers.for_span(bundle, 0) == "Install"
    assert headers.for_span(bundle, start_of["p2"]) == "Install\nOn Linux"
    assert headers.for_span(bundle, start_of["p2"] + 3) == "Install\nOn Linux"
    assert len(texts) == 5
    size, overlap = headers.fit(254, 32)
    assert size == 254 - headers.longest - 1 and overlap == 32
    # a header longer than a quarter of the model's limit is cut there
    long = ContextHeaders.build(comps, "{title} " + "word " * 200, "Install", "x.md", tokenizer, 256)
    assert long.longest == 64
