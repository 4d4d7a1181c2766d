"""Tell a file's type from its bytes, never from its name."""

from __future__ import annotations

import io
import zipfile

PDF = "application/pdf"
HTML = "text/html"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

EXTENSIONS = {PDF: ".pdf", HTML: ".html", MARKDOWN: ".md", TEXT: ".txt", DOCX: ".docx"}
ALLOWED = frozenset(EXTENSIONS)


def sniff(data: bytes, filename: str = "") -> str | None:
    """The content type of ``data`` or None when it is not a format we accept.

    The file name only tells Markdown from plain text (both are just UTF-8 text); a name ending in
    .pdf on something that is not a PDF is still rejected.
    """
    head = data[:1024]
    if head.lstrip().startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                if "word/document.xml" in zf.namelist():
                    return DOCX
        except zipfile.BadZipFile:
            return None
        return None
    if _declares_html(head):
        return HTML  # HTML may be in any charset it declares (ISO-8859-1 manuals are common); the parser decodes it
    text = _as_text(data)
    if text is None:
        return None
    start = text.lstrip()[:512].lower()
    if start.startswith(("<!doctype html", "<html")) or ("<body" in start and "</" in text.lower()):
        return HTML
    if filename.lower().endswith((".md", ".markdown")) or _looks_like_markdown(text):
        return MARKDOWN
    return TEXT


def _declares_html(head: bytes) -> bool:
    """An HTML page by its first bytes (an HTML doctype or root element, after an optional XML prolog)."""
    if b"\x00" in head:
        return False
    start = head.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf \t\r\n").lower()
    if start.startswith("<?xml"):
        start = start.split("?>", 1)[-1].lstrip()
    return start.startswith(("<!doctype html", "<html"))


def _as_text(data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    # Mostly printable characters; binary junk that happens to be valid UTF-8 is refused.
    sample = text[:8192]
    if not sample.strip():
        return None
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    return None if bad > len(sample) * 0.01 else text


def _looks_like_markdown(text: str) -> bool:
    lines = text.splitlines()[:200]
    headings = sum(1 for line in lines if line.startswith("#") and line.lstrip("#").startswith(" "))
    tables = sum(1 for line in lines if line.strip().startswith("|") and line.strip().endswith("|"))
    return headings >= 1 or tables >= 2
