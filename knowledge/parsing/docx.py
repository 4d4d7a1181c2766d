"""DOCX (python-docx): headings by paragraph style, list paragraphs grouped into lists, tables."""

from __future__ import annotations

import io

from knowledge import sniff
from knowledge.errors import CorruptDocument
from knowledge.models import Block, ParsedDocument
from knowledge.parsing.blocks import Sections, title_from


def parse(data: bytes, *, filename: str = "", max_pages: int = 0) -> ParsedDocument:
    """Blocks of a Word document; one page (DOCX has no fixed pages, ``max_pages`` does not apply)."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types on bad input (zip, XML, missing parts)
        raise CorruptDocument(f"cannot read DOCX: {exc}") from exc
    sections = Sections()
    blocks: list[Block] = []
    pending: list[str] = []  # list items waiting for the end of their list
    number = 0  # the last number given in the current numbered list

    def flush() -> None:
        if pending:
            blocks.append(Block("list", tuple(pending), 1, sections.current))
            pending.clear()

    for item in document.iter_inner_content():
        if isinstance(item, Table):
            flush()
            rows = [" | ".join(c.text.strip() for c in r.cells) for r in item.rows]
            if rows:
                header = rows[0] if len(rows) > 1 else ""
                blocks.append(Block("table", tuple(rows[1:]) or tuple(rows), 1, sections.current, header=header))
            continue
        if not isinstance(item, Paragraph):
            continue
        style = (item.style.name if item.style is not None else "") or ""
        text = item.text.strip()
        if not text:
            continue
        if style.startswith("Heading") or style == "Title":
            flush()
            level = int(style.split()[-1]) if style.split()[-1].isdigit() else 1
            sections.push(level, text)
            number = 0
        elif "List" in style:
            if "Number" in style:
                number += 1
                pending.append(f"{number}. {text}")
            else:
                pending.append(f"- {text}")
        else:
            flush()
            number = 0
            blocks.append(Block("paragraph", (text,), 1, sections.current))
    flush()
    title = document.core_properties.title or title_from(blocks, "document")
    return ParsedDocument(title, sniff.DOCX, 1, tuple(blocks), paged=False)
