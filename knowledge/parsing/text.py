"""Plain text: form feeds are page breaks, blank lines separate paragraphs, short capitalised or
numbered lines (``2.1 Cleaning``) are headings, runs of steps or codes become lists; in the layout of
a manual page, a title at the margin or an option line with its text indented below is a heading,
the header and footer lines are left out and the NAME line is the title."""

from __future__ import annotations

import re

from knowledge import sniff
from knowledge.models import Block, ParsedDocument
from knowledge.parsing.blocks import STEP, Sections, decode, line_blocks, title_from

_NUMBERED = re.compile(r"^\d+(\.\d+)*\s")
# a manual page's header and footer lines: "scanimage(1)   SANE Scanner Access Now Easy   scanimage(1)"
# and "   10 Jul 2008     scanimage(1)" (page furniture, not text)
_MAN_HEADER = re.compile(r"^(?P<name>[\w.+-]+)\((?P<section>\d\w*)\)\s{2,}.*\s{2,}(?P=name)\((?P=section)\)$")
_MAN_FOOTER = re.compile(r"^\s*\S.*\s{2,}[\w.+-]+\(\d\w*\)$")


def parse(data: bytes, *, filename: str = "", max_pages: int = 0) -> ParsedDocument:
    """Blocks of a text file with their pages; the caller checks the page count against its limit."""
    pages = decode(data).split("\f")
    sections = Sections()
    blocks: list[Block] = []
    first_heading = ""  # the document's title when it starts with one
    man_page = ""  # a manual page's name ("scanimage(1)"), from its header line
    man_title = ""  # its NAME line: "scanimage - scan an image"
    for page_no, page in enumerate(pages, start=1):
        for para in re.split(r"\n\s*\n", page):
            lines = [ln.rstrip() for ln in para.strip("\n").splitlines() if ln.strip()]
            if not man_page and lines and (header := _MAN_HEADER.match(lines[0].strip())):
                man_page = f"{header['name']}({header['section']})"
            if man_page:
                lines = [ln for ln in lines if not (_MAN_HEADER.match(ln.strip()) or _MAN_FOOTER.match(ln))]
                if not man_title and len(lines) > 1 and lines[0].strip() == "NAME":
                    man_title = " ".join(" ".join(lines[1:]).split())
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
            blocks.extend(line_blocks(lines, page_no, sections.current, sections.anchor))
    title = man_title or first_heading or title_from(blocks, filename)
    return ParsedDocument(title, sniff.TEXT, len(pages), tuple(blocks),
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
