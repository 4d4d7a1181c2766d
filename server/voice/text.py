"""Clean-up of transcripts: error codes and part numbers as the manuals write them.

Speech recognisers write what they hear: "E three", "E 3", "E-3", and for "E3" spoken quickly often
"every 3". Operators then search for a code that the manuals write as ``E3``. A small, conservative
rule set (documented in docs/voice.md) rewrites only shapes that are almost surely codes:

1. a single capital letter followed by digits, with a space or hyphen: ``E 3`` / ``E-3`` -> ``E3``
   (all languages; ``A`` and ``I`` only after a keyword such as "error" or "code", since they are words);
2. English: a single capital letter followed by number words: ``E three`` -> ``E3``,
   ``F twenty one`` -> ``F21``, ``P one two`` -> ``P12``;
3. English: "every <number>" right after error/code/fault/alarm/shows/displays -> ``E<number>``;
4. English: the digits after "part number" / "part no." joined: ``part number 12 34 5`` and
   ``part number one two three`` -> ``part number 12345`` / ``part number 123``.
"""

from __future__ import annotations

import re

_UNITS = {"zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9}
_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TEENS, *_TENS], key=len, reverse=True))
_NUMBER = rf"(?:(?:{_NUMBER_WORD}|\d+)(?:[\s-]+(?:{_NUMBER_WORD}|\d+))*)"
_KEYWORD = r"(?:error|code|fault|alarm|alert|warning)"

_LETTER_DIGITS = re.compile(r"\b(?<![-/])(?P<kw>" + _KEYWORD + r"\s+(?:code\s+)?)?(?P<letter>[A-Z])[\s-](?P<num>\d{1,4})\b",
                            re.IGNORECASE)
_LETTER_WORDS = re.compile(r"\b(?P<kw>" + _KEYWORD + r"\s+(?:code\s+)?)?(?P<letter>[A-Z])[\s-]+(?P<num>"
                           + _NUMBER + r")\b", re.IGNORECASE)
_EVERY = re.compile(r"\b(?P<kw>" + _KEYWORD + r"|shows|showing|displays|displaying|says)\s+every\s+(?P<num>"
                    + _NUMBER + r")\b", re.IGNORECASE)
_PART = re.compile(r"\b(?P<kw>part\s+(?:number|no\.?|#))\s*:?\s+(?P<num>" + _NUMBER + r")\b", re.IGNORECASE)


def words_to_digits(phrase: str) -> str | None:
    """``"three"`` -> ``"3"``, ``"twenty one"`` -> ``"21"``, ``"one two"`` -> ``"12"``, ``"4 5"`` -> ``"45"``.

    A run of single digits is read digit by digit (how codes are spelled out); tens and units
    combine ("twenty one"). Returns None for anything else.
    """
    out: list[str] = []
    tens: int | None = None
    for word in re.split(r"[\s-]+", phrase.strip().lower()):
        if word.isdigit():
            value = word
        elif word in _TENS:
            if tens is not None:
                out.append(str(tens))
            tens = _TENS[word]
            continue
        elif word in _UNITS and tens is not None:
            value, tens = str(tens + _UNITS[word]), None
            out.append(value)
            continue
        elif word in _UNITS:
            value = str(_UNITS[word])
        elif word in _TEENS:
            value = str(_TEENS[word])
        else:
            return None
        if tens is not None:
            out.append(str(tens))
            tens = None
        out.append(value)
    if tens is not None:
        out.append(str(tens))
    return "".join(out) or None


def _code(match: re.Match[str], *, need_upper: bool = True) -> str:
    letter, kw = match.group("letter"), match.group("kw") or ""
    if need_upper and not letter.isupper() and not kw:
        return match.group(0)
    if letter.upper() in ("A", "I") and not kw:
        return match.group(0)  # "a 3 phase motor", "I 2 ..." are words, not codes
    digits = words_to_digits(match.group("num"))
    if digits is None or len(digits) > 5:
        return match.group(0)
    return f"{kw}{letter.upper()}{digits}"


def _every(match: re.Match[str]) -> str:
    digits = words_to_digits(match.group("num"))
    return match.group(0) if digits is None else f"{match.group('kw')} E{digits}"


def _part(match: re.Match[str]) -> str:
    digits = words_to_digits(match.group("num"))
    return match.group(0) if digits is None else f"{match.group('kw')} {digits}"


def correct_codes(text: str, language: str) -> str:
    """Rewrite spoken error codes and part numbers in ``text`` (see the module docstring)."""
    text = _LETTER_DIGITS.sub(_code, text)
    if language != "en":
        return text
    text = _EVERY.sub(_every, text)
    text = _LETTER_WORDS.sub(_code, text)
    return _PART.sub(_part, text)
