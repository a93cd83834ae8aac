"""The format registry: built-in formats, extension tables, sniffing precedence, new formats."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from indexflow.domain.components import ParsedDocument
from indexflow.errors import ParseError, UnsupportedFormat
from indexflow.parsers import SUPPORTED_FORMATS, detect_format, parse, registry, sniff
from indexflow.parsers.base import Limits, TreeBuilder
from indexflow.parsers.detect import Probe, Sniffed
from indexflow.parsers.registry import Confidence, Format, Match
from indexflow.sources import expand

BUILTIN = {
    # name: (label, extensions, hint extensions)
    "text": ("text", ("txt", "text"), ("csv", "log", "org", "adoc", "rst")),
    "markdown": ("Markdown", ("md", "markdown", "mdown", "mkd", "mkdn"), ()),
    "html": ("HTML", ("html", "htm", "xhtml"), ()),
    "pdf": ("PDF", ("pdf",), ()),
    "docx": ("DOCX", ("docx",), ()),
    "json": ("JSON", ("json",), ()),
}
# What INDEXABLE_SUFFIXES listed before the registry, plus the two Markdown extensions that
# detection knew but folder walks skipped.
LEGACY_SUFFIXES = {
    *(".txt", ".text", ".md", ".markdown", ".mdown", ".rst", ".html", ".htm", ".xhtml"),
    *(".pdf", ".docx", ".json", ".csv", ".log", ".org", ".adoc"),
}
TREE = json.dumps(
    [{"id": "q1", "parent_id": None, "position": 0, "kind": "question", "text": "Why?"}]
).encode()


def test_every_builtin_format_is_registered_with_its_extensions() -> None:
    assert registry.names()[: len(BUILTIN)] == tuple(BUILTIN) == SUPPORTED_FORMATS
    for name, (label, extensions, hints) in BUILTIN.items():
        fmt = registry.get(name)
        assert (fmt.label, fmt.extensions, fmt.hint_extensions) == (label, extensions, hints)
        for ext in extensions + hints:
            assert registry.by_extension(ext) is fmt
            assert registry.by_extension(f".{ext.upper()}") is fmt
    assert [f.name for f in registry.formats() if f.binary] == ["pdf", "docx"]
    assert registry.by_extension("pptx") is None and registry.by_extension("") is None
    with pytest.raises(KeyError, match="no format named 'pptx'"):
        registry.get("pptx")


def test_indexable_suffixes_are_the_union_of_the_registered_extensions() -> None:
    union = {f".{ext}" for fmt in registry.formats() for ext in fmt.extensions + fmt.hint_extensions}

    assert registry.indexable_suffixes() == union
    assert registry.indexable_suffixes() == LEGACY_SUFFIXES | {".mkd", ".mkdn"}


def test_every_builtin_parser_and_sniffer_reference_resolves() -> None:
    for fmt in registry.BUILTIN_FORMATS:
        assert callable(fmt.load_parser())
        assert fmt.name == "text" or callable(fmt.load_sniffer())


def test_parser_modules_and_vendor_libraries_load_only_when_used(docs: Path) -> None:
    code = (
        "import sys, indexflow.sources, indexflow.parsers as p\n"
        "assert p.detect_format(open(sys.argv[1], 'rb').read()) == 'pdf'\n"
        "heavy = {'pypdf', 'docx', 'bs4', 'lxml', 'markdown_it'}\n"
        "parsers = {'text', 'markdown', 'html', 'pdf', 'pdf_text', 'docx', 'json_tree'}\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy\n"
        "          or m.removeprefix('indexflow.parsers.') in parsers]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(docs / "tomato_guide.pdf")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def _zip(member: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        # 1. binary signatures win over any name
        (b"%PDF-1.7\n...", "notes.txt", "pdf"),
        (b"junk %PDF-1.4", "page.html", "pdf"),
        (_zip("word/document.xml"), "upload.bin", "docx"),
        (_zip("content.xml"), "letter.docx", "docx"),
        # 2. binary content named for a binary format goes to its parser (which explains)
        (bytes(range(256)) * 4, "broken.pdf", "pdf"),
        (bytes(range(256)) * 4, "broken.docx", "docx"),
        # 3. a whole HTML page beats every name
        (b"<!DOCTYPE html><html><body>x</body></html>", "page.md", "html"),
        (b"<html><body>x</body></html>", "data.json", "html"),
        (b"<?xml version='1.0'?><html><body>x</body></html>", "notes.txt", "html"),
        # 4. .md/.html names beat a JSON component tree and early HTML tags
        (TREE, "exam.md", "markdown"),
        (TREE, "exam.html", "html"),
        (b"<div><body>x</body></div>", "notes.md", "markdown"),
        # 5. a component tree beats .txt/.pdf/no name; a .json name beats early HTML tags
        (TREE, "exam.txt", "json"),
        (TREE, "exam.pdf", "json"),
        (TREE, None, "json"),
        (b"<div><body>x</body></div>", "page.json", "json"),
        (b'{"broken": ', "data.json", "json"),
        (b'{"name": "config"}', "config.json", "json"),  # generic JSON: flattened key paths
        (b'{"name": "config"}', None, "json"),
        (b'{"name": "config"}', "config.txt", "text"),  # weak: a .txt name still reads it as text
        (b"[1, 2, 3]", "numbers.md", "markdown"),
        # 6. early HTML tags beat .txt/.pdf names and Markdown hints
        (b"<div><html><body>x</body></html>", "notes.txt", "html"),
        (b"<div><html><body>x</body></html>", "notes.pdf", "html"),
        # 7. .txt/.pdf names beat Markdown-looking headings; no name: the headings decide
        (b"# Heading\n\nwords", "notes.txt", "text"),
        (b"# Heading\n\nwords", "notes.pdf", "pdf"),
        (b"# Heading\n\nwords", None, "markdown"),
        (b"plain words", None, "text"),
        (b"plain words", "upload.bin", "text"),
        # 8. hint extensions of text: detected exactly as if the file had no extension
        (b"Title\n=====\n\nBody.", "guide.rst", "markdown"),
        (b"Title\n=====\n\nBody.", "guide.adoc", "markdown"),
        (b"a,b\n1,2\n", "table.csv", "text"),
        (TREE, "dump.log", "json"),
        (b"<div><html><body>x</body></html>", "notes.org", "html"),
    ],
)
def test_sniffing_precedence(data: bytes, filename: str | None, expected: str) -> None:
    assert detect_format(data, filename) == expected


@pytest.mark.parametrize("filename", ["table.csv", "app.log", "notes.org", "doc.adoc", "guide.rst", "x.text"])
def test_binary_content_with_a_text_extension_is_still_refused(filename: str) -> None:
    with pytest.raises(UnsupportedFormat, match="binary content that is not PDF or DOCX"):
        detect_format(bytes(range(256)) * 4, filename)


def test_sniffed_keeps_text_for_text_formats_and_the_loaded_json_for_trees() -> None:
    assert sniff(b"%PDF-1.7", "a.pdf") == Sniffed("pdf")
    assert sniff(b"# x\n\ny", "a.pdf") == Sniffed("pdf")
    assert sniff(b"# x\n\ny", "a.md") == Sniffed("markdown", "# x\n\ny")
    assert sniff(TREE, "a.txt") == Sniffed("json", TREE.decode(), json.loads(TREE))
    assert sniff(b'{"broken": ', "a.json") == Sniffed("json", '{"broken": ')


# --- a new format, registered inside the test -------------------------------------------------


def parse_csvx(data: bytes, filename: str | None, limits: Limits, sniffed: Sniffed) -> ParsedDocument:
    """A toy parser: every line is a ``row`` component holding one ``cell`` per value."""
    text = sniffed.text if sniffed.text is not None else data.decode()
    builder = TreeBuilder("csvx", limits, filename)
    for line in text.splitlines():
        row = builder.add(None, "row", label=line.split(",", 1)[0])
        for cell in line.split(","):
            builder.add(row, "cell", cell)
    return builder.finish()


def sniff_csvx(probe: Probe) -> Match | None:
    return Match(Confidence.STRONG) if probe.text.startswith("#csvx\n") else None


CSVX = Format("csvx", "CSVX", (".CSVX",), parse_csvx, sniff=sniff_csvx)


@pytest.fixture
def csvx() -> Iterator[Format]:
    with registry.registered(CSVX) as fmt:
        yield fmt
    assert "csvx" not in registry.names() and registry.by_extension("csvx") is None


def test_a_registered_format_is_detected_and_parsed(csvx: Format, check_tree: Callable[..., None]) -> None:
    assert csvx.extensions == ("csvx",) and registry.by_extension(".csvx") is csvx
    assert ".csvx" in registry.indexable_suffixes()
    assert detect_format(b"a,b\n1,2\n", "table.csvx") == "csvx"
    assert detect_format(b"#csvx\na,b\n") == "csvx"  # its sniffer works without a name
    assert detect_format(b"a,b\n1,2\n") == "text"
    assert detect_format(b"<!DOCTYPE html><html></html>", "t.csvx") == "html"  # certain content wins

    parsed = parse(b"name,qty\nflour,500\n", "recipe.csvx")

    assert parsed.format == "csvx"
    check_tree(parsed)
    assert [(c.kind, c.text, c.path) for c in parsed.components] == [
        ("row", "", "name"),
        ("cell", "name", "name / cell1"),
        ("cell", "qty", "name / cell2"),
        ("row", "", "flour"),
        ("cell", "flour", "flour / cell1"),
        ("cell", "500", "flour / cell2"),
    ]


def test_a_folder_walk_picks_up_a_registered_extension(tmp_path: Path) -> None:
    (tmp_path / "table.csvx").write_text("a,b\n")
    (tmp_path / "notes.md").write_text("# notes")

    def walk() -> tuple[list[str], list[str]]:
        skipped: list[str] = []
        found = [s.filename for s in expand([tmp_path], skipped)]
        return found, [Path(p).name for p in skipped]

    assert walk() == (["notes.md"], ["table.csvx"])
    with registry.registered(CSVX):
        assert walk() == (["notes.md", "table.csvx"], [])
    assert walk() == (["notes.md"], ["table.csvx"])  # unregistered: skipped again


def _boom(data: bytes, filename: str | None, limits: Limits, sniffed: Sniffed) -> ParsedDocument:
    raise RuntimeError("boom")


def test_a_parser_failure_is_reported_with_the_format_label() -> None:
    with (
        registry.registered(Format("boom", "Boom", ("boom",), _boom)),
        pytest.raises(ParseError, match=r"^t\.boom: could not parse Boom: boom$"),
    ):
        parse(b"x", "t.boom")


def test_registering_conflicts_is_refused_and_leaves_nothing_behind() -> None:
    with pytest.raises(ValueError, match="'markdown' is already registered"):
        registry.register(Format("markdown", "Markdown", ("mdx",), parse_csvx))
    with pytest.raises(ValueError, match=r"already registered: \.md \(markdown\), \.txt \(text\)"):
        registry.register(Format("notes", "Notes", ("notes", "md", "txt"), parse_csvx))
    assert registry.by_extension("notes") is None and "notes" not in registry.names()
    with pytest.raises(KeyError):
        registry.unregister("notes")
    with pytest.raises(ValueError, match="both extensions and hints"):
        Format("x", "X", ("a",), parse_csvx, hint_extensions=(".A",))
