"""Plain text: form feeds are page breaks, blank lines separate paragraphs, short capitalised or
numbered lines (``2.1 Cleaning``) are headings, runs of steps or codes become lists; in the layout of
a manual page, a title at the margin or an option line with its text indented below is a heading."""

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
    first_heading = ""  # the document's title when it starts with one (a manual page's header line)
    for page_no, page in enumerate(pages, start=1):
        for para in re.split(r"\n\s*\n", page):
            lines = [ln.rstrip() for ln in para.strip("\n").splitlines() if ln.strip()]
            if not lines:
                continue
            if len(lines) == 1 and looks_like_heading(lines[0]):
                level = lines[0].split(" ")[0].count(".") + 1 if _NUMBERED.match(lines[0]) else 1
                sections.push(level, lines[0].strip())
                first_heading = first_heading or (" ".join(lines[0].split()) if not blocks else "")
                continue
            while len(lines) > 1 and hanging_heading(lines[0], lines[1]):
                # a manual page's layout: "OPTIONS" at the margin or "-t TEST, --test=TEST" indented, with
                # its text indented further below it: a section (level by indentation) and its body
                level = 1 if not lines[0][:1].isspace() else 2
                sections.push(level, " ".join(lines[0].split()))
                lines = lines[1:]
            blocks.extend(line_blocks(lines, page_no, sections.current))
    return ParsedDocument(first_heading or title_from(blocks, filename), sniff.TEXT, len(pages), tuple(blocks),
                          paged=len(pages) > 1)


def looks_like_heading(line: str) -> bool:
    """A short line without closing punctuation, in capitals, numbered (``3.2 Blades``) or title-like."""
    s = line.strip()
    if not s or len(s) > 80 or s.endswith((".", ":", ",", ";")):
        return False
    if STEP.match(s) and not re.match(r"^\d+(\.\d+)*\s+\w", s):
        return False
    return s.isupper() or bool(re.match(r"^\d+(\.\d+)*\s+\S", s)) or (len(s.split()) <= 8 and s[0].isupper())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def hanging_heading(first: str, second: str) -> bool:
    """``first`` heads the lines under it: short, indented at least 3 columns less than the next line,
    a title at the margin (``DESCRIPTION``) or an option (``-s VALUE, --smart=VALUE``)."""
    s = first.strip()
    if not s or len(s) > 60 or _indent(second) < _indent(first) + 3:
        return False
    return (_indent(first) == 0 and looks_like_heading(first)) or bool(re.match(r"^--?\w", s))
