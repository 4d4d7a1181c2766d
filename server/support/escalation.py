"""Escalation to human support: tickets, their notifications, and support replies into the live chat.

``Escalations.create`` writes the ticket (with a snapshot of the transcript, the machine, the steps
tried and the user's answers), the analytics event, the session status and one notification job per
channel in ONE transaction, then tells the user through the session stream. A session has at most
one ticket that is not closed: escalating again returns it. A support reply is stored as a message
of role ``support`` and published to the session stream, so it reaches the user's open chat on
whichever replica holds the socket. Every change of a ticket is also an event of the live support
queue (``handover_queue.py``), which the consoles follow.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import asyncpg

from core.errors import BadRequest, Conflict, NotFound
from core.logs import get_logger
from core.settings import Settings
from server.auth import Principal
from server.engine.diagnostics import DiagnosticState
from server.observability import Metrics
from server.protocol import Escalated, SupportMessage
from server.storage.store import SessionRow, Store, TextCipher
from server.support.handover_queue import SupportQueue
from server.support.machines import MachineSource
from server.support.notify import Notifier
from server.support.streams import SessionStream

log = get_logger("server.escalation")

TRIGGERS = ("user", "failed_steps", "not_covered", "feedback", "safety")
STATUSES = ("open", "in_progress", "closed")
REPLY_MAX_CHARS = 4000
SEALED_SNAPSHOT_PARTS = ("user", "machine", "steps")  # with each transcript text

# one row of the queue, as the console lists it
_QUEUE_ROW = """SELECT e.id, e.ticket_number, e.session_id, e.user_id, s.user_name, s.lang, e.machine_id, e.trigger,
                       e.reason, e.status, e.assignee, e.claimed_by_id, e.claimed_at, e.created_at, e.updated_at
                  FROM escalations e JOIN sessions s ON s.id = e.session_id"""


def ticket_number(escalation_id: int) -> str:
    return f"ABP-{escalation_id:06d}"


@dataclasses.dataclass(frozen=True)
class Ticket:
    id: int
    ticket_number: str
    session_id: str
    trigger: str
    status: str
    created: bool  # False when an open ticket of the session was returned


def diagnostic_steps(state: dict[str, Any]) -> list[dict[str, object]]:
    """Every step the assistant proposed in the session (earlier answers' too) and the user's answers."""
    diagnostic = DiagnosticState.from_session(state)
    return diagnostic.history() if diagnostic else []


def seal_snapshot(snapshot: dict[str, Any], cipher: TextCipher) -> dict[str, Any]:
    """A ticket snapshot as stored: encrypted like messages are when CONVERSATION_ENCRYPTION_KEY is set
    (each transcript text, and the user, machine and steps parts as sealed JSON); ``lang`` stays plain."""
    return {**snapshot, "transcript": [{**m, "text": cipher.seal(m["text"])} for m in snapshot["transcript"]],
            **{part: cipher.seal_json(snapshot.get(part)) for part in SEALED_SNAPSHOT_PARTS}}


def open_snapshot(stored: dict[str, Any], cipher: TextCipher) -> dict[str, Any]:
    """What ``seal_snapshot`` stored (a snapshot written before encryption reads as it is)."""
    snapshot = {**stored, "transcript": [{**m, "text": cipher.open(m.get("text", ""))}
                                         for m in stored.get("transcript") or []]}
    for part in SEALED_SNAPSHOT_PARTS:
        if part in stored:
            snapshot[part] = cipher.open_json(stored[part], [] if part == "steps" else None)
    return snapshot


class Escalations:
    """Tickets for human support: opening them from a session, and the support side's queue and replies."""

    def __init__(self, *, settings: Settings, pool: asyncpg.Pool, store: Store, stream: SessionStream,
                 metrics: Metrics, notifier: Notifier, machines: MachineSource, queue: SupportQueue) -> None:
        self._settings = settings
        self.queue = queue
        self._pool = pool
        self._store = store
        self._stream = stream
        self._metrics = metrics
        self._machines = machines
        self.notifier = notifier

    def contact(self) -> dict[str, str]:
        return {"email": self._settings.support_email, "phone": self._settings.support_phone}

    def frame(self, ticket: Ticket) -> Escalated:
        return Escalated(ticket.id, ticket.ticket_number, self.contact(), ticket.trigger, ticket.status,
                         new=ticket.created)

    async def create(self, session: SessionRow, principal: Principal, trigger: str, reason: str = "") -> Ticket:
        """Open a ticket for the session (or return its open one) and tell the user."""
        if trigger not in TRIGGERS:
            raise BadRequest(f"unknown escalation trigger {trigger!r}", code="bad_trigger")
        existing = await self._open_ticket(session.id)
        if existing is None:
            existing = await self._insert(session, principal, trigger, reason)
            if existing.created:
                await self.announce("created", existing.id)
        await self._stream.publish(session.id, self.frame(existing))
        self._metrics.frames_sent.labels("escalated").inc()
        return existing

    async def offered_trigger(self, session_id: str) -> str:
        """The trigger of the escalation the assistant offered in this session (``user`` when none).

        The conversation engine records an offer as ``session.state["escalation_offer"] = {"trigger": ...}``;
        when the user accepts it with an ``escalate`` frame, the ticket keeps the reason it was offered for.
        """
        offer = await self._pool.fetchval("SELECT state->'escalation_offer'->>'trigger' FROM sessions WHERE id = $1",
                                         session_id)
        return offer if offer in TRIGGERS else "user"

    async def _open_ticket(self, session_id: str) -> Ticket | None:
        row = await self._pool.fetchrow(
            "SELECT id, ticket_number, trigger, status FROM escalations WHERE session_id = $1 AND status <> 'closed'",
            session_id)
        if row is None:
            return None
        return Ticket(row["id"], row["ticket_number"], session_id, row["trigger"], row["status"], False)

    async def _insert(self, session: SessionRow, principal: Principal, trigger: str, reason: str) -> Ticket:
        fresh = await self._store.get_session(session.id) or session  # the diagnostic state as of now
        history = await self._store.history(session.id)
        machine = await self._machines.context(fresh.machine_id) if fresh.machine_id else None
        steps = diagnostic_steps(fresh.state)
        transcript = [{"id": m["id"], "role": m["role"], "text": m["text"], "status": m["status"],
                       "created_at": m["created_at"]} for m in history if m["text"] or m["role"] == "user"]
        snapshot = {"transcript": transcript, "machine": machine, "steps": steps,
                    "user": {"id": fresh.user_id, "name": fresh.user_name or principal.name}, "lang": fresh.lang}
        stored = seal_snapshot(snapshot, self._store.cipher)
        model = (machine or {}).get("model")
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """INSERT INTO escalations (id, ticket_number, session_id, user_id, machine_id, trigger, reason, snapshot)
                   SELECT n, 'ABP-' || lpad(n::text, 6, '0'), $1, $2, $3, $4, $5, $6
                     FROM (SELECT nextval('escalations_id_seq') AS n) seq
                   ON CONFLICT (session_id) WHERE status <> 'closed' DO NOTHING
                   RETURNING id, ticket_number, status, created_at""",
                session.id, fresh.user_id, fresh.machine_id, trigger, self._store.cipher.seal(reason), stored)
            if row is not None:  # None: a concurrent escalate of the same session won
                # the offer is used up: a later escalation (after this ticket is closed) starts from the user again
                await conn.execute("UPDATE sessions SET status = 'escalated', state = state - 'escalation_offer',"
                                   " updated_at = now() WHERE id = $1", session.id)
                await conn.execute(
                    "INSERT INTO analytics_events (kind, session_id, user_id, machine_model, lang, data)"
                    " VALUES ('escalation', $1, $2, $3, $4, $5)",
                    session.id, fresh.user_id, model, fresh.lang,
                    {"trigger": trigger, "ticket_id": row["id"], "machine_id": fresh.machine_id})
                payload = {
                    "ticket_id": row["id"], "ticket_number": row["ticket_number"], "trigger": trigger,
                    "reason": reason, "status": row["status"], "created_at": row["created_at"].isoformat(),
                    "session_id": session.id, "lang": fresh.lang, "contact": self.contact(),
                    "console_url": self._console_url(), **snapshot}
                await self.notifier.schedule(conn, row["id"], "escalation.created", payload)
        if row is None:
            ticket = await self._open_ticket(session.id)
            assert ticket is not None
            return ticket
        self._metrics.escalations.labels(trigger).inc()
        log.info("escalation.created", session_id=session.id, ticket=row["ticket_number"], trigger=trigger)
        return Ticket(row["id"], row["ticket_number"], session.id, trigger, row["status"], True)

    def _console_url(self) -> str:
        base = self._settings.public_base_url.rstrip("/")
        return f"{base}/admin#escalations" if base else ""

    # -- the support side -------------------------------------------------------------------------

    async def list(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}", code="bad_status")
        cipher = self._store.cipher
        rows = await self._pool.fetch(
            _QUEUE_ROW + """ WHERE ($1::text IS NULL OR e.status = $1)
                ORDER BY (e.status = 'closed'), e.created_at DESC LIMIT $2""", status, limit)
        return [_iso({**dict(r), "reason": cipher.open(r["reason"]), "user_name": cipher.open(r["user_name"] or "")})
                for r in rows]

    async def summary(self, escalation_id: int) -> dict[str, Any]:
        """The ticket as the queue lists it."""
        row = await self._pool.fetchrow(_QUEUE_ROW + " WHERE e.id = $1", escalation_id)
        if row is None:
            raise NotFound("no such escalation", code="escalation_unknown")
        cipher = self._store.cipher
        return _iso({**dict(row), "reason": cipher.open(row["reason"]), "user_name": cipher.open(row["user_name"] or "")})

    async def announce(self, event: str, escalation_id: int) -> None:
        """Tell every support console that the ticket changed; a queue that cannot be told is logged, not fatal."""
        try:
            await self.queue.publish(event, await self.summary(escalation_id))
        except Exception as exc:  # the ticket is stored; consoles see it when they list the queue again
            self._metrics.redis_errors.labels("support_queue").inc()
            log.error("escalation.queue_publish_failed", escalation_id=escalation_id, queue_event=event,
                      error=type(exc).__name__)

    async def get(self, escalation_id: int) -> dict[str, Any]:
        row = await self._pool.fetchrow(
            """SELECT e.*, s.user_name, s.lang, s.status AS session_status
                 FROM escalations e JOIN sessions s ON s.id = e.session_id WHERE e.id = $1""", escalation_id)
        if row is None:
            raise NotFound("no such escalation", code="escalation_unknown")
        cipher = self._store.cipher
        out = _iso(dict(row))
        out["reason"] = cipher.open(out["reason"])
        out["user_name"] = cipher.open(out["user_name"] or "")
        snapshot = open_snapshot(out.pop("snapshot") or {}, cipher)
        agents = {r["message_id"]: r["agent_name"] for r in await self._pool.fetch(
            "SELECT message_id, agent_name FROM support_replies WHERE escalation_id = $1", escalation_id)}
        history = await self._store.history(row["session_id"])
        out["transcript"] = [{"id": m["id"], "role": m["role"], "text": m["text"], "status": m["status"],
                              "created_at": m["created_at"], **({"agent": agents[m["id"]]} if m["id"] in agents else {})}
                             for m in history if m["text"] or m["role"] == "user"]
        out["machine"] = snapshot.get("machine")
        out["steps"] = snapshot.get("steps") or []
        out["snapshot"] = snapshot
        out["notifications"] = [_iso(dict(r)) for r in await self._pool.fetch(
            "SELECT id, channel, target, status, attempts, uncertain, last_error, created_at, sent_at"
            " FROM notification_deliveries WHERE escalation_id = $1 ORDER BY created_at", escalation_id)]
        return out

    async def reply(self, escalation_id: int, principal: Principal, text: str) -> dict[str, Any]:
        """Store a support message and push it into the user's chat."""
        text = (text or "").strip()
        if not text:
            raise BadRequest("the reply is empty", code="reply_empty")
        if len(text) > REPLY_MAX_CHARS:
            raise BadRequest(f"the reply is longer than {REPLY_MAX_CHARS} characters", code="reply_too_long")
        row = await self._pool.fetchrow(
            "SELECT e.session_id, e.status, s.lang FROM escalations e JOIN sessions s ON s.id = e.session_id"
            " WHERE e.id = $1", escalation_id)
        if row is None:
            raise NotFound("no such escalation", code="escalation_unknown")
        message_id = uuid.uuid4().hex
        await self._store.insert_assistant_message(message_id, row["session_id"], None, row["lang"], role="support",
                                                    text=text, status="complete", mode="support")
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE messages SET author = $2 WHERE id = $1", message_id, principal.name)
            await conn.execute(
                "INSERT INTO support_replies (message_id, escalation_id, agent_id, agent_name) VALUES ($1, $2, $3, $4)",
                message_id, escalation_id, principal.user_id, principal.name)
            await conn.execute(
                "UPDATE escalations SET status = CASE WHEN status = 'open' THEN 'in_progress' ELSE status END,"
                " assignee = COALESCE(assignee, $2), updated_at = now() WHERE id = $1", escalation_id, principal.name)
        seq, _ = await self._stream.publish(row["session_id"], SupportMessage(message_id, principal.name, text))
        self._metrics.frames_sent.labels("support_message").inc()
        await self._store.audit(principal.user_id, "escalation.reply", str(escalation_id),
                                 {"message_id": message_id, "chars": len(text)})
        log.info("escalation.reply", escalation_id=escalation_id, message_id=message_id, seq=seq)
        return {"message_id": message_id, "session_id": row["session_id"], "seq": seq}

    async def set_status(self, escalation_id: int, principal: Principal, status: str) -> dict[str, Any]:
        if status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}", code="bad_status")
        try:
            row = await self._pool.fetchrow(
                "UPDATE escalations SET status = $2, assignee = COALESCE(assignee, $3), updated_at = now()"
                " WHERE id = $1 RETURNING id, ticket_number, status, session_id", escalation_id, status, principal.name)
        except asyncpg.UniqueViolationError as exc:  # re-opening while the session has another open ticket
            raise Conflict("the session already has another open ticket", code="escalation_conflict") from exc
        if row is None:
            raise NotFound("no such escalation", code="escalation_unknown")
        if status == "closed":  # a closed ticket has nobody answering: the assistant does again
            await self._pool.execute(
                "UPDATE sessions SET state = jsonb_set(state, '{handover,mode}', '\"assistant\"')"
                " WHERE id = $1 AND state->'handover'->>'mode' = 'human'", row["session_id"])
        await self._store.audit(principal.user_id, "escalation.status", str(escalation_id), {"status": status})
        log.info("escalation.status", escalation_id=escalation_id, status=status)
        await self.announce("status", escalation_id)
        return dict(row)


def _iso(d: dict[str, Any]) -> dict[str, Any]:
    for key in ("created_at", "updated_at", "sent_at", "claimed_at", "unclaimed_notice_at"):
        if d.get(key) is not None and hasattr(d[key], "isoformat"):
            d[key] = d[key].isoformat()
    return d
