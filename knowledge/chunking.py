"""Split parsed blocks into chunks sized for the embedder.

Rules: a chunk never spans two sections; a list or table that fits in ``1.5 x target`` tokens
stays whole (a procedure or a troubleshooting table is read as one); a larger one is split between
items/rows, each piece repeating the table header; a long paragraph is split between sentences
with ``overlap`` tokens carried over. Error codes and part numbers are recorded per chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from knowledge.codes import extract_codes
from knowledge.models import Block, Chunk

TokenCounter = Callable[[str], int]
_SENTENCE = re.compile(r"(?<=[.!?;:。])\s+(?=\S)")


class Chunker:
    """Packs blocks into chunks of about ``target`` tokens."""

    def __init__(self, count_tokens: TokenCounter, *, target: int = 220, overlap: int = 30,
                 table_target: int | None = None) -> None:
        if target < 32:
            raise ValueError("chunk target must be at least 32 tokens")
        self._count = count_tokens
        self.target = target
        # Tables are cut into pieces of a few rows (each with the header), each piece its own chunk:
        # a row's symptom, cause and remedy stay together while the passage stays focused.
        self.table_target = table_target
        self.overlap = max(0, min(overlap, target // 2))
        self.hard_max = int(target * 1.5)

    def chunk(self, blocks: Iterable[Block], title: str = "") -> list[Chunk]:
        """Chunks in document order; a leading section equal to ``title`` is left out of paths."""
        return list(self.iter_chunks(blocks, title))

    def iter_chunks(self, blocks: Iterable[Block], title: str = "") -> Iterator[Chunk]:
        """The chunks of :meth:`chunk`, each as soon as it is complete (ingestion embeds the first
        ones while the rest of the document is still being chunked)."""
        count = 0
        section: tuple[str, ...] | None = None
        anchor = ""
        buf: list[str] = []
        buf_tokens = 0
        buf_page: int | None = None

        def emit() -> list[Chunk]:
            """The buffer as a chunk (none when it holds no text), and the buffer emptied."""
            nonlocal buf, buf_tokens, buf_page, count
            text = "\n".join(buf).strip()
            out = []
            if text:
                path = section or ()
                if path and title and path[0].strip().lower() == title.strip().lower():
                    path = path[1:]
                out.append(Chunk(count, buf_page, " > ".join(path), text, extract_codes(text), anchor))
                count += 1
            buf, buf_tokens, buf_page = [], 0, None
            return out

        for block in blocks:
            if block.section != section:
                yield from emit()
                section = block.section
                anchor = block.anchor
            if block.kind == "table" and self.table_target:
                yield from emit()
                for piece in self._group(block.units, header=block.header, target=self.table_target):
                    buf, buf_tokens, buf_page = [piece], self._count(piece), block.page
                    yield from emit()
                continue
            pieces = self._pieces(block)
            for piece in pieces:
                n = self._count(piece)
                if buf and buf_tokens + n > self.target:
                    yield from emit()
                if not buf:
                    buf_page = block.page
                buf.append(piece)
                buf_tokens += n
                if buf_tokens >= self.target:
                    yield from emit()
        yield from emit()

    def _pieces(self, block: Block) -> list[str]:
        """The block as one piece when it fits, else pieces that each fit."""
        whole = block.text
        if self._count(whole) <= self.hard_max:
            return [whole]
        if block.kind in ("list", "table") and len(block.units) > 1:
            return self._group(block.units, header=block.header)
        sentences = [s for unit in block.units for s in _SENTENCE.split(unit) if s.strip()]
        return self._group(sentences, header="", overlap=True, joiner=" ")

    def _group(self, units: list[str] | tuple[str, ...], *, header: str, overlap: bool = False, joiner: str = "\n",
               target: int | None = None) -> list[str]:
        target = target or self.target
        head_tokens = self._count(header) if header else 0
        groups: list[str] = []
        cur: list[str] = []
        cur_tokens = head_tokens
        for unit in units:
            for part in self._split_long(unit):
                n = self._count(part)
                if cur and cur_tokens + n > target:
                    groups.append(self._join(header, cur, joiner))
                    cur = self._tail(cur) if overlap else []
                    cur_tokens = head_tokens + sum(self._count(u) for u in cur)
                cur.append(part)
                cur_tokens += n
        if cur:
            groups.append(self._join(header, cur, joiner))
        return groups

    def _split_long(self, unit: str) -> list[str]:
        """A single unit larger than the hard maximum is cut between words."""
        if self._count(unit) <= self.hard_max:
            return [unit]
        words = unit.split()
        parts, cur = [], []
        for word in words:
            cur.append(word)
            if self._count(" ".join(cur)) >= self.target:
                parts.append(" ".join(cur))
                cur = []
        if cur:
            parts.append(" ".join(cur))
        return parts

    def _tail(self, units: list[str]) -> list[str]:
        tail: list[str] = []
        tokens = 0
        for unit in reversed(units):
            n = self._count(unit)
            if tokens + n > self.overlap:
                break
            tail.insert(0, unit)
            tokens += n
        return tail

    @staticmethod
    def _join(header: str, units: list[str], joiner: str) -> str:
        body = joiner.join(units)
        return f"{header}\n{body}" if header else body
