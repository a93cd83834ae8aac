"""Headings and titles lose header-link glyphs; documentation chrome outside <main> is dropped."""

from __future__ import annotations

import pytest

from indexflow.parsers import parse
from indexflow.parsers.base import clean_heading, is_glyphs


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Annotations Best Practices¶", "Annotations Best Practices"),
        ("Install ¶", "Install"),
        ("# Intro", "Intro"),
        ("Intro #", "Intro"),
        ("Learn C#", "Learn C#"),
        ("F# and C# ¶", "F# and C#"),
        ("🔗 Setup", "Setup"),
        ("Title\u200b", "Title"),
        ("Install {#install .unnumbered}", "Install"),
        ("§ 3 Scope", "§ 3 Scope"),
        ("#", "#"),
    ],
)
def test_clean_heading(raw: str, clean: str) -> None:
    assert clean_heading(raw) == clean


def test_is_glyphs() -> None:
    assert is_glyphs(" ¶ ") and is_glyphs("#") and is_glyphs("\u200b")
    assert not is_glyphs("a") and not is_glyphs("§1")


SPHINX = b"""<html><head><title>Annotations Best Practices \xc2\xb6</title></head><body>
<div class="related" role="navigation"><a href="index.html">index</a></div>
<div class="body" role="main">
<section id="a"><h1>Annotations Best Practices<a class="headerlink" href="#a"
title="Link to this heading">\xc2\xb6</a></h1>
<p>Accessing the annotations dict of an object.</p>
<section id="b"><h2>Hash<a class="hash-link" href="#b" aria-label="Direct link">\xe2\x80\x8b</a></h2>
<p>Body of the second section, long enough to be the main text of the page.</p></section>
<h2><a class="header-anchor" href="#c">#</a> Vue style</h2><p>Third.</p>
<h2><a class="header" href="#d">Wrapped title</a></h2><p>Fourth.</p>
</section></div></body></html>"""


def test_header_links_leave_headings_titles_and_paths() -> None:
    doc = parse(SPHINX, "annotations.html")
    assert doc.title == "Annotations Best Practices"
    sections = [c.text for c in doc.components if c.kind == "section"]
    assert sections == ["Annotations Best Practices", "Hash", "Vue style", "Wrapped title"]
    assert not any("¶" in c.path or "#" in c.path for c in doc.components)
    assert "index" not in " ".join(c.text for c in doc.components)  # the navigation bar


MDBOOK = b"""<html><head><title>Configuration - The Cargo Book</title></head><body>
<div id="mdbook-help-container"><div id="mdbook-help-popup">
<h2 class="mdbook-help-title">Keyboard shortcuts</h2><div><p>Press S or / to search in the book</p></div>
</div></div>
<div id="page-wrapper"><div class="page"><div id="menu-bar"><h1 class="menu-title">The Cargo Book</h1></div>
<div id="content" class="content"><main>
<h1 id="configuration"><a class="header" href="#configuration">Configuration</a></h1>
<p>This document explains how Cargo's configuration system works, as well as the available keys
and their values, for the whole of a project and for one user on one machine.</p>
<h2 id="hierarchical"><a class="header" href="#hierarchical">Hierarchical structure</a></h2>
<p>Cargo allows local configuration for a particular package as well as global configuration.</p>
</main><nav class="nav-wrapper"><a href="prev.html">Previous</a></nav></div></div></div></body></html>"""


def test_a_pages_main_element_is_its_content() -> None:
    doc = parse(MDBOOK, "config.html")
    texts = [c.text for c in doc.components]
    assert texts[0] == "Configuration"
    assert "Keyboard shortcuts" not in texts and "The Cargo Book" not in texts
    assert not any("Press S" in t for t in texts)
    assert [c.text for c in doc.components if c.kind == "section"] == [
        "Configuration",
        "Hierarchical structure",
    ]


def test_a_small_main_does_not_hide_the_rest_of_the_page() -> None:
    page = (
        b"<html><body><main><p>Short teaser.</p></main><article><h1>Real article</h1><p>"
        + b"Plenty of words in the article body that is outside of main. " * 20
        + b"</p></article></body></html>"
    )
    texts = [c.text for c in parse(page, "x.html").components]
    assert "Real article" in texts and "Short teaser." in texts


def test_markdown_headings_lose_glyphs_and_attributes() -> None:
    doc = parse(b"# Guide {#guide}\n\nIntro.\n\n## Setup \xc2\xb6\n\nSteps.\n", "g.md")
    assert [c.text for c in doc.components if c.kind == "section"] == ["Guide", "Setup"]
