"""What the privacy features need of the rest of the service, and reading sealed values back.

``HotState`` is the session state in Redis (the chat layer provides it), ``TicketEvents`` the
live support queue (``server.support.handover_queue``); ``Sealer`` is the
conversation cipher (``server.storage.store.TextCipher``). ``reveal`` turns any stored value into
what it was before sealing, wherever the value was sealed (a text, a ``{"sealed": ...}`` object, a
sealed JSON text), so exports show plain data whichever fields are encrypted.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

SEALED_PREFIX = "enc:"


class HotState(Protocol):
    """Removes what Redis holds about a session or a user."""

    async def forget_session(self, session_id: str) -> int:
        """Delete the session's stream, sequence, idempotency keys and turn lease; returns keys deleted."""
        ...

    async def forget_user(self, user_id: str) -> int:
        """Delete the user's per-user keys (rate-limit counters); returns keys deleted."""
        ...


class RunningTurns(Protocol):
    """Stops an answer being written for a session, on whichever replica runs it."""

    async def cancel(self, session_id: str) -> None: ...


class TicketEvents(Protocol):
    """Removes what the live support queue holds about tickets."""

    async def forget_tickets(self, ticket_ids: set[int]) -> int:
        """Delete the queue events of these tickets; returns how many went."""
        ...


class Sealer(Protocol):
    def open(self, stored: str) -> str: ...


def reveal(value: Any, cipher: Sealer) -> Any:
    """``value`` with every sealed part opened (recursively)."""
    if isinstance(value, str):
        return _open(value, cipher) if value.startswith(SEALED_PREFIX) else value
    if isinstance(value, dict):
        if set(value) == {"sealed"} and isinstance(value["sealed"], str):
            return _open(value["sealed"], cipher)
        return {k: reveal(v, cipher) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v, cipher) for v in value]
    return value


def _open(stored: str, cipher: Sealer) -> Any:
    opened = cipher.open(stored)
    if opened[:1] in ("{", "["):
        try:
            return reveal(json.loads(opened), cipher)
        except ValueError:
            return opened
    return opened


def plain(value: Any) -> Any:
    """A database value as JSON can carry it (timestamps as ISO text, numbers as numbers)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is not None and type(value).__name__ == "Decimal":
        return float(value)
    return value
