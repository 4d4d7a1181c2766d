"""The conversation cipher: free text sealed with Fernet before it is stored, keys that rotate.

``CONVERSATION_ENCRYPTION_KEY`` seals; the keys in ``CONVERSATION_ENCRYPTION_PREVIOUS_KEYS`` still
open what they sealed (``MultiFernet``), so a new key can be put in place without a moment where
stored text is unreadable. ``python -m server reencrypt`` (``server/crypto/rotation.py``) then
re-seals everything under the current key, after which the previous keys can go.

A sealed value is ``enc:v1:<Fernet token>``; anything else is plain text (written before a key was
configured, or in development without one) and is returned as it is. A JSON value for a jsonb column
is sealed as one JSON string holding its JSON text (``seal_json``/``open_json``); plain JSON, stored
before a key was configured, reads as it is.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SEALED_PREFIX = "enc:v1:"


class Sealing(enum.Enum):
    """What a stored value is, as far as the current keys can tell."""

    PLAIN = "plain"
    CURRENT = "current"  # sealed with the current key
    PREVIOUS = "previous"  # sealed with a previous key: ``rotate`` re-seals it
    UNREADABLE = "unreadable"  # sealed with a key that is not configured


class TextCipher:
    """Seals and opens stored conversation text; a no-op without a key (development)."""

    def __init__(self, key: str, previous: Sequence[str] = ()) -> None:
        self._current = Fernet(key.encode()) if key else None
        keys = [Fernet(k.encode()) for k in (key, *previous) if k]
        self._all = MultiFernet(keys) if keys else None

    @property
    def enabled(self) -> bool:
        return self._current is not None

    def seal(self, text: str) -> str:
        if self._current is None or not text or text.startswith(SEALED_PREFIX):
            return text
        return SEALED_PREFIX + self._current.encrypt(text.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(SEALED_PREFIX):
            return stored
        if self._all is None:
            return "[encrypted]"
        try:
            return self._all.decrypt(stored[len(SEALED_PREFIX):].encode()).decode()
        except InvalidToken:
            return "[unreadable: wrong CONVERSATION_ENCRYPTION_KEY]"

    def seal_json(self, value: Any) -> Any:
        """A JSON value for a jsonb column: sealed as one JSON string ``"enc:v1:..."`` holding its JSON text;
        without a key, or when there is nothing in it (``None``, ``[]``, ``{}``), the value as it is."""
        if self._current is None or value is None or value == [] or value == {}:
            return value
        if isinstance(value, str) and value.startswith(SEALED_PREFIX):
            return value
        return self.seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def open_json(self, stored: Any, fallback: Any = None) -> Any:
        """What ``seal_json`` sealed; a value stored unsealed (before a key was configured) as it is;
        ``fallback`` when no configured key opens it."""
        if not isinstance(stored, str) or not stored.startswith(SEALED_PREFIX):
            return stored
        try:
            return json.loads(self.open(stored))
        except ValueError:
            return fallback

    def sealing(self, stored: str) -> Sealing:
        if not stored.startswith(SEALED_PREFIX):
            return Sealing.PLAIN
        token = stored[len(SEALED_PREFIX):].encode()
        if self._current is not None:
            try:
                self._current.decrypt(token)
                return Sealing.CURRENT
            except InvalidToken:
                pass
        if self._all is not None:
            try:
                self._all.decrypt(token)
                return Sealing.PREVIOUS
            except InvalidToken:
                pass
        return Sealing.UNREADABLE

    def rotate(self, stored: str) -> str:
        """``stored`` sealed under the current key (a value sealed with a previous key re-sealed);
        plain and unreadable values come back unchanged."""
        if self._current is None or self.sealing(stored) is not Sealing.PREVIOUS:
            return stored
        assert self._all is not None
        return SEALED_PREFIX + self._all.rotate(stored[len(SEALED_PREFIX):].encode()).decode()
