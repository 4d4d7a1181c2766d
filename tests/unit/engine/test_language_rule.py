"""Which language a message is answered in: a picked language, else the message's own, else the conversation's."""

from __future__ import annotations

import pytest

from server.engine.language import LanguageDetector

DETECTOR = LanguageDetector()


@pytest.mark.parametrize(("text", "lang"), [
    ("Ο εκτυπωτής δεν τυπώνει τίποτα από χθες", "el"),
    ("الطابعة لا تطبع أي شيء منذ الأمس", "ar"),
    ("Yazıcı dünden beri hiçbir şey yazdırmıyor", "tr"),
    ("La impresora no imprime nada desde ayer", "es"),
    ("Skriveren har ikke skrevet ut noe siden i går", "no"),
])
def test_a_message_is_answered_in_the_language_it_is_written_in(text: str, lang: str) -> None:
    # an English conversation (the profile language) does not outweigh the message itself
    assert DETECTOR.decide(text, picked=None, conversation="en") == lang


def test_a_picked_language_wins_over_the_message() -> None:
    assert DETECTOR.decide("Ο εκτυπωτής δεν τυπώνει τίποτα από χθες", picked="es", conversation="en") == "es"


@pytest.mark.parametrize("text", ["ok", "E04", "yes!", "F3 ?"])
def test_short_messages_keep_the_conversation_language(text: str) -> None:
    assert DETECTOR.decide(text, picked=None, conversation="tr") == "tr"


def test_an_unknown_conversation_language_falls_back_to_english() -> None:
    assert DETECTOR.decide("ok", picked=None, conversation="xx") == "en"
    assert DETECTOR.decide("ok", picked="de", conversation="el") == "el"  # not one of the six: no pick
