"""The chunker hands out each chunk as soon as it is complete (ingestion embeds while it chunks)."""

from __future__ import annotations

from collections.abc import Iterator

from knowledge.chunking import Chunker
from knowledge.models import Block


def _blocks(consumed: list[int], n: int) -> Iterator[Block]:
    for i in range(n):
        consumed.append(i)
        yield Block(kind="paragraph", units=(f"Check brake band {i}. " * 5,), page=i + 1, section=(f"Part {i}",))


def test_the_first_chunk_comes_before_the_rest_of_the_document_is_read() -> None:
    consumed: list[int] = []
    chunker = Chunker(lambda s: len(s.split()), target=40, overlap=5)
    stream = chunker.iter_chunks(_blocks(consumed, 50), "Manual")
    first = next(stream)
    assert first.ordinal == 0 and first.section == "Part 0" and first.page == 1
    assert len(consumed) <= 2  # one section ahead at most, not the 50 blocks
    rest = list(stream)
    assert [c.ordinal for c in rest] == list(range(1, len(rest) + 1)) and len(consumed) == 50


def test_the_stream_gives_exactly_the_chunks_of_a_whole_run() -> None:
    chunker = Chunker(lambda s: len(s.split()), target=40, overlap=5)
    whole = chunker.chunk(list(_blocks([], 30)), "Manual")
    streamed = list(chunker.iter_chunks(_blocks([], 30), "Manual"))
    assert whole == streamed and len(whole) >= 30
