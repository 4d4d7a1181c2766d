"""Chunking: a chunk never spans sections, lists and tables stay whole when they fit, large ones are
cut between items with the header repeated, long paragraphs between sentences with overlap."""

from __future__ import annotations

import pytest

from knowledge.chunking import Chunker
from knowledge.embedders import approximate_tokens
from knowledge.models import Block


def words(n: int, word: str = "word") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def chunker(target: int = 64, overlap: int = 8, table_target: int | None = None) -> Chunker:
    return Chunker(approximate_tokens, target=target, overlap=overlap, table_target=table_target)


def test_a_chunk_never_spans_two_sections() -> None:
    blocks = [Block("paragraph", ("Open the hatch.",), 1, ("Manual", "Cleaning")),
              Block("paragraph", ("Check the belt.",), 1, ("Manual", "Belts"))]
    chunks = chunker().chunk(blocks, title="Manual")
    assert [c.text for c in chunks] == ["Open the hatch.", "Check the belt."]
    assert [c.section for c in chunks] == ["Cleaning", "Belts"]  # the title is not repeated in the path
    assert [c.ordinal for c in chunks] == [0, 1]


def test_small_blocks_of_one_section_share_a_chunk() -> None:
    blocks = [Block("paragraph", ("First.",), 2, ("A",)), Block("paragraph", ("Second.",), 3, ("A",))]
    [chunk] = chunker().chunk(blocks)
    assert chunk.text == "First.\nSecond." and chunk.page == 2 and chunk.section == "A"


def test_a_list_that_fits_stays_whole() -> None:
    steps = tuple(f"{n}. {words(10, 'step')}" for n in range(1, 6))  # 78 tokens: over the target, under 1.5 x
    assert approximate_tokens("\n".join(steps)) > 64
    [chunk] = chunker(target=64).chunk([Block("list", steps, 1, ("Procedure",))])
    assert chunk.text == "\n".join(steps)


def test_a_long_list_is_cut_between_items() -> None:
    steps = tuple(f"{n}. {words(12, 'step')}" for n in range(1, 21))
    chunks = chunker(target=64).chunk([Block("list", steps, 1, ("Procedure",))])
    assert len(chunks) > 1
    assert [line for c in chunks for line in c.text.split("\n")] == list(steps)  # no item cut, none lost
    assert all(approximate_tokens(c.text) <= 64 * 1.5 for c in chunks)


def test_pieces_of_a_long_table_repeat_its_header() -> None:
    rows = tuple(f"E{n:02d} | {words(10, 'cause')} | {words(6, 'fix')}" for n in range(1, 16))
    chunks = chunker(target=64).chunk([Block("table", rows, 4, ("Troubleshooting",), header="Code | Cause | Remedy")])
    assert len(chunks) > 1
    assert all(c.text.startswith("Code | Cause | Remedy\n") for c in chunks)
    assert [r for c in chunks for r in c.text.split("\n")[1:]] == list(rows)
    assert all(c.page == 4 for c in chunks)


def test_table_target_gives_each_group_of_rows_its_own_chunk() -> None:
    rows = tuple(f"E{n:02d} | {words(4)}" for n in range(1, 7))
    chunks = chunker(target=200, table_target=32).chunk([Block("table", rows, 1, ("T",), header="Code | Meaning")])
    assert len(chunks) > 1 and all(c.text.startswith("Code | Meaning\n") for c in chunks)


def test_a_long_paragraph_is_cut_between_sentences_with_overlap() -> None:
    sentences = [f"Sentence {n} {words(8, 'w')}." for n in range(30)]
    chunks = chunker(target=64, overlap=16).chunk([Block("paragraph", (" ".join(sentences),), 1, ())])
    assert len(chunks) > 2
    for before, after in zip(chunks, chunks[1:], strict=False):
        last_sentence = before.text.rsplit(". ", 1)[-1]
        assert after.text.startswith(last_sentence.rstrip(".")), "the next chunk starts with the overlap"
    assert all(s.rstrip(".") in " ".join(c.text for c in chunks) for s in sentences)


def test_one_giant_unit_is_cut_between_words() -> None:
    chunks = chunker(target=40).chunk([Block("list", (words(300), "short"), 1, ())])
    assert len(chunks) > 3
    assert " ".join(c.text.replace("\n", " ") for c in chunks).split() == [*words(300).split(), "short"]


def test_codes_are_recorded_per_chunk() -> None:
    blocks = [Block("paragraph", ("Error E-07 means the blade is blocked; order part AB-4410-02.",), 1, ("Errors",)),
              Block("paragraph", ("Nothing here.",), 1, ("Other",))]
    first, second = chunker().chunk(blocks)
    assert first.codes == ("E07", "AB-4410-02") and second.codes == ()


def test_embedding_text_leads_with_title_and_section() -> None:
    [chunk] = chunker().chunk([Block("paragraph", ("Body.",), 1, ("Manual", "Cleaning"))], title="Manual")
    assert chunk.embedding_text("Manual") == "Manual > Cleaning\nBody."


def test_a_tiny_target_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Chunker(approximate_tokens, target=16)
