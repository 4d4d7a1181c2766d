"""Export: everything stored about one user, decrypted, as one JSON document.

Sessions with their messages, feedback (with comments), tickets (reason, snapshot, support replies),
resolution proposals, analytics events and consent decisions. Sealed values are opened with the
conversation cipher wherever they are (``records.reveal``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from server.privacy.records import Sealer, plain, reveal

EXPORT_FORMAT = "abparts-assistant.user-export.v1"


class Exporter:
    def __init__(self, pool: asyncpg.Pool, cipher: Sealer) -> None:
        self._pool = pool
        self._cipher = cipher

    async def export_user(self, user_id: str) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            sessions = await self._rows(conn, "SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at", user_id)
            ids = [s["id"] for s in sessions]
            messages = await self._rows(
                conn, "SELECT * FROM messages WHERE session_id = ANY($1::text[]) ORDER BY created_at, id", ids)
            tickets = await self._rows(
                conn, "SELECT * FROM escalations WHERE user_id = $1 OR session_id = ANY($2::text[]) ORDER BY id",
                user_id, ids)
            replies = await self._rows(
                conn, "SELECT r.*, m.text FROM support_replies r JOIN messages m ON m.id = r.message_id"
                      " WHERE r.escalation_id = ANY($1::bigint[]) ORDER BY r.created_at",
                [t["id"] for t in tickets])
            events = await self._rows(
                conn, "SELECT * FROM analytics_events WHERE user_id = $1 OR session_id = ANY($2::text[])"
                      " ORDER BY created_at, id", user_id, ids)
            proposals = await self._rows(
                conn, "SELECT * FROM resolution_proposals WHERE user_id = $1 OR session_id = ANY($2::text[])"
                      " ORDER BY id", user_id, ids)
            consents = await self._rows(
                conn, "SELECT purpose, granted, version, created_at FROM user_consents WHERE user_id = $1"
                      " ORDER BY created_at", user_id)
        by_session: dict[str, list[dict[str, Any]]] = {}
        for m in messages:
            by_session.setdefault(m["session_id"], []).append(m)
        for t in tickets:
            t["replies"] = [r for r in replies if r["escalation_id"] == t["id"]]
        for s in sessions:
            s["messages"] = by_session.get(s["id"], [])
        return {
            "format": EXPORT_FORMAT,
            "user_id": user_id,
            "exported_at": dt.datetime.now(dt.UTC).isoformat(),
            "sessions": sessions,
            "feedback": [e for e in events if e["kind"] == "feedback"],
            "tickets": tickets,
            "resolution_proposals": proposals,
            "events": [e for e in events if e["kind"] != "feedback"],
            "consents": consents,
        }

    async def _rows(self, conn: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [reveal(plain(dict(r)), self._cipher) for r in await conn.fetch(sql, *args)]
