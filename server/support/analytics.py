"""The analytics report for administrators, from sessions, messages, escalations and analytics events.

Definitions (docs/admin-api.md): a *session* is a conversation with at least one question, created in
the range; its *language* is the language of its first question; its *model* the model of its
machine in the host database. *Resolution rate* = sessions the user marked resolved / sessions;
*escalation rate* = sessions with a ticket / sessions. *Top problems* are the most frequent first
questions after normalising case and spacing (exact repeats only, no clustering), and *top topics*
the manual sections cited most in answers. Questions for expert review are the ones the manuals did
not cover (``not_covered`` events) and answers rated down.
"""

from __future__ import annotations

import collections
import datetime as dt
from typing import Any

import asyncpg

from core.errors import BadRequest
from server.storage.store import TextCipher
from server.support.machines import MachineSource

MAX_SESSIONS = 100_000
REVIEW_LIMIT = 100


def parse_range(start: str | None, end: str | None, *, days: int = 30) -> tuple[dt.datetime, dt.datetime]:
    """``from``/``to`` as dates (``to`` inclusive) or ISO date-times, UTC; default the last ``days`` days."""
    def parse(value: str, name: str) -> tuple[dt.datetime, bool]:
        try:
            if len(value) == 10:
                return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC), True
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadRequest(f"'{name}' must be a date (YYYY-MM-DD) or an ISO date-time", code="bad_range") from exc
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)), False

    now = dt.datetime.now(dt.UTC)
    if end:
        upper, is_date = parse(end, "to")
        if is_date:
            upper += dt.timedelta(days=1)
    else:
        upper = now + dt.timedelta(seconds=1)
    lower = parse(start, "from")[0] if start else upper - dt.timedelta(days=days)
    if lower >= upper:
        raise BadRequest("'from' must be before 'to'", code="bad_range")
    return lower, upper


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def normalise_question(text: str) -> str:
    text = " ".join(text.lower().split()).strip(" ?!.¿;")
    return text[:120]


