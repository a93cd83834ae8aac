"""Hostile documents, generated: what an attacker would upload to hold a worker for hours.

Each builder returns the document's bytes. Sizes are parameters so a test can ask for the size
that made the old code quadratic (160 KB of Markdown took 17 s, 264 KB of nested HTML tables
9–15 s) or 2 MB, and ``bench``-style scripts can time them.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_DOC_HEAD = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="{W_NS}"><w:body>'
_DOC_TAIL = "<w:sectPr/></w:body></w:document>"

# -- Markdown -----------------------------------------------------------------------------

# An HTML block whose "tags" never close: the old tag stripper rescanned the rest of the block
# for every one of them.
MARKDOWN_HTML_BLOCK_UNITS = {"script": "<script ", "comment": "<!--", "tag": "<a "}


def markdown_html_block(size: int, unit: str = "comment") -> bytes:
    """A Markdown file that is one HTML block of ``size`` bytes of unclosed tags."""
    piece = MARKDOWN_HTML_BLOCK_UNITS[unit]
    return ("<div>\n" + piece * (size // len(piece))).encode()


def markdown_nested_lists(depth: int) -> bytes:
    return ("- " * depth + "deep item\n").encode()


def markdown_nested_quotes(depth: int) -> bytes:
    return (">" * depth + " deep quote\n").encode()


# -- HTML ---------------------------------------------------------------------------------


def html_nested_tables(size: int, filler: str = "") -> bytes:
    """Tables nested in table cells, ``size`` bytes in all: the old layout check was quadratic."""
    unit = f"<table><tr><td>{filler}"
    depth = max(1, (size - 40) // len(unit))
    return f"<html><body>{unit * depth}the innermost cell</body></html>".encode()


def html_nested_divs(depth: int) -> bytes:
    inner = "<div>" * depth + "<p>deep text</p>" + "</div>" * depth
    return f"<html><body>{inner}</body></html>".encode()


# -- JSON ---------------------------------------------------------------------------------


def json_nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b'"x"' + b"]" * depth


def json_component_chain(depth: int) -> bytes:
    """A component tree that is one path ``depth`` components long."""
    records = [
        {"id": f"n{i}", "parent_id": f"n{i - 1}" if i else None, "position": 0, "kind": "n", "text": f"t{i}"}
        for i in range(depth)
    ]
    return json.dumps(records).encode()


# -- DOCX ---------------------------------------------------------------------------------


@functools.cache
def _docx_template() -> dict[str, bytes]:
    """The members of python-docx's blank document (styles, settings, relationships …)."""
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def docx_package(document_xml: bytes, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A real .docx whose ``word/document.xml`` is ``document_xml`` (deflated, like Word's)."""
    members = dict(_docx_template())
    members["word/document.xml"] = document_xml
    members.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx_body(body_xml: str) -> bytes:
    return docx_package((_DOC_HEAD + body_xml + _DOC_TAIL).encode())


def docx_paragraphs(*texts: str) -> bytes:
    return docx_body("".join(f"<w:p><w:r><w:t>{t}</w:t></w:r></w:p>" for t in texts))


def docx_empty_paragraphs(count: int) -> bytes:
    """Millions of ``<w:p/>`` in a few kilobytes (3,000,000 ≈ 21 MB of XML in ≈ 20 KB)."""
    return docx_body("<w:p><w:r><w:t>one real paragraph</w:t></w:r></w:p>" + "<w:p/>" * count)


def docx_zip_bomb(unpacked: int) -> bytes:
    """A member of ``unpacked`` zero bytes next to a valid document: tiny on disk."""
    return docx_package(
        (_DOC_HEAD + "<w:p><w:r><w:t>bait</w:t></w:r></w:p>" + _DOC_TAIL).encode(),
        extra={"word/media/zeros.bin": b"\x00" * unpacked},
    )


def docx_billion_laughs() -> bytes:
    """Entities that expand to 10^9 "lol"s, inside the main document part."""
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)]
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<!DOCTYPE w:document [{''.join(entities)}]>\n"
        f'<w:document xmlns:w="{W_NS}"><w:body>'
        "<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p><w:p><w:r><w:t>after the laughs</w:t></w:r></w:p>"
        f"{_DOC_TAIL}"
    )
    return docx_package(xml.encode())


def docx_nested_tables(depth: int) -> bytes:
    """Tables nested in table cells ``depth`` deep (a cell must end in a paragraph)."""
    open_ = "<w:tbl><w:tr><w:tc>"
    close = "<w:p/></w:tc></w:tr></w:tbl>"
    return docx_body(open_ * depth + "<w:p><w:r><w:t>innermost</w:t></w:r></w:p>" + close * depth)


# -- PDF ----------------------------------------------------------------------------------


PDF_TEXT = b"BT /F1 12 Tf 72 720 Td (Hello from a small PDF) Tj ET"


def pdf_document(page_extra: bytes = b"", content: bytes = PDF_TEXT) -> bytes:
    """A one-page PDF with a correct cross-reference table; ``page_extra`` goes into the page's
    dictionary and ``content`` is its content stream (text in Helvetica)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> " + page_extra + b" >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pdf_nested_arrays(depth: int) -> bytes:
    """A page dictionary holding an array nested ``depth`` deep."""
    return pdf_document(b"/Deep " + b"[" * depth + b"1" + b"]" * depth)


def pdf_nested_content(depth: int) -> bytes:
    """A content stream of ``depth`` nested graphics states (q … Q) around the text."""
    return pdf_document(content=b"q " * depth + b"BT /F1 12 Tf 72 720 Td (deep) Tj ET" + b" Q" * depth)
