"""Error codes and part numbers found in text, normalised for exact matching."""

from __future__ import annotations

import pytest

from knowledge.codes import extract_codes, normalise


@pytest.mark.parametrize(("text", "codes"), [
    ("Error E07 on start", ("E07",)),
    ("error e-07, then E 112", ("E07", "E112")),
    ("F3 is not a code, F03 is", ("F03",)),
    ("warning W12 and W12 again", ("W12",)),
    ("order AB-4410-02 or V4-2203-11 or 3021-118", ("AB-4410-02", "V4-2203-11", "3021-118")),
    ("part ABC-12345 kit", ("ABC-12345",)),
    ("E07 then AB-4410-02 then E01", ("E07", "E01", "AB-4410-02")),  # error codes first, each in order
    ("XE07, E07x and model-E07 are words, not codes", ()),
    ("no codes at all", ()),
])
def test_codes_in_text(text: str, codes: tuple[str, ...]) -> None:
    assert extract_codes(text) == codes


@pytest.mark.parametrize(("raw", "canonical"), [
    ("e-07", "E07"), ("E 07", "E07"), ("E07", "E07"), (" ab-4410-02 ", "AB-4410-02"), ("w112", "W112"),
])
def test_normalise(raw: str, canonical: str) -> None:
    assert normalise(raw) == canonical
