"""PDF parsing with pypdf: lines with font size and weight -> headings, paragraphs, lists, table rows.

Headings are bold lines clearly larger than the body text; running headers and footers (lines
repeated on most pages) are dropped; every block keeps its page number.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from knowledge import sniff
from knowledge.errors import CorruptDocument, EncryptedDocument, ImageOnlyDocument, TooManyPages
from knowledge.models import Block, ParsedDocument
from knowledge.parsing.blocks import Sections, line_blocks, title_from

if TYPE_CHECKING:
    from pypdf import PageObject, PdfReader

Line = tuple[str, float]  # the text of a line and its font size (negative when bold)


def parse(data: bytes, *, filename: str = "", max_pages: int = 2000) -> ParsedDocument:
    """Blocks of a PDF with their pages; refuses encrypted, unreadable, image-only or too long files."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise EncryptedDocument("the PDF is encrypted; upload an unprotected copy")
        n_pages = len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise CorruptDocument(f"cannot read PDF: {exc}") from exc
    if n_pages == 0:
        raise CorruptDocument("the PDF has no pages")
    if n_pages > max_pages:
        raise TooManyPages(f"the PDF has {n_pages} pages; the limit is {max_pages}")
    pages: list[list[Line]] = []
    try:
        for page in reader.pages:
            pages.append(_pdf_lines(page))
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise CorruptDocument(f"cannot read PDF content: {exc}") from exc
    if sum(len(t) for lines in pages for t, _ in lines) < 20 * max(1, n_pages // 10):
        raise ImageOnlyDocument("the PDF has no text layer (scanned images?); upload a PDF with text or run OCR first")
    return _pdf_blocks(pages, reader)


def _pdf_lines(page: PageObject) -> list[Line]:
    """Lines of one page with the largest font size seen on each line (negative when bold)."""
    lines: list[Line] = []
    buf: list[str] = []
    size = 0.0
    bold = True

    def visitor(text: str, cm: list[float], tm: list[float], font: object, font_size: float) -> None:
        nonlocal size, bold
        scale = abs(tm[3] * cm[3]) or 1.0
        # pypdf passes the font resource dictionary (a dict subclass), or None outside a text object
        name = str(font.get("/BaseFont", "")) if isinstance(font, Mapping) else ""
        parts = text.split("\n")
        for n, part in enumerate(parts):
            if n > 0:
                flush()
            if part.strip():
                buf.append(part)
                size = max(size, round(font_size * scale, 1))
                bold = bold and ("Bold" in name or "Black" in name or "Heavy" in name)

    def flush() -> None:
        nonlocal size, bold
        line = "".join(buf).strip()
        if line:
            lines.append((re.sub(r"\s+", " ", line), -size if bold else size))
        buf.clear()
        size = 0.0
        bold = True

    page.extract_text(visitor_text=visitor)
    flush()
    return lines


def _pdf_blocks(pages: list[list[Line]], reader: PdfReader) -> ParsedDocument:
    # Headings: bold lines clearly larger than body text, or any line much larger. Sizes are kept
    # signed (negative = bold) by _pdf_lines; levels follow the size order.
    sizes: Counter[float] = Counter()
    for lines in pages:
        for text, size in lines:
            sizes[abs(size)] += len(text)
    body = sizes.most_common(1)[0][0] if sizes else 10.0
    heading_sizes = sorted({abs(s) for lines in pages for _, s in lines
                            if (s < 0 and -s >= body * 1.15) or abs(s) >= body * 1.45}, reverse=True)[:4]
    level_of = {s: n + 1 for n, s in enumerate(heading_sizes)}
    level_of.update({-s: n for s, n in level_of.items()})
    for s in list(level_of):
        if s > 0 and s < body * 1.45:
            del level_of[s]  # a larger but regular-weight line is emphasis, not a heading
    boiler = _repeated_lines(pages, set(level_of))
    sections = Sections()
    blocks: list[Block] = []
    title = ""
    meta = reader.metadata
    if meta is not None and meta.title:
        title = str(meta.title)
    for page_no, lines in enumerate(pages, start=1):
        group: list[Line] = []
        for n, (text, size) in enumerate(lines):
            if _is_edge(n, len(lines)) and _norm(text) in boiler:
                continue
            if size in level_of and len(text) < 120:
                blocks.extend(_segment(group, page_no, sections.current))
                group = []
                if sections.path and sections.path[-1][0] == level_of[size] and _continues_heading(sections.path[-1][1], text):
                    sections.path[-1] = (level_of[size], sections.path[-1][1] + " " + text)
                else:
                    sections.push(level_of[size], text)
                title = title or text
                continue
            group.append((text, size))
        blocks.extend(_segment(group, page_no, sections.current))
    return ParsedDocument(title or title_from(blocks, "document"), sniff.PDF, len(pages), tuple(blocks), paged=True)


def _segment(lines: list[Line], page: int, section: tuple[str, ...]) -> list[Block]:
    """Split the lines under one heading into runs: tables (a bold header line followed by lines in
    the same font size; a line starting in lower case continues the row above) and text."""
    blocks: list[Block] = []
    text: list[str] = []
    i = 0
    while i < len(lines):
        line, size = lines[i]
        if size < 0 and i + 1 < len(lines) and lines[i + 1][1] == -size:
            if text:
                blocks.extend(line_blocks(text, page, section))
                text = []
            rows: list[str] = []
            j = i + 1
            while j < len(lines) and lines[j][1] == -size:
                row = lines[j][0]
                if rows and row[:1].islower():
                    rows[-1] += " " + row
                else:
                    rows.append(row)
                j += 1
            blocks.append(Block("table", tuple(rows), page, section, header=line))
            i = j
            continue
        text.append(line)
        i += 1
    if text:
        blocks.extend(line_blocks(text, page, section))
    return blocks


def _continues_heading(previous: str, text: str) -> bool:
    return text[:1].islower()


def _norm(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip().lower())


def _is_edge(index: int, count: int) -> bool:
    return index == 0 or index == count - 1


def _repeated_lines(pages: list[list[Line]], heading_sizes: set[float]) -> set[str]:
    """Running headers and footers: lines at the top or bottom of a page (digits ignored), not in a
    heading font, found on more than half of the pages."""
    if len(pages) < 3:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({_norm(t) for n, (t, s) in enumerate(lines) if _is_edge(n, len(lines)) and s not in heading_sizes})
    return {line for line, n in counts.items() if n > len(pages) / 2}
