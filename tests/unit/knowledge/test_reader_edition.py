"""Relevance first, language second: the reader's edition breaks near-ties with its other edition only."""

from __future__ import annotations

from knowledge.models import Passage
from knowledge.search import prefer_reader_edition


def passage(chunk: int, doc: int, lang: str, score: float, models: list[str] | None = None) -> Passage:
    return Passage(chunk_id=chunk, document_id=doc, title=f"doc {doc}", machine_models=models or [], lang=lang,
                   page=None, section="", text="", score=score)


def test_the_reader_edition_passes_its_english_edition_on_a_near_tie() -> None:
    en = passage(1, 10, "en", 0.030, ["AutoBoss V4"])
    el = passage(2, 11, "el", 0.027, ["AutoBoss V4"])
    assert [p.chunk_id for p in prefer_reader_edition([en, el], "el")] == [2, 1]
    assert [p.chunk_id for p in prefer_reader_edition([en, el], "en")] == [1, 2]
    assert [p.chunk_id for p in prefer_reader_edition([en, el], None)] == [1, 2]


def test_a_clearly_better_passage_of_the_other_edition_stays_first() -> None:
    en = passage(1, 10, "en", 0.030, ["AutoBoss V4"])
    el = passage(2, 11, "el", 0.018, ["AutoBoss V4"])
    assert [p.chunk_id for p in prefer_reader_edition([en, el], "el")] == [1, 2]


def test_a_passage_of_another_document_is_never_passed() -> None:
    faq = passage(1, 20, "en", 0.030)  # an English UPS FAQ for no machine model
    manual = passage(2, 11, "el", 0.029, ["AutoBoss V4"])  # a Greek manual, a hair behind
    assert [p.chunk_id for p in prefer_reader_edition([faq, manual], "el")] == [1, 2]
    other_machine = passage(3, 12, "en", 0.030, ["AutoBoss M6"])
    assert [p.chunk_id for p in prefer_reader_edition([other_machine, manual], "el")] == [3, 2]
