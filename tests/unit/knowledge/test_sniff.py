"""The type of an upload comes from its bytes; the name only tells Markdown from plain text."""

from __future__ import annotations

import io
import zipfile

import pytest

from knowledge import sniff
from tests.unit.knowledge.docs import docx_bytes, pdf_bytes


def _zip(name: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(name, "<xml/>")
    return out.getvalue()


@pytest.mark.parametrize(("data", "filename", "expected"), [
    (pdf_bytes(1), "manual.bin", sniff.PDF),
    (b"\n  %PDF-1.7\n...", "", sniff.PDF),  # leading whitespace before the header
    (docx_bytes(), "manual", sniff.DOCX),
    (b"<!DOCTYPE html><html><body><p>x</p></body></html>", "", sniff.HTML),
    (b"  <html><p>x</p></html>", "page.txt", sniff.HTML),
    (b"<div><body>text</body></div>", "", sniff.HTML),
    (b"# Manual\n\nSome text.", "", sniff.MARKDOWN),  # a heading
    (b"| a | b |\n|---|---|\n| 1 | 2 |", "", sniff.MARKDOWN),  # a table
    (b"Plain words only.", "notes.md", sniff.MARKDOWN),  # the name decides between the two text formats
    (b"Plain words only.", "notes.MARKDOWN", sniff.MARKDOWN),
    (b"Plain words only.\n#hashtag is no heading", "notes.txt", sniff.TEXT),
    ("\ufeffÆøå, ελληνικά, العربية".encode(), "", sniff.TEXT),  # UTF-8 with a byte-order mark
    (b"Page one\fPage two", "", sniff.TEXT),
    (b"this is text, not a PDF", "manual.pdf", sniff.TEXT),  # the name never makes a PDF
])
def test_accepted(data: bytes, filename: str, expected: str) -> None:
    assert sniff.sniff(data, filename) == expected


@pytest.mark.parametrize(("data", "filename"), [
    (b"", "empty.txt"),
    (b" \n\t \n", "blank.txt"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.pdf"),
    (b"text with a NUL \x00 byte", "a.txt"),
    (b"\xff\xfe\xfa not utf-8", "a.txt"),
    (bytes(range(1, 32)) * 20, "controls.txt"),  # valid UTF-8, but control characters
    (_zip("content.xml"), "sheet.docx"),  # a zip that is not a Word document
    (b"PK\x03\x04 broken zip", "broken.docx"),
])
def test_refused(data: bytes, filename: str) -> None:
    assert sniff.sniff(data, filename) is None


def test_every_accepted_type_has_an_extension() -> None:
    assert sniff.ALLOWED == {sniff.PDF, sniff.HTML, sniff.MARKDOWN, sniff.TEXT, sniff.DOCX}
    assert sniff.EXTENSIONS[sniff.DOCX] == ".docx"
