"""The end of a conversation: "resolved?" and, when it was, a proposed resolution for that machine model.

"Problem solved" with ``save`` stores a *proposal* (the problem, the machine and what fixed it,
sealed like conversation text) in ``resolution_proposals``. Nothing of it is searched or shown to
anyone but support until a support agent or an admin approves it from the console, possibly
edited; only then does it become a knowledge-base entry of kind ``resolution``, which retrieval
ranks high for similar problems on the same model. Resolution entries are past cases, not support
instructions: they do not pass the grounding gate on their own and do not override the manuals
(server/engine/grounding.py, server/engine/conversation.py).
"""

from __future__ import annotations

from typing import Any

from core.errors import BadRequest, Conflict, DependencyUnavailable, NotFound
from core.logs import get_logger
from knowledge import KnowledgeBase
from server.auth import Principal
from server.observability import Metrics
from server.protocol import Resolved
from server.storage.store import SessionRow, Store
from server.support.escalation import diagnostic_steps
from server.support.machines import MachineSource
from server.support.streams import SessionStream

log = get_logger("server.resolution")

ANSWER_EXCERPT = 1500
TITLE_MAX = 200
PROPOSAL_STATUSES = ("pending", "approved", "rejected")


def resolution_text(question: str, machine: dict[str, Any] | None, steps: list[dict[str, Any]],
                    last_answer: str) -> tuple[str, str]:
    """(title, text) of the entry: the problem, the machine, and what worked."""
    problem = " ".join(question.split())
    # the title travels in other users' citations: it names the machine model, never the user's words
    model = (machine or {}).get("model")
    title = f"Resolution ({model})" if model else "Resolution"
    lines = [f"Problem: {problem}"]
    if machine and machine.get("model"):
        lines.append(f"Machine: {machine.get('model')} ({machine.get('id')}), {machine.get('hours', '?')} operating hours")
    fixed = [s for s in steps if s.get("outcome") == "fixed"]
    tried = [s for s in steps if s.get("outcome") in ("not_fixed", "cannot_do")]
    if fixed:
        lines.append("What fixed it: " + "; ".join(s.get("text", "") for s in fixed))
    if tried:
        lines.append("Tried without success: " + "; ".join(f"{s.get('text', '')} ({s.get('outcome')})" for s in tried))
    if not fixed and last_answer:
        excerpt = last_answer.strip()
        if len(excerpt) > ANSWER_EXCERPT:
            excerpt = excerpt[:ANSWER_EXCERPT].rsplit(" ", 1)[0] + " …"
        lines.append("Advice that solved it:\n" + excerpt)
    return title, "\n".join(lines)


