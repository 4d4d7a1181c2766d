"""HTML (BeautifulSoup with lxml): headings, paragraphs, lists, tables, preformatted text.

Page furniture (navigation, headers, footers, scripts) is dropped before walking the body.
"""

from __future__ import annotations

from knowledge import sniff
from knowledge.models import Block, ParsedDocument
from knowledge.parsing.blocks import Sections, decode, title_from

_FURNITURE = ["script", "style", "nav", "header", "footer", "noscript", "template"]
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_CONTAINERS = ["ul", "ol", "table", "pre"]


def parse(data: bytes, *, filename: str = "", max_pages: int = 0) -> ParsedDocument:
    """Blocks of an HTML page; the ``<title>`` names it; one page (``max_pages`` does not apply)."""
    from bs4 import BeautifulSoup, Tag

    soup = BeautifulSoup(decode(data), "lxml")
    for tag in soup(_FURNITURE):
        tag.decompose()
    sections = Sections()
    blocks: list[Block] = []
    root = soup.body or soup
    for el in root.find_all([*_HEADINGS, "p", *_CONTAINERS]):
        if not isinstance(el, Tag):
            continue
        if el.name not in _HEADINGS and el.find_parent(_CONTAINERS) is not None:
            continue  # nested: handled with its container
        if el.name in _HEADINGS:
            sections.push(int(el.name[1]), el.get_text(" ", strip=True))
        elif el.name == "p":
            t = el.get_text(" ", strip=True)
            if t:
                blocks.append(Block("paragraph", (t,), 1, sections.current))
        elif el.name in ("ul", "ol"):
            items = []
            start = str(el.get("start") or "1")
            for n, li in enumerate(el.find_all("li", recursive=False), start=int(start) if start.isdigit() else 1):
                marker = f"{n}." if el.name == "ol" else "-"
                items.append(f"{marker} {li.get_text(' ', strip=True)}")
            if items:
                blocks.append(Block("list", tuple(items), 1, sections.current))
        elif el.name == "table":
            rows = [[c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])] for tr in el.find_all("tr")]
            rows = [r for r in rows if any(r)]
            if rows:
                has_head = el.find("th") is not None
                header = " | ".join(rows[0]) if has_head else ""
                body = rows[1:] if has_head else rows
                blocks.append(Block("table", tuple(" | ".join(r) for r in body), 1, sections.current, header=header))
        elif el.name == "pre":
            t = el.get_text().rstrip()
            if t:
                blocks.append(Block("pre", (t,), 1, sections.current))
    title = soup.title.get_text(strip=True) if soup.title else ""
    return ParsedDocument(title or title_from(blocks, "document"), sniff.HTML, 1, tuple(blocks), paged=False)
