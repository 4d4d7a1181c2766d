"""The six languages are defined once (core/languages.py); the widget's own copy must be the same list."""

from __future__ import annotations

import re
from pathlib import Path

from core.languages import LANGUAGE_NAMES, LANGUAGES
from server.protocol import LANG

WIDGET = Path(__file__).resolve().parents[3] / "widget" / "widget.js"


def test_widget_languages_equal_the_servers() -> None:
    source = WIDGET.read_text(encoding="utf-8")
    found = re.search(r"var LANGS = \[([^\]]*)\];", source)
    assert found, "widget.js no longer defines LANGS as a list literal"
    widget = tuple(re.findall(r"'([a-z]{2})'", found.group(1)))
    assert widget == LANGUAGES
    names = re.search(r"var LANG_NAMES = \{([^}]*)\}", source)
    assert names and set(re.findall(r"(\w+):", names.group(1))) == set(LANGUAGES)


def test_the_server_uses_the_one_list() -> None:
    assert LANGUAGES == ("en", "el", "ar", "es", "tr", "no")
    assert set(LANGUAGE_NAMES) == set(LANGUAGES)
    assert LANG.choices == LANGUAGES
