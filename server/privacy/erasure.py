"""Erasure: every trace of a user (or of old sessions, for retention) removed, table by table.

What goes, for each session erased (a user's, or one past RETENTION_DAYS):

| Where | What happens |
|---|---|
| ``sessions`` | deleted; with it, by foreign key: ``messages``, ``escalations`` (tickets, reason, snapshot), ``support_replies``, ``notification_deliveries`` (the sealed e-mail/webhook payloads), ``resolution_proposals`` |
| ``analytics_events`` | deleted (the session's events: feedback with its comment, turns, steps, resolutions) |
| ``kb_documents`` / ``kb_versions`` / ``kb_chunks`` and the file store | the resolution entries saved from the session deleted, with their chunks and stored files |
| Redis | the session's frame stream, sequence, idempotency (client id) keys and turn lease deleted; the live support queue's events about its tickets deleted |

And for a user, besides all their sessions: ``analytics_events`` and ``escalations`` carrying their user
id, their ``resolution_proposals``, their ``user_consents`` and their Redis rate-limit counters are
deleted. What must stay is anonymised: replies they wrote as a support agent in other users'
conversations stay (they are part of that conversation) with ``support_replies.agent_id`` and
``agent_name`` replaced. The audit log is append-only: it keeps the record of what staff did (ids and
action names, never conversation text) and gains one row saying that the erasure happened.
"""

from __future__ import annotations

import dataclasses
import hashlib

import asyncpg

from core.logs import get_logger
from knowledge import KnowledgeBase
from knowledge.errors import DocumentNotFound
from server.privacy.records import HotState, RunningTurns, TicketEvents
from server.storage.store import Store

log = get_logger("server.privacy")


@dataclasses.dataclass
class Erased:
    """Counts of what an erasure removed (written to the audit log: numbers, not data)."""

    sessions: int = 0
    events: int = 0
    tickets: int = 0
    proposals: int = 0
    entries: int = 0
    consents: int = 0
    replies_anonymised: int = 0
    redis_keys: int = 0

    def add(self, other: Erased) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def anonymous_agent(user_id: str) -> str:
    """What replaces an erased support agent's id: stable (replies stay grouped), not reversible."""
    return "erased-" + hashlib.sha256(user_id.encode()).hexdigest()[:12]


class Eraser:
    def __init__(self, *, pool: asyncpg.Pool, store: Store, kb: KnowledgeBase | None, hot: HotState,
                 tickets: TicketEvents, turns: RunningTurns) -> None:
        self._pool = pool
        self._turns = turns
        self._tickets = tickets
        self._store = store
        self._kb = kb
        self._hot = hot

    async def erase_user(self, user_id: str, *, actor: str) -> Erased:
        """Remove everything stored about ``user_id``; the audit log records who asked and the counts."""
        session_ids = [r[0] for r in await self._pool.fetch("SELECT id FROM sessions WHERE user_id = $1", user_id)]
        erased = await self.erase_sessions(session_ids)
        async with self._pool.acquire() as conn, conn.transaction():
            entries = await self._entry_ids(conn, [], user_id)
            tickets = {int(r[0]) for r in await conn.fetch("SELECT id FROM escalations WHERE user_id = $1", user_id)}
            erased.events += row_count(await conn.execute("DELETE FROM analytics_events WHERE user_id = $1", user_id))
            erased.tickets += row_count(await conn.execute("DELETE FROM escalations WHERE user_id = $1", user_id))
            erased.proposals += row_count(await conn.execute("DELETE FROM resolution_proposals WHERE user_id = $1", user_id))
            erased.consents += row_count(await conn.execute("DELETE FROM user_consents WHERE user_id = $1", user_id))
            erased.replies_anonymised += row_count(await conn.execute(
                "UPDATE support_replies SET agent_id = $2, agent_name = '' WHERE agent_id = $1",
                user_id, anonymous_agent(user_id)))
        erased.entries += await self._delete_entries(entries)
        erased.redis_keys += await self._hot.forget_user(user_id) + await self._tickets.forget_tickets(tickets)
        await self._store.audit(actor, "privacy.erase", user_id, dataclasses.asdict(erased))
        log.info("privacy.erased", sessions=erased.sessions, entries=erased.entries)
        return erased

    async def erase_sessions(self, session_ids: list[str], *, live: bool = True) -> Erased:
        """Remove these sessions and everything hanging off them (the table in the module doc).
        ``live``: they may be in use (an erasure on request), so answers being written are stopped
        first; retention erases sessions idle for days and skips that."""
        erased = Erased()
        if not session_ids:
            return erased
        for session_id in session_ids if live else ():  # an answer being written would write on
            await self._turns.cancel(session_id)
        async with self._pool.acquire() as conn, conn.transaction():
            entries = await self._entry_ids(conn, session_ids, None)
            erased.events = row_count(await conn.execute(
                "DELETE FROM analytics_events WHERE session_id = ANY($1::text[])", session_ids))
            tickets = {int(r[0]) for r in await conn.fetch(
                "SELECT id FROM escalations WHERE session_id = ANY($1::text[])", session_ids)}
            erased.tickets = len(tickets)
            erased.proposals = int(await conn.fetchval(
                "SELECT count(*) FROM resolution_proposals WHERE session_id = ANY($1::text[])", session_ids))
            erased.sessions = row_count(await conn.execute("DELETE FROM sessions WHERE id = ANY($1::text[])", session_ids))
        erased.entries = await self._delete_entries(entries)
        for session_id in session_ids:
            erased.redis_keys += await self._hot.forget_session(session_id)
        erased.redis_keys += await self._tickets.forget_tickets(tickets)
        return erased

    async def _entry_ids(self, conn: asyncpg.Connection, session_ids: list[str], user_id: str | None) -> list[int]:
        """Knowledge entries made from these sessions (or this user's proposals)."""
        rows = await conn.fetch(
            """SELECT entry_id FROM resolution_proposals
                WHERE entry_id IS NOT NULL AND (session_id = ANY($1::text[]) OR user_id = $2)
               UNION
               SELECT id FROM kb_documents
                WHERE kind = 'resolution' AND source = ANY(SELECT 'session:' || s FROM unnest($1::text[]) s)""",
            session_ids, user_id)
        return [int(r[0]) for r in rows]

    async def _delete_entries(self, entry_ids: list[int]) -> int:
        deleted = 0
        for entry_id in entry_ids:
            if self._kb is not None:
                try:
                    await self._kb.delete_document(entry_id)  # its versions, chunks and stored file
                except DocumentNotFound:
                    continue  # already gone (deleted by an admin)
            elif not await self._pool.fetchval("DELETE FROM kb_documents WHERE id = $1 RETURNING id", entry_id):
                continue
            deleted += 1
        return deleted


def row_count(status: str) -> int:
    """The row count of an asyncpg command status ("DELETE 3")."""
    tail = str(status).rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
