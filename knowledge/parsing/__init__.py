"""Turn manuals (PDF, HTML, Markdown, plain text, DOCX) into structured blocks.

Every block keeps its page (PDF pages, form feeds in text) and its section path (the headings
above it). Lists and tables are kept as blocks whose units are items and rows, so a numbered
procedure or a troubleshooting table row is never cut in the middle. One module per format;
``blocks`` holds what they share; :func:`parse` picks the parser from the sniffed type.
"""

from __future__ import annotations

from typing import Protocol

from knowledge import sniff
from knowledge.errors import UnsupportedType
from knowledge.models import ParsedDocument
from knowledge.parsing import docx, html, markdown, pdf, text


class Parser(Protocol):
    """One format's parser: bytes in, blocks out; raises a ``KnowledgeError`` subclass on bad input."""

    def __call__(self, data: bytes, *, filename: str = ..., max_pages: int = ...) -> ParsedDocument: ...


PARSERS: dict[str, Parser] = {
    sniff.PDF: pdf.parse,
    sniff.DOCX: docx.parse,
    sniff.HTML: html.parse,
    sniff.MARKDOWN: markdown.parse,
    sniff.TEXT: text.parse,
}


def parse(data: bytes, content_type: str, *, filename: str = "", max_pages: int = 2000) -> ParsedDocument:
    """Parse ``data`` of a sniffed ``content_type``; raises a ``KnowledgeError`` subclass on bad input."""
    parser = PARSERS.get(content_type)
    if parser is None:
        raise UnsupportedType(f"unsupported content type {content_type}")
    return parser(data, filename=filename, max_pages=max_pages)


__all__ = ["PARSERS", "Parser", "parse"]
