"""Turn manuals (PDF, HTML, Markdown, plain text, DOCX) into structured blocks.

Every block keeps its page (PDF pages, form feeds in text) and its section path (the headings
above it). Lists and tables are kept as blocks whose units are items and rows, so a numbered
procedure or a troubleshooting table row is never cut in the middle.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

from knowledge import sniff
from knowledge.errors import CorruptDocument, UnsupportedType
from knowledge.models import Block, ParsedDocument

_STEP = re.compile(r"^\s*(?:\d{1,2}[.)]|[-•*▪●])\s+")
_ROW_START = re.compile(r"^\s*(?:[EFW]\d{2,3}\b|[A-Z]{1,4}-\d{3,5}\b|\d{3,5}-\d{2,4}\b)")


class _Sections:
    """The heading stack while walking a document."""

    def __init__(self) -> None:
        self.path: list[tuple[int, str]] = []

    def push(self, level: int, title: str) -> None:
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        self.path.append((level, title.strip()))

    @property
    def current(self) -> tuple[str, ...]:
        return tuple(t for _, t in self.path)


def parse(data: bytes, content_type: str, *, filename: str = "", max_pages: int = 2000) -> ParsedDocument:
    """Parse ``data`` of a sniffed ``content_type``; raises a ``KnowledgeError`` subclass on bad input."""
    if content_type == sniff.PDF:
        from knowledge.parsing.pdf import parse_pdf

        return parse_pdf(data, max_pages)
    if content_type == sniff.DOCX:
        return _parse_docx(data)
    text = data.decode("utf-8-sig")
    if content_type == sniff.HTML:
        return _parse_html(text)
    if content_type == sniff.MARKDOWN:
        return _parse_markdown(text, filename)
    if content_type == sniff.TEXT:
        return _parse_text(text, filename)
    raise UnsupportedType(f"unsupported content type {content_type}")


def _title_from(blocks: Iterable[Block], fallback: str) -> str:
    for block in blocks:
        if block.section:
            return block.section[0]
    return fallback.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "Untitled"


# -- Markdown -------------------------------------------------------------------------------------

def _parse_markdown(text: str, filename: str) -> ParsedDocument:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(text)
    sections = _Sections()
    blocks: list[Block] = []
    page = 1
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            sections.push(int(tok.tag[1]), tokens[i + 1].content)
            i += 3
            continue
        if tok.type == "paragraph_open":
            content = tokens[i + 1].content.strip()
            if content:
                blocks.append(Block("paragraph", (content,), page, sections.current))
            i += 3
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            items, i = _md_list(tokens, i)
            if items:
                blocks.append(Block("list", tuple(items), page, sections.current))
            continue
        if tok.type == "table_open":
            header, rows, i = _md_table(tokens, i)
            if rows:
                blocks.append(Block("table", tuple(rows), page, sections.current, header=header))
            continue
        if tok.type in ("fence", "code_block"):
            if tok.content.strip():
                blocks.append(Block("pre", (tok.content.rstrip(),), page, sections.current))
        i += 1
    return ParsedDocument(_title_from(blocks, filename), sniff.MARKDOWN, 1, tuple(blocks), paged=False)


def _md_list(tokens: list, i: int) -> tuple[list[str], int]:
    """Collect a (possibly nested) list into items; ordered items keep their numbers."""
    items: list[str] = []
    stack: list[list[int]] = []  # [next number] per level; -1 for bullets
    current: list[str] | None = None
    depth = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            start = int(tok.attrGet("start") or 1) if tok.type == "ordered_list_open" else -1
            stack.append([start])
            depth += 1
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            stack.pop()
            depth -= 1
            if depth == 0:
                if current:
                    items.append(" ".join(current))
                return items, i + 1
        elif tok.type == "list_item_open":
            if current:
                items.append(" ".join(current))
            n = stack[-1][0]
            marker = f"{n}." if n >= 0 else "-"
            if n >= 0:
                stack[-1][0] += 1
            current = ["  " * (depth - 1) + marker]
        elif tok.type == "inline" and current is not None:
            current.append(tok.content.replace("\n", " ").strip())
        i += 1
    if current:
        items.append(" ".join(current))
    return items, i


def _md_table(tokens: list, i: int) -> tuple[str, list[str], int]:
    header: list[str] = []
    rows: list[str] = []
    row: list[str] = []
    in_head = False
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "thead_open":
            in_head = True
        elif tok.type == "thead_close":
            in_head = False
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "inline":
            row.append(tok.content.strip())
        elif tok.type == "tr_close":
            (header.extend(row) if in_head else rows.append(" | ".join(row)))
        elif tok.type == "table_close":
            return " | ".join(header), rows, i + 1
        i += 1
    return " | ".join(header), rows, i


# -- HTML -----------------------------------------------------------------------------------------

def _parse_html(text: str) -> ParsedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "lxml")
    for tag in soup(["script", "style", "nav", "header", "footer", "noscript", "template"]):
        tag.decompose()
    sections = _Sections()
    blocks: list[Block] = []
    root = soup.body or soup
    for el in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "table", "pre"]):
        if el.find_parent(["ul", "ol", "table", "pre"]) is not None and el.name not in ("h1", "h2", "h3", "h4", "h5", "h6"):
            continue  # nested: handled with its container
        if el.name[0] == "h" and el.name[1:].isdigit():
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
    return ParsedDocument(title or _title_from(blocks, "document"), sniff.HTML, 1, tuple(blocks), paged=False)


# -- Plain text -----------------------------------------------------------------------------------

def _parse_text(text: str, filename: str) -> ParsedDocument:
    pages = text.split("\f")
    sections = _Sections()
    blocks: list[Block] = []
    for page_no, page in enumerate(pages, start=1):
        for para in re.split(r"\n\s*\n", page):
            lines = [ln.rstrip() for ln in para.strip("\n").splitlines() if ln.strip()]
            if not lines:
                continue
            if len(lines) == 1 and _looks_like_heading(lines[0]):
                level = lines[0].split(" ")[0].count(".") + 1 if re.match(r"^\d+(\.\d+)*\s", lines[0]) else 1
                sections.push(level, lines[0].strip())
                continue
            blocks.extend(_line_blocks(lines, page_no, sections.current))
    paged = len(pages) > 1
    return ParsedDocument(_title_from(blocks, filename), sniff.TEXT, len(pages), tuple(blocks), paged=paged)


def _looks_like_heading(line: str) -> bool:
    s = line.strip()
    if not s or len(s) > 80 or s.endswith((".", ":", ",", ";")) or _STEP.match(s) and not re.match(r"^\d+(\.\d+)*\s+\w", s):
        return False
    return s.isupper() or bool(re.match(r"^\d+(\.\d+)*\s+\S", s)) or (len(s.split()) <= 8 and s[0].isupper())


def _line_blocks(lines: list[str], page: int | None, section: tuple[str, ...]) -> list[Block]:
    """Group lines into list/table-like units (a line starting a step or a code starts a unit)."""
    units: list[str] = []
    structured = sum(1 for ln in lines if _STEP.match(ln) or _ROW_START.match(ln))
    if structured >= 2:
        for ln in lines:
            if _STEP.match(ln) or _ROW_START.match(ln) or not units:
                units.append(ln.strip())
            else:
                units[-1] += " " + ln.strip()
        return [Block("list", tuple(units), page, section)]
    return [Block("paragraph", (" ".join(ln.strip() for ln in lines),), page, section)]


# -- DOCX -----------------------------------------------------------------------------------------

def _parse_docx(data: bytes) -> ParsedDocument:
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types on bad input
        raise CorruptDocument(f"cannot read DOCX: {exc}") from exc
    sections = _Sections()
    blocks: list[Block] = []
    pending: list[str] = []
    numbers: dict[int, int] = {}

    def flush() -> None:
        if pending:
            blocks.append(Block("list", tuple(pending), 1, sections.current))
            pending.clear()

    for item in document.iter_inner_content():
        if isinstance(item, Table):
            flush()
            rows = [" | ".join(c.text.strip() for c in r.cells) for r in item.rows]
            if rows:
                blocks.append(Block("table", tuple(rows[1:]) or tuple(rows), 1, sections.current, header=rows[0] if len(rows) > 1 else ""))
            continue
        assert isinstance(item, Paragraph)
        style = (item.style.name if item.style is not None else "") or ""
        text = item.text.strip()
        if not text:
            continue
        if style.startswith("Heading") or style == "Title":
            flush()
            level = int(style.split()[-1]) if style.split()[-1].isdigit() else 1
            sections.push(level, text)
            numbers.clear()
        elif "List" in style:
            if "Number" in style:
                numbers[0] = numbers.get(0, 0) + 1
                pending.append(f"{numbers[0]}. {text}")
            else:
                pending.append(f"- {text}")
        else:
            flush()
            numbers.clear()
            blocks.append(Block("paragraph", (text,), 1, sections.current))
    flush()
    title = document.core_properties.title or _title_from(blocks, "document")
    return ParsedDocument(title, sniff.DOCX, 1, tuple(blocks), paged=False)
