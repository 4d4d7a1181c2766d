"""Error codes and part numbers: found in text and queries so exact matches can count strongly."""

from __future__ import annotations

import re

# E01, E-07, E112, F3; part numbers like AB-4410-02, V4-2203, 3021-118, AB4410.
_ERROR = re.compile(r"(?<![\w-])([EFW])[- ]?(\d{2,3})(?![\w-])")
_PART = re.compile(r"(?<![\w-])((?:[A-Z]{1,4}\d?-)?\d{3,5}-\d{2,4}(?:-[A-Z0-9]{1,3})?|[A-Z]{2,4}-\d{3,6}(?:-\d{1,3})?)(?![\w-])")


def normalise(code: str) -> str:
    """Canonical form used for matching: upper case, error codes without separators (E-01 -> E01)."""
    code = code.upper().strip()
    m = _ERROR.fullmatch(code)
    if m:
        return f"{m.group(1)}{m.group(2)}"
    return code


def extract_codes(text: str) -> tuple[str, ...]:
    """Every error code and part number in ``text``, normalised, in order of first appearance."""
    found: dict[str, None] = {}
    upper = text.upper()
    for m in _ERROR.finditer(upper):
        found.setdefault(f"{m.group(1)}{m.group(2)}", None)
    for m in _PART.finditer(upper):
        found.setdefault(m.group(1), None)
    return tuple(found)