class Resolutions:
    """The user's verdict on a conversation, the proposal it makes, and its review by support."""

    def __init__(self, *, store: Store, stream: SessionStream, metrics: Metrics, machines: MachineSource,
                 kb: KnowledgeBase | None) -> None:
        self._store = store
        self._stream = stream
        self._metrics = metrics
        self._machines = machines
        self._kb = kb

    async def resolve(self, session: SessionRow, principal: Principal, *, resolved: bool,
                      save: bool) -> Resolved:
        """Record the user's verdict, propose the resolution when asked, and tell every device."""
        fresh = await self._store.get_session(session.id) or session
        machine = await self._machines.context(fresh.machine_id) if fresh.machine_id else None
        model = (machine or {}).get("model")
        await self._store.update_session(session.id, status="resolved" if resolved else "unresolved")
        proposed, proposal_id = False, None
        if resolved and save:
            history = await self._store.history(session.id)
            questions = [m["text"] for m in history if m["role"] == "user" and m["text"]]
            answers = [m["text"] for m in history if m["role"] == "assistant" and m["text"] and m["status"] == "complete"]
            if questions:
                title, text = resolution_text(questions[0], machine, diagnostic_steps(fresh.state),
                                              answers[-1] if answers else "")
                proposal_id = await self._propose(fresh, principal, model, title, text)
                proposed = proposal_id is not None
        await self._store.record_event("resolved", session_id=session.id, user_id=principal.user_id,
                                       machine_model=model, lang=fresh.lang,
                                       data={"resolved": resolved, "proposed": proposed, "proposal_id": proposal_id,
                                             "machine_id": fresh.machine_id})
        frame = Resolved(resolved, proposed)
        await self._stream.publish(session.id, frame)
        self._metrics.frames_sent.labels("resolved").inc()
        log.info("resolution.recorded", session_id=session.id, resolved=resolved, proposed=proposed)
        return frame

    async def _propose(self, session: SessionRow, principal: Principal, model: str | None, title: str,
                       text: str) -> int | None:
        """One pending proposal per session: a second "solved" refreshes it instead of adding one."""
        seal = self._store.cipher.seal
        row = await self._store.pool.fetchval(
            """INSERT INTO resolution_proposals (session_id, user_id, machine_id, machine_model, lang, title, body)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (session_id) WHERE status = 'pending'
               DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body, machine_model = EXCLUDED.machine_model
               RETURNING id""",
            session.id, principal.user_id, session.machine_id, model, session.lang, seal(title), seal(text))
        return int(row) if row is not None else None

    # -- review by support ------------------------------------------------------------------------

    async def proposals(self, status: str | None = "pending", limit: int = 200) -> list[dict[str, Any]]:
        if status is not None and status not in PROPOSAL_STATUSES:
            raise BadRequest(f"status must be one of {', '.join(PROPOSAL_STATUSES)}", code="bad_status")
        rows = await self._store.pool.fetch(
            """SELECT id, session_id, machine_id, machine_model, lang, title, body, status, reviewer, entry_id,
                      created_at, reviewed_at
               FROM resolution_proposals WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2""",
            status, limit)
        return [self._public(dict(r)) for r in rows]

    async def get(self, proposal_id: int) -> dict[str, Any]:
        row = await self._store.pool.fetchrow(
            """SELECT id, session_id, machine_id, machine_model, lang, title, body, status, reviewer, entry_id,
                      created_at, reviewed_at FROM resolution_proposals WHERE id = $1""", proposal_id)
        if row is None:
            raise NotFound("no such resolution proposal", code="resolution_unknown")
        return self._public(dict(row))

    async def approve(self, proposal_id: int, principal: Principal, *, title: str | None = None,
                      text: str | None = None, machine_model: str | None = None) -> dict[str, Any]:
        """Turn a pending proposal (with the reviewer's edits) into a knowledge-base entry."""
        if self._kb is None:
            raise DependencyUnavailable("kb", "the knowledge base is not available")
        proposal = await self.get(proposal_id)
        if proposal["status"] != "pending":
            raise Conflict(f"the proposal is already {proposal['status']}", code="resolution_reviewed")
        title = (title if title is not None else proposal["title"]).strip()
        text = (text if text is not None else proposal["text"]).strip()
        if not title or not text:
            raise BadRequest("title and text must not be empty", code="resolution_empty")
        if len(title) > TITLE_MAX:
            raise BadRequest(f"the title is longer than {TITLE_MAX} characters", code="resolution_too_long")
        model = machine_model if machine_model is not None else proposal["machine_model"]
        entry_id = await self._kb.add_entry(kind="resolution", title=title, text=text, machine_model=model or None,
                                            lang=proposal["lang"], source=f"session:{proposal['session_id']}")
        seal = self._store.cipher.seal
        updated = await self._store.pool.fetchval(
            """UPDATE resolution_proposals SET status = 'approved', reviewer = $2, entry_id = $3, title = $4, body = $5,
                      machine_model = $6, reviewed_at = now()
               WHERE id = $1 AND status = 'pending' RETURNING id""",
            proposal_id, principal.user_id, entry_id, seal(title), seal(text), model)
        if updated is None:  # reviewed by someone else meanwhile: the entry made here goes again
            await self._kb.delete_document(entry_id)
            raise Conflict("the proposal was reviewed meanwhile", code="resolution_reviewed")
        await self._store.audit(principal.user_id, "resolution.approve", str(proposal_id),
                                {"entry_id": entry_id, "edited": title != proposal["title"] or text != proposal["text"]})
        log.info("resolution.approved", proposal_id=proposal_id, entry_id=entry_id)
        return await self.get(proposal_id)

    async def reject(self, proposal_id: int, principal: Principal) -> dict[str, Any]:
        updated = await self._store.pool.fetchval(
            "UPDATE resolution_proposals SET status = 'rejected', reviewer = $2, reviewed_at = now()"
            " WHERE id = $1 AND status = 'pending' RETURNING id", proposal_id, principal.user_id)
        if updated is None:
            await self.get(proposal_id)  # 404 when unknown
            raise Conflict("the proposal was already reviewed", code="resolution_reviewed")
        await self._store.audit(principal.user_id, "resolution.reject", str(proposal_id))
        return await self.get(proposal_id)

    def _public(self, row: dict[str, Any]) -> dict[str, Any]:
        opened = self._store.cipher.open
        row["title"] = opened(row["title"])
        row["text"] = opened(row.pop("body"))
        for key in ("created_at", "reviewed_at"):
            if row.get(key) is not None:
                row[key] = row[key].isoformat()
        return row
