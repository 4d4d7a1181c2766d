"""The end of a conversation: "resolved?" and, when it was, saving the resolution for that machine model.

A saved resolution becomes a knowledge-base entry of kind ``resolution`` (the problem, the machine
and what fixed it), which retrieval ranks first for similar problems on the same model.
"""

from __future__ import annotations

from typing import Any

from core.errors import AppError
from core.logs import get_logger
from server.auth import Principal
from server.services import Services
from server.storage.store import SessionRow
from server.support.escalation import diagnostic_steps

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


async def resolve_session(services: Services, session: SessionRow, principal: Principal, *, resolved: bool,
                          save: bool) -> dict[str, Any]:
    """Record the user's verdict, save the resolution when asked and possible, and tell every device."""
    s = services
    fresh = await s.store.get_session(session.id) or session
    machine = await s.machine_context(fresh.machine_id) if fresh.machine_id else None
    model = (machine or {}).get("model")
    await s.store.update_session(session.id, status="resolved" if resolved else "unresolved")
    saved, entry_id = False, None
    if resolved and save and s.kb is not None:
        history = await s.store.history(session.id)
        questions = [m["text"] for m in history if m["role"] == "user" and m["text"]]
        answers = [m["text"] for m in history if m["role"] == "assistant" and m["text"] and m["status"] == "complete"]
        if questions:
            title, text = resolution_text(questions[0], machine, diagnostic_steps(fresh.state),
                                          answers[-1] if answers else "")
            try:
                entry_id = await s.kb.add_entry(kind="resolution", title=title, text=text, machine_model=model,
                                                lang=fresh.lang, source=f"session:{session.id}")
                saved = True
            except (AppError, ValueError, OSError) as exc:
                # the verdict is recorded either way; the failed save is logged and counted
                s.metrics.degraded.labels("resolution_save").inc()
                log.warning("resolution.save_failed", session_id=session.id, error=type(exc).__name__,
                            detail=str(exc)[:200])
    await s.store.record_event("resolved", session_id=session.id, user_id=principal.user_id, machine_model=model,
                               lang=fresh.lang, data={"resolved": resolved, "saved": saved, "entry_id": entry_id,
                                                      "machine_id": fresh.machine_id})
    frame = {"type": "resolved", "resolved": resolved, "saved": saved}
    await s.state.publish(session.id, frame)
    s.metrics.frames_sent.labels("resolved").inc()
    log.info("resolution.recorded", session_id=session.id, resolved=resolved, saved=saved)
    return frame
