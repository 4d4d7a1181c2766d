"""What the support components need of a session's frame stream (the chat layer provides it)."""

from __future__ import annotations

from typing import Protocol

from server.protocol import SessionFrame


class SessionStream(Protocol):
    """Appends frames to a session's stream, which every connection of the session follows."""

    async def publish(self, session_id: str, frame: SessionFrame) -> tuple[int, str]:
        """Number ``frame`` and append it; returns (seq, encoded frame)."""
        ...
