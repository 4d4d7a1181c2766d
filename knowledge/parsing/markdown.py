"""Markdown (CommonMark with tables, via markdown-it): headings (each with its anchor, as GitHub makes it),
paragraphs, lists, tables, code."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from knowledge import sniff
from knowledge.models import Block, ParsedDocument
from knowledge.parsing.blocks import Sections, decode, title_from

if TYPE_CHECKING:
    from markdown_it.token import Token


def parse(data: bytes, *, filename: str = "", max_pages: int = 0) -> ParsedDocument:
    """Blocks of a Markdown file; one page (``max_pages`` does not apply)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(decode(data))
    sections = Sections()
    blocks: list[Block] = []
    page = 1
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            sections.push(int(tok.tag[1]), html.unescape(tokens[i + 1].content))  # "&amp;" in a heading is "&"
            i += 3
            continue
        if tok.type == "paragraph_open":
            content = tokens[i + 1].content.strip()
            if content:
                blocks.append(Block("paragraph", (content,), page, sections.current, anchor=sections.anchor))
            i += 3
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            items, i = _list(tokens, i)
            if items:
                blocks.append(Block("list", tuple(items), page, sections.current, anchor=sections.anchor))
            continue
        if tok.type == "table_open":
            header, rows, i = _table(tokens, i)
            if rows:
                blocks.append(Block("table", tuple(rows), page, sections.current, header=header, anchor=sections.anchor))
            continue
        if tok.type in ("fence", "code_block"):
            if tok.content.strip():
                blocks.append(Block("pre", (tok.content.rstrip(),), page, sections.current, anchor=sections.anchor))
        i += 1
    return ParsedDocument(title_from(blocks, filename), sniff.MARKDOWN, 1, tuple(blocks), paged=False)


def _list(tokens: list[Token], i: int) -> tuple[list[str], int]:
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


def _table(tokens: list[Token], i: int) -> tuple[str, list[str], int]:
    """The header row and the body rows of a table, cells joined with `` | ``."""
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
            if in_head:
                header.extend(row)
            else:
                rows.append(" | ".join(row))
        elif tok.type == "table_close":
            return " | ".join(header), rows, i + 1
        i += 1
    return " | ".join(header), rows, i
