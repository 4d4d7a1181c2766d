"""Checks on an upload before anything is stored: each refusal has its status and code."""

from __future__ import annotations

import hashlib

import pytest

from core.errors import AppError
from knowledge import sniff
from knowledge.models import Limits
from knowledge.validation import check_upload
from tests.unit.knowledge.docs import docx_bytes, pdf_bytes

LIMITS = Limits(max_bytes=50_000, max_pages=3)


@pytest.mark.parametrize(("data", "filename", "status", "code"), [
    (b"x" * 50_001, "big.txt", 413, "kb_too_large"),
    (b"", "empty.txt", 422, "kb_empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "photo.png", 415, "kb_unsupported_type"),
    (b"PK\x03\x04 broken", "manual.docx", 415, "kb_unsupported_type"),
    (b"# Title only\n\n## And a subtitle\n", "headings.md", 422, "kb_empty"),
    ("\f".join(["page"] * 4).encode(), "long.txt", 422, "kb_too_many_pages"),
    (pdf_bytes(4), "long.pdf", 422, "kb_too_many_pages"),
    (pdf_bytes(1, password="secret"), "locked.pdf", 422, "kb_encrypted"),
    (pdf_bytes(2, text=False), "scan.pdf", 422, "kb_no_text"),
    (b"%PDF-1.4\ngarbage", "broken.pdf", 422, "kb_corrupt"),
])
def test_refused(data: bytes, filename: str, status: int, code: str) -> None:
    with pytest.raises(AppError) as caught:
        check_upload(data, filename, LIMITS)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_the_size_limit_is_inclusive() -> None:
    data = b"a" * 50_000
    assert check_upload(data, "exact.txt", LIMITS).content_type == sniff.TEXT


def test_a_pdf_is_checked_without_a_full_parse() -> None:
    data = pdf_bytes(3, title="V4 manual")
    checked = check_upload(data, "v4.pdf", LIMITS)
    assert (checked.content_type, checked.pages, checked.title) == (sniff.PDF, 3, "V4 manual")
    assert checked.sha256 == hashlib.sha256(data).hexdigest() and checked.data is data


@pytest.mark.parametrize(("data", "filename", "content_type", "pages", "title"), [
    (b"# Guide\n\nText.", "guide.md", sniff.MARKDOWN, 1, "Guide"),
    (b"one\fpage two\fthree", "pages.txt", sniff.TEXT, 3, "pages"),
    (b"<html><title>Help</title><body><p>x</p></body></html>", "h.html", sniff.HTML, 1, "Help"),
    (docx_bytes(title="Blades"), "b.docx", sniff.DOCX, 1, "Blades"),
])
def test_accepted(data: bytes, filename: str, content_type: str, pages: int, title: str) -> None:
    checked = check_upload(data, filename, LIMITS)
    assert (checked.content_type, checked.pages, checked.title) == (content_type, pages, title)
