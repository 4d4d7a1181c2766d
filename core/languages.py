"""The six languages of the service: the one list that the server, the knowledge base and the checks use.

Codes are ISO 639-1 (Norwegian is ``no``; the Bokmål code ``nb`` is accepted where users type codes).
The widget keeps its own copy (it has no build step); a test keeps the two equal.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final[tuple[str, ...]] = ("en", "el", "ar", "es", "tr", "no")

# English names, for prompts ("Answer in Greek") and logs
LANGUAGE_NAMES: Final[dict[str, str]] = {
    "en": "English", "el": "Greek", "ar": "Arabic", "es": "Spanish", "tr": "Turkish", "no": "Norwegian",
}

