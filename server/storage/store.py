"""PostgreSQL repositories: sessions, messages, analytics events, audit log.

Conversation text is sealed at rest (``server/crypto/cipher.py``) when CONVERSATION_ENCRYPTION_KEY is
set: message text, the user's display name, an answer's citations and diagnostic steps, and the
session state (the diagnostic with the user's answers) except the control keys the database itself
reads (``PLAIN_STATE_KEYS``); docs/security.md lists every encrypted field. A JSON value is sealed as
one JSON string (``TextCipher.seal_json``); values stored before a key was configured still read.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import asyncpg

from server.crypto.cipher import TextCipher

__all__ = ["PLAIN_STATE_KEYS", "SessionRow", "Store", "TextCipher"]  # TextCipher: where the repositories take it from

# keys of sessions.state that SQL reads (who answers the session, the escalation trigger offered): no
# free text in them; every other key (the diagnostic: steps, outcomes, comments) is sealed
PLAIN_STATE_KEYS = frozenset({"handover", "escalation_offer"})


@dataclasses.dataclass
class SessionRow:
    id: str
    user_id: str
    user_name: str
    lang: str
    machine_id: str | None
    status: str
    state: dict[str, Any]
    last_seq: int


class Store:
    def __init__(self, pool: asyncpg.Pool, cipher: TextCipher) -> None:
        self.pool = pool
        self.cipher = cipher

    # -- sessions
    async def create_session(self, session_id: str, user_id: str, user_name: str, lang: str,
                             machine_id: str | None) -> SessionRow:
        await self.pool.execute(
            "INSERT INTO sessions (id, user_id, user_name, lang, machine_id) VALUES ($1, $2, $3, $4, $5)",
            session_id, user_id, self.cipher.seal(user_name), lang, machine_id)
        return SessionRow(session_id, user_id, user_name, lang, machine_id, "open", {}, 0)

    async def get_session(self, session_id: str) -> SessionRow | None:
        row = await self.pool.fetchrow(
            "SELECT id, user_id, user_name, lang, machine_id, status, state, last_seq FROM sessions WHERE id = $1",
            session_id)
        if not row:
            return None
        return SessionRow(**{**dict(row), "user_name": self.cipher.open(row["user_name"] or ""),
                             "state": self.open_state(row["state"])})

    def seal_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """``state`` (or a patch of it) as stored: each value sealed but those of ``PLAIN_STATE_KEYS``."""
        return {k: v if k in PLAIN_STATE_KEYS else self.cipher.seal_json(v) for k, v in state.items()}

    def open_state(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        return {k: self.cipher.open_json(v) for k, v in (stored or {}).items()}

    async def update_session(self, session_id: str, **fields: Any) -> None:
        allowed = {"lang", "machine_id", "status", "state", "last_seq"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"cannot update {set(fields) - allowed}")
        if "state" in fields:
            fields["state"] = self.seal_state(fields["state"])
        sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(fields))
        await self.pool.execute(f"UPDATE sessions SET {sets}, updated_at = now() WHERE id = $1",
                                session_id, *fields.values())

    async def merge_session_state(self, session_id: str, patch: dict[str, Any]) -> None:
        await self.pool.execute("UPDATE sessions SET state = state || $2::jsonb, updated_at = now() WHERE id = $1",
                                session_id, self.seal_state(patch))

    async def list_sessions(self, user_id: str, limit: int = 20) -> list[dict[str, Any]]:
        # sessions without a message (a tab opened and left) are not listed
        rows = await self.pool.fetch(
            "SELECT s.id, s.machine_id, s.status, s.lang, s.created_at, s.updated_at,"
            " (SELECT text FROM messages m WHERE m.session_id = s.id AND m.role = 'user'"
            "  ORDER BY created_at LIMIT 1) AS first_question,"
            " EXISTS (SELECT 1 FROM messages m WHERE m.session_id = s.id AND m.status = 'streaming') AS answering"
            " FROM sessions s WHERE user_id = $1"
            " AND EXISTS (SELECT 1 FROM messages m WHERE m.session_id = s.id)"
            " ORDER BY updated_at DESC LIMIT $2", user_id, limit)
        out = []
        for r in rows:
            d = dict(r)
            d["first_question"] = self.cipher.open(d["first_question"] or "")
            d["created_at"] = d["created_at"].isoformat()
            d["updated_at"] = d["updated_at"].isoformat()
            out.append(d)
        return out

    # -- messages
    async def insert_user_message(self, message_id: str, session_id: str, client_id: str, text: str,
                                  lang: str) -> bool:
        """False when this client_id was already stored for the session (a resend)."""
        result = await self.pool.execute(
            "INSERT INTO messages (id, session_id, role, client_id, text, lang, status)"
            " VALUES ($1, $2, 'user', $3, $4, $5, 'complete') ON CONFLICT DO NOTHING",
            message_id, session_id, client_id, self.cipher.seal(text), lang)
        return str(result).endswith(" 1")

    async def insert_assistant_message(self, message_id: str, session_id: str, reply_to: str | None, lang: str,
                                       role: str = "assistant", text: str = "", status: str = "streaming",
                                       mode: str | None = None) -> None:
        await self.pool.execute(
            "INSERT INTO messages (id, session_id, role, reply_to, lang, status, text, mode) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            message_id, session_id, role, reply_to, lang, status, self.cipher.seal(text), mode)

    async def finish_message(self, message_id: str, *, text: str, status: str, mode: str | None,
                             citations: list[dict[str, Any]], steps: list[dict[str, Any]], model: str | None,
                             prompt_tokens: int | None, completion_tokens: int | None, cost_usd: float | None,
                             error_code: str | None) -> None:
        await self.pool.execute(
            "UPDATE messages SET text = $2, status = $3, mode = $4, citations = $5, steps = $6, model = $7,"
            " prompt_tokens = $8, completion_tokens = $9, cost_usd = $10, error_code = $11, completed_at = now()"
            " WHERE id = $1",
            message_id, self.cipher.seal(text), status, mode, self.cipher.seal_json(citations),
            self.cipher.seal_json(steps), model, prompt_tokens,
            completion_tokens, Decimal(str(cost_usd)) if cost_usd is not None else None, error_code)

    async def history(self, session_id: str, limit: int = 200) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT id, role, client_id, text, status, mode, lang, citations, steps, model, prompt_tokens,"
            " completion_tokens, error_code, author, feedback, created_at FROM messages WHERE session_id = $1"
            " ORDER BY created_at, id LIMIT $2", session_id, limit)
        out = []
        for r in rows:
            d = self._opened(dict(r))
            d["created_at"] = d["created_at"].isoformat()
            out.append(d)
        return out

    def _opened(self, message: dict[str, Any]) -> dict[str, Any]:
        """A stored message with its text, citations and steps opened."""
        message["text"] = self.cipher.open(message["text"])
        message["citations"] = self.cipher.open_json(message["citations"], [])
        message["steps"] = self.cipher.open_json(message["steps"], [])
        return message

    async def set_feedback(self, message_id: str, rating: str) -> None:
        """The user's latest rating of an answer, kept with the answer."""
        await self.pool.execute("UPDATE messages SET feedback = $2 WHERE id = $1", message_id, rating)

    async def set_steps(self, message_id: str, steps: list[dict[str, Any]]) -> None:
        """The diagnostic steps of an answer with the outcomes given so far."""
        await self.pool.execute("UPDATE messages SET steps = $2 WHERE id = $1", message_id,
                                self.cipher.seal_json(steps))

    async def get_message(self, message_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)
        if not row:
            return None
        return self._opened(dict(row))

    # -- analytics and audit
    async def record_event(self, kind: str, *, session_id: str | None = None, message_id: str | None = None,
                           user_id: str | None = None, machine_model: str | None = None, lang: str | None = None,
                           data: dict[str, Any] | None = None) -> None:
        await self.pool.execute(
            "INSERT INTO analytics_events (kind, session_id, message_id, user_id, machine_model, lang, data)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            kind, session_id, message_id, user_id, machine_model, lang, json.loads(json.dumps(data or {}, default=str)))

    async def audit(self, actor: str, action: str, target: str | None = None, data: dict[str, Any] | None = None) -> None:
        await self.pool.execute("INSERT INTO audit_log (actor, action, target, data) VALUES ($1, $2, $3, $4)",
                                actor, action, target, data or {})
