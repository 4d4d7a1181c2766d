"""Retrieval-only answers framed in the reader's language: assessment, language notice, causes first, maintenance."""

from __future__ import annotations

import dataclasses

import pytest

from core.languages import LANGUAGES
from server.engine.conversation import Turn, assessment, due_text, retrieval_only_text
from server.engine.i18n import MESSAGES, language_name


@dataclasses.dataclass(frozen=True)
class Passage:
    text: str
    title: str = "Printer help"
    page: int | None = None
    section: str = "Troubleshooting > Printer is not detected"
    kind: str = "manual"
    lang: str | None = "en"


TABLE = Passage("Symptom | Cause | Remedy\nPaper jam | Worn roller | Replace the roller\n"
                "Error E42 | Carriage blocked | Remove the packing tape")
PROCEDURE = Passage("1. Open a terminal.\n2. Run hp-check -t and read the output.")

# English words the server writes in a retrieval-only answer; none may appear in another language's framing
ENGLISH_FRAMING = ("assessment", "manuals", "passages", "most likely", "below", "page", "service", "overdue", "due in")


def test_the_assessment_is_the_table_row_that_matches_the_question() -> None:
    assert assessment("what does error E42 mean", TABLE) == "Error E42 — Carriage blocked"
    assert assessment("paper keeps jamming: jam", TABLE) == "Paper jam — Worn roller"
    assert assessment("anything", PROCEDURE) == "Printer is not detected"  # a procedure: its title


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_every_server_written_word_is_in_the_reader_language(lang: str) -> None:
    text = retrieval_only_text(lang, [PROCEDURE, TABLE], "not_configured", query="hp-check", with_steps=True)
    framing = text.replace(PROCEDURE.title, "").replace(PROCEDURE.section, "")
    for excerpt in ("Open a terminal.", "Run hp-check -t and read the output.", "Symptom | Cause | Remedy",
                    "Paper jam | Worn roller | Replace the roller", "Error E42 | Carriage blocked | Remove the packing tape"):
        framing = framing.replace(excerpt, "")
    framing = framing.replace("Printer is not detected", "")
    assert not [w for w in ENGLISH_FRAMING if w in framing.lower()], framing
    assert MESSAGES["assessment"][lang].split("{")[0].strip("* ") in text
    assert MESSAGES["causes_first"][lang] in text
    # the passages are English: the answer says so, naming English in the reader's language
    assert MESSAGES["passages_in"][lang].format(language=language_name("en", lang)) in text


def test_passages_in_the_reader_language_need_no_notice() -> None:
    text = retrieval_only_text("es", [dataclasses.replace(PROCEDURE, lang="es")], "not_configured")
    assert MESSAGES["passages_in"]["es"].split("{")[0] not in text
    assert MESSAGES["causes_first"]["es"] not in text  # no steps offered: no "causes first"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_maintenance_items_are_worded_in_the_reader_language(lang: str) -> None:
    turn = Turn("s", "a", "q", lang, [], machine={"due": [{"interval_hours": 250, "task": "Brush bearings",
                                                           "hours_remaining": -12}]})
    text = due_text(turn)
    assert "Brush bearings" in text and "250" in text and "12" in text
    if lang != "en":
        assert "h service" not in text and "overdue" not in text
