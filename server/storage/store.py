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

from core.batching import RowBatcher, WriteBatcher
from server.crypto.cipher import TextCipher

__all__ = ["PLAIN_STATE_KEYS", "SessionRow", "Store", "TextCipher", "TurnContext", "TurnGate"]  # TextCipher: where the repositories take it from

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


@dataclasses.dataclass(frozen=True)
class TurnGate:
    """What decides whether a question may be taken, read in one round trip: the user's latest consent
    decision (``None``: never decided) and who answers the session."""

    consent_granted: bool | None
    consent_version: str | None
    consent_at: Any
    session_status: str | None  # None: no such session
    handover_mode: str | None
    handover_agent: str | None


@dataclasses.dataclass(frozen=True)
class TurnContext:
    """What a turn starts from, read in the statement that stores its question and answer rows.

    ``history`` is the session's latest messages before this turn, oldest first; ``kb_live``: the
    knowledge base has a searchable document; ``kb_pending``: a version is being indexed.
    """

    inserted: bool  # False: the question's client_id was already stored (a resend); nothing was written
    history: list[dict[str, str]]
    state: dict[str, Any]
    machine_id: str | None
    kb_live: bool
    kb_pending: bool
    found: bool = True  # False: the session row is gone (erased meanwhile)


# the knowledge base's two facts a turn needs before it searches, as subqueries of the turn's statement
_KB_FACTS = """EXISTS (SELECT 1 FROM kb_documents WHERE current_version_id IS NOT NULL) AS kb_live,
       EXISTS (SELECT 1 FROM kb_versions WHERE status IN ('queued', 'processing')) AS kb_pending"""


def _context_sql(session: str, limit: str) -> str:
    """The session ``session``'s state and its latest ``limit`` messages (oldest first), in one row
    (none when the session is gone); ``found`` is its id."""
    return f"""SELECT s.id AS found, s.state, s.machine_id,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('id', h.id, 'role', h.role, 'text', h.text) ORDER BY h.created_at, h.id), '[]')
          FROM (SELECT role, text, created_at, id FROM messages WHERE session_id = {session}
                 ORDER BY created_at DESC, id DESC LIMIT {limit}) h) AS history,
       {_KB_FACTS}
  FROM sessions s WHERE s.id = {session}"""


_CONTEXT_SQL = _context_sql("$1", "$2")

# for each turn opening (one array element each, of every turn queued together): the question and its
# (streaming) answer row stored, the conversation's language kept, and the context read, in one
# statement; the reads see the rows as they were before it (no question, no answer)
_OPEN_TURNS_SQL = """WITH input AS (
    -- text arrays only: asyncpg would look up other array types on each new connection, a round trip more
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[])
      WITH ORDINALITY AS i(qid, aid, sid, cid, body, lang, empty, relang, hlimit, ord)),
  question AS (
    INSERT INTO messages (id, session_id, role, client_id, text, lang, status)
    SELECT qid, sid, 'user', cid, body, lang, 'complete' FROM input ORDER BY ord
    ON CONFLICT DO NOTHING RETURNING id, created_at),
  answer AS (  -- a microsecond later: the history orders by created_at, and the answer follows its question
    INSERT INTO messages (id, session_id, role, reply_to, lang, status, text, created_at)
    SELECT i.aid, i.sid, 'assistant', q.id, i.lang, 'streaming', i.empty, q.created_at + interval '1 microsecond'
      FROM input i JOIN question q ON q.id = i.qid RETURNING id),
  relang AS (
    UPDATE sessions s SET lang = i.lang, updated_at = now() FROM input i
     WHERE s.id = i.sid AND i.relang::boolean AND EXISTS (SELECT 1 FROM question q WHERE q.id = i.qid) RETURNING s.id)
SELECT i.ord, EXISTS (SELECT 1 FROM question q WHERE q.id = i.qid) AS inserted,
       (SELECT count(*) FROM answer) AS answers, (SELECT count(*) FROM relang) AS relanged, c.*
  FROM input i LEFT JOIN LATERAL (""" + _context_sql("i.sid", "i.hlimit::integer") + """) c ON true"""

