"""Helpers every format parser shares: the heading stack, step and table-row patterns, grouping of
plain lines into list or paragraph blocks, and the document title."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from knowledge.models import Block

STEP = re.compile(r"^\s*(?:\d{1,2}[.)]|[-•*▪●])\s+")  # a numbered step or a bullet
ROW_START = re.compile(r"^\s*(?:[EFW]\d{2,3}\b|[A-Z]{1,4}-\d{3,5}\b|\d{3,5}-\d{2,4}\b)")  # an error code or part number


def slug(text: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, letters (any script), digits, ``-`` and ``_``."""
    text = unicodedata.normalize("NFC", text).strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return re.sub(r"\s", "-", text) or "section"


class Sections:
    """The heading stack while walking a document, and an anchor for each heading (``anchor``: the
    current heading's, unique in the document, so a citation of a section can open it)."""

    def __init__(self) -> None:
        self.path: list[tuple[int, str]] = []
        self.anchor = ""
        self._used: dict[str, int] = {}

    def push(self, level: int, title: str) -> None:
        """Enter a heading of ``level``: headings at that level or deeper are closed first."""
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        self.path.append((level, title.strip()))
        base = slug(title)
        n = self._used.get(base, 0)
        self._used[base] = n + 1
        self.anchor = base if n == 0 else f"{base}-{n}"

    @property
    def current(self) -> tuple[str, ...]:
        """The titles of the open headings, outermost first."""
        return tuple(t for _, t in self.path)


def title_from(blocks: Iterable[Block], fallback: str) -> str:
    """The first top-level section of ``blocks``, else the file name without folder and extension."""
    for block in blocks:
        if block.section:
            return block.section[0]
    return fallback.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "Untitled"


def is_structured(lines: list[str]) -> bool:
    """Two or more lines start a step or a code: the lines are a list or a table, not prose."""
    return sum(1 for ln in lines if STEP.match(ln) or ROW_START.match(ln)) >= 2


def line_blocks(lines: list[str], page: int | None, section: tuple[str, ...], anchor: str = "") -> list[Block]:
    """Group lines into list/table-like units (a line starting a step or a code starts a unit)."""
    if not is_structured(lines):
        return [Block("paragraph", (" ".join(ln.strip() for ln in lines),), page, section, anchor=anchor)]
    units: list[str] = []
    for ln in lines:
        if STEP.match(ln) or ROW_START.match(ln) or not units:
            units.append(ln.strip())
        else:
            units[-1] += " " + ln.strip()
    return [Block("list", tuple(units), page, section, anchor=anchor)]


def decode(data: bytes) -> str:
    """UTF-8 text (a byte-order mark is dropped); the sniffer has already refused anything else."""
    return data.decode("utf-8-sig")