class Analytics:
    """The report over a date range, optionally for one machine model or language."""

    def __init__(self, pool: asyncpg.Pool, cipher: TextCipher, machines: MachineSource) -> None:
        self._pool = pool
        self._cipher = cipher
        self._machines = machines

    async def report(self, start: dt.datetime, end: dt.datetime, *, model: str | None = None,
                     lang: str | None = None) -> dict[str, Any]:
        rows = await self._pool.fetch(
            """SELECT s.id, COALESCE(q.lang, s.lang) AS lang, s.machine_id, s.created_at, q.text AS question,
                      EXISTS (SELECT 1 FROM escalations e WHERE e.session_id = s.id) AS escalated,
                      (SELECT (a.data->>'resolved')::boolean FROM analytics_events a
                        WHERE a.session_id = s.id AND a.kind = 'resolved' ORDER BY a.created_at DESC, a.id DESC LIMIT 1)
                        AS resolved
                 FROM sessions s
                 JOIN LATERAL (SELECT m.text, m.lang FROM messages m WHERE m.session_id = s.id AND m.role = 'user'
                               ORDER BY m.created_at, m.id LIMIT 1) q ON true
                WHERE s.created_at >= $1 AND s.created_at < $2
                ORDER BY s.created_at LIMIT $3""", start, end, MAX_SESSIONS + 1)
        truncated = len(rows) > MAX_SESSIONS
        rows = rows[:MAX_SESSIONS]
        models = await self._models([r["machine_id"] for r in rows])
        sessions = []
        for r in rows:
            m = models.get(r["machine_id"]) if r["machine_id"] else None
            if (lang and r["lang"] != lang) or (model and m != model):
                continue
            sessions.append({**dict(r), "model": m})
        ids = [x["id"] for x in sessions]
        total = len(sessions)
        resolved = sum(1 for x in sessions if x["resolved"] is True)
        unresolved = sum(1 for x in sessions if x["resolved"] is False)
        escalated = sum(1 for x in sessions if x["escalated"])
        feedback = await self._feedback(start, end, ids)
        return {
            "from": start.isoformat(), "to": end.isoformat(), "filters": {"model": model, "lang": lang},
            "truncated": truncated,  # more than MAX_SESSIONS conversations: narrow the range
            "sessions": total, "resolved": resolved, "unresolved": unresolved, "escalated": escalated,
            "resolution_rate": _rate(resolved, total), "escalation_rate": _rate(escalated, total),
            "feedback": feedback,
            "escalations_by_trigger": await self._triggers(ids),
            "not_covered": await self._pool.fetchval(
                "SELECT count(*) FROM analytics_events WHERE kind = 'not_covered' AND session_id = ANY($1::text[])"
                " AND created_at >= $2 AND created_at < $3", ids, start, end),
            "top_problems": self._top_problems(sessions),
            "top_topics": await self._top_topics(ids),
            "unanswered": await self._review(start, end, ids, {x["id"]: x for x in sessions}),
            "by_model": self._group(sessions, "model"),
            "by_language": self._group(sessions, "lang"),
            "daily": self._daily(sessions),
        }

    async def _models(self, machine_ids: list[str | None]) -> dict[str, str]:
        ids = [i for i in machine_ids if i]
        if not ids:
            return {}
        return dict(await self._machines.models(ids))

    async def _feedback(self, start: dt.datetime, end: dt.datetime, ids: list[str]) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT data->>'rating' AS rating, count(*) AS n FROM analytics_events"
            " WHERE kind = 'feedback' AND created_at >= $1 AND created_at < $2 AND session_id = ANY($3::text[])"
            " GROUP BY 1", start, end, ids)
        counts = {r["rating"]: r["n"] for r in rows}
        return {"up": counts.get("up", 0), "down": counts.get("down", 0)}

    async def _triggers(self, ids: list[str]) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT trigger, count(*) AS n FROM escalations WHERE session_id = ANY($1::text[]) GROUP BY trigger", ids)
        return {r["trigger"]: r["n"] for r in rows}

    def _top_problems(self, sessions: list[dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
        counts: collections.Counter[str] = collections.Counter()
        example: dict[str, str] = {}
        for x in sessions:
            text = self._cipher.open(x["question"] or "")
            key = normalise_question(text)
            if key:
                counts[key] += 1
                example.setdefault(key, text.strip()[:200])
        return [{"text": example[k], "count": n} for k, n in counts.most_common(limit)]

    async def _top_topics(self, ids: list[str], limit: int = 10) -> list[dict[str, Any]]:
        # citations are sealed at rest (one JSON string per answer): counted here, not in SQL
        rows = await self._pool.fetch(
            "SELECT citations FROM messages WHERE role = 'assistant' AND session_id = ANY($1::text[])"
            " AND citations <> '[]'::jsonb", ids)
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        for r in rows:
            citations = self._cipher.open_json(r["citations"], [])
            for c in citations if isinstance(citations, list) else []:
                if isinstance(c, dict) and c.get("title") is not None:
                    counts[(str(c["title"]), str(c.get("section") or ""))] += 1
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))[:limit]
        return [{"title": title, "section": section, "count": n,
                 "text": title + (f" - {section}" if section else "")} for (title, section), n in top]

    async def _review(self, start: dt.datetime, end: dt.datetime, ids: list[str],
                      by_session: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Questions to show an expert: not covered by the manuals, or with an answer rated down."""
        rows = await self._pool.fetch(
            """SELECT a.kind, a.session_id, a.message_id, a.data, a.created_at,
                      m.role, m.text AS message_text, m.reply_to, q.text AS question_text
                 FROM analytics_events a
                 LEFT JOIN messages m ON m.id = a.message_id
                 LEFT JOIN messages q ON q.id = m.reply_to
                WHERE a.session_id = ANY($1::text[]) AND a.created_at >= $2 AND a.created_at < $3
                  AND (a.kind = 'not_covered' OR (a.kind = 'feedback' AND a.data->>'rating' = 'down'))
                ORDER BY a.created_at DESC LIMIT $4""", ids, start, end, REVIEW_LIMIT)
        cipher = self._cipher
        out = []
        for r in rows:
            data = r["data"] or {}
            if r["role"] == "user":
                question = cipher.open(r["message_text"] or "")
                answer = None
            else:
                question = cipher.open(r["question_text"] or "") or str(data.get("question") or "")
                answer = cipher.open(r["message_text"] or "") if r["message_text"] else None
            session = by_session.get(r["session_id"]) or {}
            if not question:
                question = cipher.open(session.get("question") or "")
            out.append({
                "reason": "not_covered" if r["kind"] == "not_covered" else "negative_feedback",
                "text": question, "answer": answer, "comment": cipher.open(str(data.get("comment") or "")) or None,
                "session_id": r["session_id"], "message_id": r["message_id"], "lang": session.get("lang"),
                "machine_model": session.get("model"), "created_at": r["created_at"].isoformat(),
            })
        return out

    @staticmethod
    def _group(sessions: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        groups: dict[Any, list[dict[str, Any]]] = collections.defaultdict(list)
        for x in sessions:
            groups[x[key]].append(x)
        out = []
        for value, items in groups.items():
            n = len(items)
            resolved = sum(1 for x in items if x["resolved"] is True)
            escalated = sum(1 for x in items if x["escalated"])
            out.append({key: value, "sessions": n, "resolved": resolved, "escalated": escalated,
                        "resolution_rate": _rate(resolved, n), "escalation_rate": _rate(escalated, n)})
        return sorted(out, key=lambda g: (-g["sessions"], str(g[key])))

    @staticmethod
    def _daily(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        days: dict[str, dict[str, int]] = {}
        for x in sessions:
            day = x["created_at"].astimezone(dt.UTC).date().isoformat()
            d = days.setdefault(day, {"sessions": 0, "escalations": 0, "resolved": 0})
            d["sessions"] += 1
            d["escalations"] += int(bool(x["escalated"]))
            d["resolved"] += int(x["resolved"] is True)
        return [{"date": day, **v} for day, v in sorted(days.items())]
