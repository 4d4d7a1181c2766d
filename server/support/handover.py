"""Handover of a conversation to a person and back.

An agent takes (claims) a ticket: the session is in human mode (``sessions.state["handover"]``), the
user is told who joined, in their language, and the assistant stays silent: the user's messages are
stored and reach the agent live through the session stream, which the console follows over the same
WebSocket hub. The agent hands the conversation back to the assistant (``release``) or closes it
(``close``: the session is closed, read-only). When nobody takes a new ticket within
``HANDOVER_CLAIM_TIMEOUT_SECONDS``, a sweep on every replica tells the user, with the support contact
details, once (the row is marked in the same statement, so two replicas never both tell); the assistant
keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any, NoReturn

import asyncpg

from core.errors import Conflict, ForbiddenError, NotFound
from core.logs import get_logger
from core.settings import Settings
from server.auth import Principal
from server.engine.i18n import t
from server.observability import Metrics
from server.protocol import AgentTyping, Handover
from server.storage.store import Store
from server.support.escalation import Escalations
from server.support.streams import SessionStream

log = get_logger("server.handover")

SWEEP_QUERY_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class Mode:
    """Who answers a session: ``assistant``, ``human`` (``agent`` took it) or ``closed`` (nobody: read-only)."""

    mode: str
    agent: str = ""

    @property
    def human(self) -> bool:
        return self.mode == "human"

    @property
    def closed(self) -> bool:
        return self.mode == "closed"

    @classmethod
    def of(cls, status: str | None, mode: str | None, agent: str | None) -> Mode:
        """The mode of a session row: its ``status`` and its ``state->'handover'`` mode and agent."""
        if status != "closed" and mode != "human":
            return cls("assistant")
        return cls("closed" if status == "closed" else "human", agent or "")


class Handovers:
    """Claim, release and close of tickets; typing; the claim time-out sweep; the mode of a session."""

    def __init__(self, *, settings: Settings, pool: asyncpg.Pool, store: Store, stream: SessionStream,
                 metrics: Metrics, escalations: Escalations) -> None:
        self._settings = settings
        self._pool = pool
        self._store = store
        self._stream = stream
        self._metrics = metrics
        self._escalations = escalations
        self._sweeper: asyncio.Task[None] | None = None

    async def mode(self, session_id: str) -> Mode:
        row = await self._pool.fetchrow(
            "SELECT status, state->'handover'->>'mode' AS mode, state->'handover'->>'agent' AS agent"
            " FROM sessions WHERE id = $1", session_id)
        if row is None:
            return Mode("assistant")
        return Mode.of(row["status"], row["mode"], row["agent"])

    async def claim(self, escalation_id: int, principal: Principal) -> dict[str, Any]:
        """Take the ticket: the agent answers the user from now on, the assistant is silent."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE escalations e SET status = 'in_progress', assignee = $2, claimed_by_id = $3,
                          claimed_at = now(), updated_at = now()
                     FROM sessions s
                    WHERE e.id = $1 AND s.id = e.session_id AND e.status <> 'closed'
                      AND (e.claimed_by_id IS NULL OR e.claimed_by_id = $3)
                RETURNING e.session_id, s.lang""", escalation_id, principal.name, principal.user_id)
            if row is None:
                await self._refuse(conn, escalation_id, "take")
            await conn.execute(
                "UPDATE sessions SET state = state || jsonb_build_object('handover', $2::jsonb), updated_at = now()"
                " WHERE id = $1", row["session_id"],
                {"mode": "human", "agent": principal.name, "agent_id": principal.user_id, "ticket_id": escalation_id})
        return await self._changed(escalation_id, principal, row, "joined", "human", "claimed")

    async def release(self, escalation_id: int, principal: Principal) -> dict[str, Any]:
        """Hand the conversation back to the assistant; the ticket goes back to the queue."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE escalations e SET status = 'open', assignee = NULL, claimed_by_id = NULL, claimed_at = NULL,
                          unclaimed_notice_at = COALESCE(e.unclaimed_notice_at, now()), updated_at = now()
                     FROM sessions s
                    WHERE e.id = $1 AND s.id = e.session_id AND e.status <> 'closed' AND e.claimed_by_id = $2
                RETURNING e.session_id, s.lang""", escalation_id, principal.user_id)
            if row is None:
                await self._refuse(conn, escalation_id, "hand back")
            await self._assistant_mode(conn, row["session_id"], principal)
        return await self._changed(escalation_id, principal, row, "released", "assistant", "released")

    async def close(self, escalation_id: int, principal: Principal) -> dict[str, Any]:
        """Close the ticket and the conversation: the user sees it read-only from now on."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE escalations e SET status = 'closed', assignee = COALESCE(e.assignee, $2), updated_at = now()
                     FROM sessions s
                    WHERE e.id = $1 AND s.id = e.session_id AND e.status <> 'closed'
                      AND (e.claimed_by_id IS NULL OR e.claimed_by_id = $3)
                RETURNING e.session_id, s.lang""", escalation_id, principal.name, principal.user_id)
            if row is None:
                await self._refuse(conn, escalation_id, "close")
            await self._assistant_mode(conn, row["session_id"], principal)
            await conn.execute("UPDATE sessions SET status = 'closed', updated_at = now() WHERE id = $1",
                               row["session_id"])
        return await self._changed(escalation_id, principal, row, "closed", "assistant", "closed")

    async def typing(self, session_id: str, principal: Principal, active: bool) -> None:
        """The agent who took the session is writing (or stopped): the user sees an indicator."""
        if not principal.has_role("support"):
            raise ForbiddenError("only support staff send typing", code="typing_forbidden")
        mode = await self.mode(session_id)
        if not mode.human:
            raise Conflict("nobody has taken this conversation", code="not_in_human_mode")
        session = await self._store.get_session(session_id)
        lang = session.lang if session else "en"
        await self._stream.publish(session_id, AgentTyping(principal.name, active,
                                                           t("support_typing", lang, agent=principal.name)))
        self._metrics.frames_sent.labels(AgentTyping.TYPE).inc()

    # -- the claim time-out
    async def sweep(self) -> int:
        """Tell the users whose ticket nobody took in time (each once); returns how many were told."""
        timeout = self._settings.handover_claim_timeout_seconds
        if timeout <= 0:
            return 0
        async with asyncio.timeout(SWEEP_QUERY_TIMEOUT):
            rows = await self._pool.fetch(
                """UPDATE escalations e SET unclaimed_notice_at = now()
                     FROM sessions s
                    WHERE s.id = e.session_id AND e.status = 'open' AND e.claimed_at IS NULL
                      AND e.unclaimed_notice_at IS NULL AND e.created_at <= now() - make_interval(secs => $1)
                RETURNING e.id, e.ticket_number, e.session_id, s.lang""", float(timeout))
        contact = self._escalations.contact()
        for row in rows:
            text = t("support_unclaimed", row["lang"], ticket=row["ticket_number"], email=contact["email"],
                     phone=contact["phone"])
            await self._stream.publish(row["session_id"], Handover("unclaimed", "assistant", "", text, contact))
            self._metrics.frames_sent.labels(Handover.TYPE).inc()
            await self._escalations.announce("unclaimed", row["id"])
            log.info("handover.unclaimed", escalation_id=row["id"], session_id=row["session_id"])
        return len(rows)

    async def start(self) -> None:
        if self._settings.handover_claim_timeout_seconds > 0:
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="handover.sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep_loop(self) -> None:
        interval = min(10.0, max(0.5, self._settings.handover_claim_timeout_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next round tries again; the failure is counted and logged
                self._metrics.degraded.labels("handover_sweep").inc()
                log.error("handover.sweep_failed", error=type(exc).__name__, detail=str(exc)[:200])

    # -- helpers
    async def _assistant_mode(self, conn: asyncpg.Connection, session_id: str, principal: Principal) -> None:
        await conn.execute(
            "UPDATE sessions SET state = state || jsonb_build_object('handover', $2::jsonb), updated_at = now()"
            " WHERE id = $1", session_id, {"mode": "assistant", "agent": principal.name})

    async def _refuse(self, conn: asyncpg.Connection, escalation_id: int, action: str) -> NoReturn:
        row = await conn.fetchrow("SELECT status, assignee, claimed_by_id FROM escalations WHERE id = $1",
                                  escalation_id)
        if row is None:
            raise NotFound("no such escalation", code="escalation_unknown")
        if row["status"] == "closed":
            raise Conflict("the ticket is closed", code="escalation_closed")
        if row["claimed_by_id"]:
            raise Conflict(f"{row['assignee'] or 'another agent'} has taken this ticket", code="escalation_taken")
        raise Conflict(f"take the ticket before you {action} it", code="escalation_not_taken")

    async def _changed(self, escalation_id: int, principal: Principal, row: asyncpg.Record, event: str, mode: str,
                       queue_event: str) -> dict[str, Any]:
        session_id, lang = row["session_id"], row["lang"]
        text = t(f"support_{event}", lang, agent=principal.name)
        seq, _ = await self._stream.publish(session_id, Handover(event, mode, principal.name, text))
        self._metrics.frames_sent.labels(Handover.TYPE).inc()
        await self._store.audit(principal.user_id, f"escalation.{queue_event}", str(escalation_id), {"seq": seq})
        await self._escalations.announce(queue_event, escalation_id)
        log.info("handover." + event, escalation_id=escalation_id, session_id=session_id, agent=principal.user_id)
        return {"id": escalation_id, "session_id": session_id, "mode": mode, "event": event, "seq": seq}
