"""server/voice/text.py: spoken error codes and part numbers rewritten as the manuals write them."""

from __future__ import annotations

import pytest

from server.voice.text import correct_codes, words_to_digits


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("The machine shows every 3, check the pump", "The machine shows E3, check the pump"),
        ("Error E three on the display", "Error E3 on the display"),
        ("error code e 12 again", "error code E12 again"),
        ("It says E-3", "It says E3"),
        ("F twenty one appears", "F21 appears"),
        ("P one two", "P12"),
        ("alarm A 3", "alarm A3"),
        ("order part number 12 34 56 today", "order part number 123456 today"),
        ("part number one two three four", "part number 1234"),
        ("I need part no. 4 5 6", "I need part no. 456"),
        ("the code is E twelve", "the code is E12"),
        ("warning every oh five", "warning E05"),
        ("fault F-7 then F 8", "fault F7 then F8"),
        # left alone: ordinary words
        ("I 2 think so", "I 2 think so"),
        ("a 3 phase motor", "a 3 phase motor"),
        ("A 3 phase motor", "A 3 phase motor"),
        ("Every one of them", "Every one of them"),
        ("We clean it every three days", "We clean it every three days"),
        ("Replace the filter", "Replace the filter"),
        ("e 3 without a keyword", "e 3 without a keyword"),  # lower case: a word, not a code
        ("P one two three four five six", "P one two three four five six"),  # six digits: not a code
        ("see page 3-4", "see page 3-4"),
    ],
)
def test_english_rules(spoken: str, written: str) -> None:
    assert correct_codes(spoken, "en") == written


def test_other_languages_only_join_letter_and_digits() -> None:
    assert correct_codes("Σφάλμα E 3 στην οθόνη", "el") == "Σφάλμα E3 στην οθόνη"
    assert correct_codes("error E three", "es") == "error E three"


@pytest.mark.parametrize(("words", "digits"), [("three", "3"), ("twenty one", "21"), ("one two three", "123"),
                                               ("twelve", "12"), ("4 5", "45"), ("pump", None),
                                               ("twenty", "20"), ("twenty twenty", "2020"), ("oh five", "05"),
                                               ("ninety-nine", "99"), ("Twenty One", "21"), ("", None),
                                               ("one pump", None)])
def test_words_to_digits(words: str, digits: str | None) -> None:
    assert words_to_digits(words) == digits