# for each question (one array element each): the user's latest consent decision for the purpose and
# the session's handover mode
_GATES_SQL = """SELECT i.ord, c.granted, c.version, c.created_at, s.status, s.state->'handover'->>'mode' AS mode,
       s.state->'handover'->>'agent' AS agent
  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS i(sid, uid, purpose, ord)
  LEFT JOIN LATERAL (SELECT granted, version, created_at FROM user_consents
                      WHERE user_id = i.uid AND purpose = i.purpose ORDER BY created_at DESC LIMIT 1) c ON true
  LEFT JOIN sessions s ON s.id = i.sid"""

_FINISH_SQL = ("UPDATE messages SET text = $2, status = $3, mode = $4, citations = $5, steps = $6, model = $7,"
               " prompt_tokens = $8, completion_tokens = $9, cost_usd = $10, error_code = $11, completed_at = now()"
               " WHERE id = $1")
_LAST_SEQ_SQL = "UPDATE sessions SET last_seq = greatest(last_seq, $2), updated_at = now() WHERE id = $1"
_EVENT_SQL = ("INSERT INTO analytics_events (kind, session_id, message_id, user_id, machine_model, lang, data)"
              " VALUES ($1, $2, $3, $4, $5, $6, $7)")


def json_value(value: Any) -> Any:
    """A json/jsonb column as Python: decoded by the pool's codec, or still text without one."""
    return json.loads(value) if isinstance(value, str) else value


class Store:
    def __init__(self, pool: asyncpg.Pool, cipher: TextCipher) -> None:
        self.pool = pool
        self.cipher = cipher
        # the writes at the end of every turn: those of answers ending together share a round trip and a commit
        self._finish = WriteBatcher(pool, _FINISH_SQL)
        self._last_seq = WriteBatcher(pool, _LAST_SEQ_SQL)
        self._event = WriteBatcher(pool, _EVENT_SQL)
        # a turn's setup: questions arriving together are gated and opened by one statement each
        self._gates = RowBatcher(pool, _GATES_SQL)
        self._open_turns = RowBatcher(pool, _OPEN_TURNS_SQL)

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

    # -- a turn's setup: two round trips (the gate, then the rows and the context)
    async def turn_gate(self, session_id: str, user_id: str, purpose: str) -> TurnGate:
        """The user's latest consent decision for ``purpose`` and the session's handover mode."""
        row = await self._gates.fetchrow(session_id, user_id, purpose)
        assert row is not None  # one row for every question
        return TurnGate(row["granted"], row["version"], row["created_at"], row["status"], row["mode"], row["agent"])

    async def open_turn(self, question_id: str, answer_id: str, session_id: str, client_id: str, text: str,
                        lang: str, *, relang: bool, history_limit: int = 20) -> TurnContext:
        """Store the question and its streaming answer row (and the session's new language when ``relang``)
        and read what the turn starts from, in one statement; nothing is written for a resent client_id."""
        row = await self._open_turns.fetchrow(question_id, answer_id, session_id, client_id, self.cipher.seal(text),
                                              lang, self.cipher.seal(""), str(relang).lower(), str(history_limit))
        inserted = bool(row["inserted"]) if row else False
        return self._context(row if row is not None and row["found"] is not None else None, inserted=inserted)

    async def turn_context(self, session_id: str, history_limit: int = 20) -> TurnContext:
        """What a turn starts from (``open_turn``'s read, for an answer whose row is already stored)."""
        return self._context(await self.pool.fetchrow(_CONTEXT_SQL, session_id, history_limit), inserted=False)

    def _context(self, row: asyncpg.Record | None, *, inserted: bool) -> TurnContext:
        if row is None:  # the session is gone (erased): an empty context
            return TurnContext(inserted, [], {}, None, False, False, found=False)
        history = [{"id": h["id"], "role": h["role"], "text": self.cipher.open(h["text"] or "")}
                   for h in json_value(row["history"])]
        return TurnContext(inserted, history, self.open_state(row["state"]), row["machine_id"], row["kb_live"],
                           row["kb_pending"])

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

    async def record_last_seq(self, session_id: str, seq: int) -> None:
        """The session's last frame number, where its numbering continues if Redis loses it (never lowered)."""
        await self._last_seq.execute(session_id, seq)

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
        await self._finish.execute(
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
        await self._event.execute(
            kind, session_id, message_id, user_id, machine_model, lang, json.loads(json.dumps(data or {}, default=str)))

    async def audit(self, actor: str, action: str, target: str | None = None, data: dict[str, Any] | None = None) -> None:
        await self.pool.execute("INSERT INTO audit_log (actor, action, target, data) VALUES ($1, $2, $3, $4)",
                                actor, action, target, data or {})
