"""Checks run on an upload before anything is stored: size, type from content, readable, has text."""

from __future__ import annotations

import dataclasses
import hashlib
import io

from knowledge import sniff
from knowledge.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    ImageOnlyDocument,
    TooLarge,
    TooManyPages,
    UnsupportedType,
)
from knowledge.models import Limits
from knowledge.parsing import parse

_PDF_TEXT_SAMPLE_PAGES = 8


@dataclasses.dataclass(frozen=True)
class CheckedUpload:
    data: bytes
    sha256: str
    content_type: str
    pages: int
    title: str


def check_upload(data: bytes, filename: str, limits: Limits) -> CheckedUpload:
    """Validate ``data``; raises a 4xx ``AppError`` subclass naming the reason.

    PDFs are opened and a sample of pages is read for text here (a full parse of a large manual
    runs in the ingestion job); other formats are parsed whole, which is fast.
    """
    if len(data) > limits.max_bytes:
        raise TooLarge(f"the file is {len(data)} bytes; the limit is {limits.max_bytes}")
    if not data:
        raise EmptyDocument("the file is empty")
    content_type = sniff.sniff(data, filename)
    if content_type is None:
        raise UnsupportedType("unsupported file type (accepted: PDF with text, HTML, Markdown, plain text, DOCX)")
    sha = hashlib.sha256(data).hexdigest()
    if content_type == sniff.PDF:
        pages, title = _check_pdf(data, limits.max_pages)
        return CheckedUpload(data, sha, content_type, pages, title)
    parsed = parse(data, content_type, filename=filename, max_pages=limits.max_pages)
    if parsed.pages > limits.max_pages:
        raise TooManyPages(f"the document has {parsed.pages} pages; the limit is {limits.max_pages}")
    if not any(b.text.strip() for b in parsed.blocks):
        raise EmptyDocument("the document contains no text to index")
    return CheckedUpload(data, sha, content_type, parsed.pages, parsed.title)


def _check_pdf(data: bytes, max_pages: int) -> tuple[int, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise EncryptedDocument("the PDF is encrypted; upload an unprotected copy")
        n = len(reader.pages)
        if n == 0:
            raise CorruptDocument("the PDF has no pages")
        if n > max_pages:
            raise TooManyPages(f"the PDF has {n} pages; the limit is {max_pages}")
        step = max(1, n // _PDF_TEXT_SAMPLE_PAGES)
        sample = [reader.pages[i].extract_text() or "" for i in range(0, n, step)][:_PDF_TEXT_SAMPLE_PAGES]
        title = str(reader.metadata.title) if reader.metadata is not None and reader.metadata.title else ""
    except (EncryptedDocument, TooManyPages, CorruptDocument):
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise CorruptDocument(f"cannot read PDF: {type(exc).__name__}: {exc}") from exc
    if sum(len(s.strip()) for s in sample) < 20 * len(sample):
        raise ImageOnlyDocument("the PDF has no text layer (scanned images?); upload a PDF with text or run OCR first")
    return n, title
