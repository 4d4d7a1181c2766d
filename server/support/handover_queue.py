"""The live support queue: every change of a ticket (new, taken, handed back, closed) as an event in one
Redis stream, which every support console follows (``/api/escalations/events``) on whichever replica.

Events carry the ticket as the queue lists it, so a console updates its list without asking again.
The stream keeps the last ``max_events``; a console that comes back with the id of the last event it
saw gets what it missed, as long as the stream still holds it (otherwise it lists the queue again).
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

QUEUE_KEY = "abp:support:queue"
EVENTS = ("created", "claimed", "released", "closed", "status", "unclaimed")


class SupportQueue:
    """Appends ticket events to the queue stream and reads them back, blocking up to a time-out."""

    def __init__(self, redis: aioredis.Redis, *, max_events: int = 1000) -> None:
        self._redis = redis
        self._max = max_events

    async def publish(self, event: str, ticket: dict[str, Any]) -> str:
        """Append ``{event, ticket}``; returns the event's id in the stream."""
        if event not in EVENTS:
            raise ValueError(f"unknown queue event {event!r}")
        data = json.dumps({"event": event, "ticket": ticket}, default=str)
        entry_id: Any = await self._redis.xadd(QUEUE_KEY, {"e": data}, maxlen=self._max, approximate=True)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def last_id(self) -> str:
        """The id of the newest event ("0-0" when there is none): where a new follower starts."""
        entries: Any = await self._redis.xrevrange(QUEUE_KEY, count=1)
        if not entries:
            return "0-0"
        entry_id = entries[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def forget_tickets(self, ticket_ids: set[int]) -> int:
        """Delete the events of these tickets (erasure, retention); returns how many went."""
        if not ticket_ids:
            return 0
        doomed: list[Any] = []
        entries: Any = await self._redis.xrange(QUEUE_KEY)
        for entry_id, fields in entries:
            raw = fields.get(b"e") or fields.get("e")
            try:
                ticket = json.loads(raw).get("ticket") or {}
            except (TypeError, ValueError):
                continue
            if ticket.get("id") in ticket_ids:
                doomed.append(entry_id)
        return int(await self._redis.xdel(QUEUE_KEY, *doomed)) if doomed else 0

    async def read(self, after: str, *, block_seconds: float) -> list[tuple[str, dict[str, Any]]]:
        """The events after ``after``, waiting up to ``block_seconds`` for one; [] when none came."""
        result: Any = await self._redis.xread({QUEUE_KEY: after}, count=100, block=max(1, int(block_seconds * 1000)))
        out: list[tuple[str, dict[str, Any]]] = []
        for _key, entries in result or []:
            for entry_id, fields in entries:
                raw = fields.get(b"e") or fields.get("e")
                ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                out.append((ident, json.loads(raw)))
        return out
