"""Plain text: form feeds are page breaks, blank lines separate paragraphs, short capitalised or
numbered lines (``2.1 Cleaning``) are headings, runs of steps or codes become lists."""

from __future__ import annotations

import re

from knowledge import sniff
from knowledge.models import Block, ParsedDocument
from knowledge.parsing.blocks import STEP, Sections, decode, line_blocks, title_from

_NUMBERED = re.compile(r"^\d+(\.\d+)*\s")


def parse(data: bytes, *, filename: str = "", max_pages: int = 0) -> ParsedDocument:
    """Blocks of a text file with their pages; the caller checks the page count against its limit."""
    pages = decode(data).split("\f")
    sections = Sections()
    blocks: list[Block] = []
    for page_no, page in enumerate(pages, start=1):
        for para in re.split(r"\n\s*\n", page):
            lines = [ln.rstrip() for ln in para.strip("\n").splitlines() if ln.strip()]
            if not lines:
                continue
            if len(lines) == 1 and looks_like_heading(lines[0]):
                level = lines[0].split(" ")[0].count(".") + 1 if _NUMBERED.match(lines[0]) else 1
                sections.push(level, lines[0].strip())
                continue
            blocks.extend(line_blocks(lines, page_no, sections.current))
    return ParsedDocument(title_from(blocks, filename), sniff.TEXT, len(pages), tuple(blocks), paged=len(pages) > 1)


def looks_like_heading(line: str) -> bool:
    """A short line without closing punctuation, in capitals, numbered (``3.2 Blades``) or title-like."""
    s = line.strip()
    if not s or len(s) > 80 or s.endswith((".", ":", ",", ";")):
        return False
    if STEP.match(s) and not re.match(r"^\d+(\.\d+)*\s+\w", s):
        return False
    return s.isupper() or bool(re.match(r"^\d+(\.\d+)*\s+\S", s)) or (len(s.split()) <= 8 and s[0].isupper())
