"""The end of a conversation: "resolved?" and, when it was, saving the resolution for that machine model.

A saved resolution becomes a knowledge-base entry of kind ``resolution`` (the problem, the machine
and what fixed it), which retrieval ranks first for similar problems on the same model.
"""

from __future__ import annotations

from typing import Any

from core.errors import AppError
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


def resolution_text(question: str, machine: dict[str, Any] | None, steps: list[dict[str, Any]],
                    last_answer: str) -> tuple[str, str]:
    """(title, text) of the entry: the problem, the machine, and what worked."""
    problem = " ".join(question.split())
    title = "Resolution: " + (problem[:100] + ("…" if len(problem) > 100 else "") if problem else "solved problem")
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
    """The user's verdict on a conversation, and the resolution saved to the knowledge base."""

    def __init__(self, *, store: Store, stream: SessionStream, metrics: Metrics, machines: MachineSource,
                 kb: KnowledgeBase | None) -> None:
        self._store = store
        self._stream = stream
        self._metrics = metrics
        self._machines = machines
        self._kb = kb

    async def resolve(self, session: SessionRow, principal: Principal, *, resolved: bool,
                      save: bool) -> Resolved:
        """Record the user's verdict, save the resolution when asked and possible, and tell every device."""
        fresh = await self._store.get_session(session.id) or session
        machine = await self._machines.context(fresh.machine_id) if fresh.machine_id else None
        model = (machine or {}).get("model")
        await self._store.update_session(session.id, status="resolved" if resolved else "unresolved")
        saved, entry_id = False, None
        if resolved and save and self._kb is not None:
            history = await self._store.history(session.id)
            questions = [m["text"] for m in history if m["role"] == "user" and m["text"]]
            answers = [m["text"] for m in history if m["role"] == "assistant" and m["text"] and m["status"] == "complete"]
            if questions:
                title, text = resolution_text(questions[0], machine, diagnostic_steps(fresh.state),
                                              answers[-1] if answers else "")
                try:
                    entry_id = await self._kb.add_entry(kind="resolution", title=title, text=text,
                                                        machine_model=model, lang=fresh.lang,
                                                        source=f"session:{session.id}")
                    saved = True
                except (AppError, ValueError, OSError) as exc:
                    # the verdict is recorded either way; the failed save is logged and counted
                    self._metrics.degraded.labels("resolution_save").inc()
                    log.warning("resolution.save_failed", session_id=session.id, error=type(exc).__name__,
                                detail=str(exc)[:200])
        await self._store.record_event("resolved", session_id=session.id, user_id=principal.user_id,
                                       machine_model=model, lang=fresh.lang,
                                       data={"resolved": resolved, "saved": saved, "entry_id": entry_id,
                                             "machine_id": fresh.machine_id})
        frame = Resolved(resolved, saved)
        await self._stream.publish(session.id, frame)
        self._metrics.frames_sent.labels("resolved").inc()
        log.info("resolution.recorded", session_id=session.id, resolved=resolved, saved=saved)
        return frame
