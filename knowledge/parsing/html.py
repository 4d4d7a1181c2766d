"""HTML (BeautifulSoup with lxml): headings, paragraphs, lists, tables, preformatted text, and the
loose text of layouts without paragraphs.

Page furniture (navigation, headers, footers, scripts) is dropped before walking the body. Pages in
another charset than UTF-8 are decoded with the charset they declare.
"""

from __future__ import annotations

import dataclasses
import html
import warnings
from typing import TYPE_CHECKING

from knowledge import sniff
from knowledge.models import Block, ParsedDocument
from knowledge.parsing.blocks import Sections, decode, line_blocks, title_from

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

_FURNITURE = ["script", "style", "nav", "header", "footer", "noscript", "template"]
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_CONTAINERS = ["ul", "ol", "table", "pre"]
_BLOCKS = frozenset({"div", "section", "article", "main", "body", "center", "blockquote", "dl", "dt", "dd", "form",
                     "fieldset", "figure", "figcaption", "aside", "address", "hr", "li", "td", "th", "tr", "tbody"})


def parse(data: bytes, *, filename: str = "", max_pages: int = 0) -> ParsedDocument:
    """Blocks of an HTML page; the ``<title>`` (else the first ``<h1>``) names it; one page."""
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():  # XHTML pages start with an XML prolog; the HTML parser reads them well
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(_text(data), "lxml")
    for tag in soup(_FURNITURE):
        tag.decompose()
    walker = _Walker()
    walker.walk(soup.body or soup)
    walker.flush()
    return ParsedDocument(_title(soup) or title_from(walker.blocks, filename or "document"), sniff.HTML, 1,
                          tuple(walker.blocks), paged=False)


class _Walker:
    """Walks the body in document order. Real manuals often put their text straight into ``<div>``,
    ``<span>`` or the body with ``<br>`` line breaks instead of ``<p>``: such loose text is kept as
    lines, grouped into paragraphs or (numbered steps, codes) lists like a plain-text page."""

    def __init__(self) -> None:
        self.sections = Sections()
        self.blocks: list[Block] = []
        self._lines: list[str] = [""]
        self.anchor = ""  # the id of the current section's heading
        self._pending = ""  # an id or named link just before a heading (<a name="x"></a><h2>...)

    def flush(self) -> None:
        """The loose text gathered so far, as blocks (blank lines separate paragraphs)."""
        group: list[str] = []
        for line in [*self._lines, ""]:
            text = " ".join(line.split())
            if text:
                group.append(text)
            elif group:
                self.blocks.extend(dataclasses.replace(b, anchor=self.anchor)
                                   for b in line_blocks(group, 1, self.sections.current))
                group = []
        self._lines = [""]

    def _loose(self, text: str) -> None:
        self._lines[-1] += text

    def _break(self) -> None:
        self._lines.append("")

    def walk(self, el: Tag) -> None:
        from bs4.element import Comment, NavigableString, Tag

        for child in el.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                self._loose(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name == "br":
                self._break()
            elif name in _HEADINGS:
                self.flush()
                title = " ".join(child.get_text(" ", strip=True).split())
                if title:
                    self.sections.push(int(name[1]), title)
                    self.anchor = _anchor(child) or self._pending or self.anchor  # else the enclosing section's
                    self._pending = ""
            elif name == "p":
                if child.find([*_HEADINGS, *_CONTAINERS, "div", "br"]) is not None:
                    self.flush()
                    self.walk(child)  # a "paragraph" holding a layout: walk it
                    self.flush()
                    continue
                self.flush()
                text = " ".join(child.get_text(" ", strip=True).split())
                if text:
                    self.blocks.append(Block("paragraph", (text,), 1, self.sections.current, anchor=self.anchor))
            elif name in ("ul", "ol"):
                self.flush()
                self._list(child)
            elif name == "table":
                self.flush()
                self._table(child)
            elif name == "pre":
                self.flush()
                text = child.get_text().rstrip()
                if text.strip():
                    self.blocks.append(Block("pre", (text,), 1, self.sections.current, anchor=self.anchor))
            elif name in _BLOCKS:
                self.flush()
                if child.get("id"):  # <div class="section" id="..."><h2>: the section's anchor
                    self._pending = str(child["id"])
                self.walk(child)
                self.flush()
            else:  # inline (span, a, b, font, ...): part of the current line, unless it holds blocks
                if not child.get_text(strip=True) and (child.get("id") or (name == "a" and child.get("name"))):
                    self._pending = str(child.get("id") or child.get("name"))
                self.walk(child)

    def _list(self, el: Tag) -> None:
        items = []
        start = str(el.get("start") or "1")
        for n, li in enumerate(el.find_all("li", recursive=False), start=int(start) if start.isdigit() else 1):
            marker = f"{n}." if el.name == "ol" else "-"
            text = " ".join(li.get_text(" ", strip=True).split())
            if text:
                items.append(f"{marker} {text}")
        if items:
            self.blocks.append(Block("list", tuple(items), 1, self.sections.current, anchor=self.anchor))

    def _table(self, el: Tag) -> None:
        rows = [[" ".join(c.get_text(" ", strip=True).split()) for c in tr.find_all(["th", "td"])]
                for tr in el.find_all("tr")]
        rows = [r for r in rows if any(r)]
        if not rows:
            return
        if len(rows) == 1 and len(rows[0]) == 1 or all(len(r) == 1 for r in rows):
            # a one-column table is page layout, not data: its cells are ordinary text
            for row in rows:
                self.blocks.extend(dataclasses.replace(b, anchor=self.anchor)
                                   for b in line_blocks(row, 1, self.sections.current))
            return
        has_head = el.find("th") is not None
        header = " | ".join(rows[0]) if has_head else ""
        body = rows[1:] if has_head else rows
        if body:
            self.blocks.append(Block("table", tuple(" | ".join(r) for r in body), 1, self.sections.current,
                                     header=header, anchor=self.anchor))


def _anchor(heading: Tag) -> str:
    """The heading's own id, else the id or name of a link inside it."""
    if heading.get("id"):
        return str(heading["id"])
    inner = heading.find(lambda t: t.name == "a" and (t.get("id") or t.get("name")))
    return str(inner.get("id") or inner.get("name")) if inner is not None else ""


def _title(soup: BeautifulSoup) -> str:
    """The page's ``<title>``, else its first ``<h1>``; entities decoded (also doubly escaped ones)."""
    for el in (soup.title, soup.find("h1")):
        if el is not None:
            text = " ".join(html.unescape(el.get_text(" ", strip=True)).split())
            if text:
                return text
    return ""


def _text(data: bytes) -> str:
    """The page as text: UTF-8, else the charset the page declares (ISO-8859-1 manuals are common)."""
    try:
        return decode(data)
    except UnicodeDecodeError:
        from bs4.dammit import UnicodeDammit

        guess = UnicodeDammit(data, is_html=True).unicode_markup
        return guess if guess is not None else data.decode("latin-1")
