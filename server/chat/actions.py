"""Session actions other than questions: machine choice, feedback, step outcomes, escalation, resolution."""

from __future__ import annotations

from typing import Any

from core.errors import BadRequest, ForbiddenError, NotFound
from core.logs import get_logger
from server.auth import Principal
from server.services import Services
from server.storage.store import SessionRow
from server.support.resolution import resolve_session

log = get_logger("server.actions")


class Actions:
    def __init__(self, services: Services) -> None:
        self.s = services

    async def handle(self, session: SessionRow, principal: Principal, frame: dict[str, Any]) -> None:
        handler = getattr(self, "on_" + frame["type"], None)
        if handler is None:
            raise BadRequest(f"frame type {frame['type']!r} is not handled", code="unknown_type")
        await handler(session, principal, frame)

    async def on_select_machine(self, session: SessionRow, principal: Principal, frame: dict[str, Any]) -> None:
        machine_id = frame["machine_id"]
        if not principal.may_use_machine(machine_id):
            raise ForbiddenError("this machine is not one of yours", code="machine_forbidden")
        machine = await self.s.machine_context(machine_id)
        if machine is None:
            raise NotFound("unknown machine", code="machine_unknown")
        await self.s.store.update_session(session.id, machine_id=machine_id)
        session.machine_id = machine_id
        await self.s.state.publish(session.id, {"type": "machine", "machine": machine})

    async def on_feedback(self, session: SessionRow, principal: Principal, frame: dict[str, Any]) -> None:
        message = await self.s.store.get_message(frame["message_id"])
        if message is None or message["session_id"] != session.id or message["role"] != "assistant":
            raise NotFound("no such answer in this session", code="message_unknown")
        await self.s.store.record_event("feedback", session_id=session.id, message_id=frame["message_id"],
                                        user_id=principal.user_id, lang=session.lang,
                                        data={"rating": frame["rating"], "comment": frame.get("comment") or ""})
        self.s.metrics.feedback.labels(frame["rating"]).inc()
        await self.s.state.publish(session.id, {"type": "feedback_recorded", "message_id": frame["message_id"],
                                                "rating": frame["rating"]})
        if frame["rating"] == "down":
            # the answer did not help: flag it for expert review (analytics) and offer a human
            await self.s.turns.offer_escalation(session, principal, "feedback")

    async def on_step_outcome(self, session: SessionRow, principal: Principal, frame: dict[str, Any]) -> None:
        """Record how a step went and adapt: the next step, a follow-up answer, or a human."""
        from server.chat.turns import step_frame
        from server.engine.diagnostics import apply_outcome

        fresh = await self.s.store.get_session(session.id)
        diagnostic = (fresh.state if fresh else {}).get("diagnostic")
        if not diagnostic:
            raise NotFound("there is no diagnostic step to report on", code="step_unknown")
        try:
            result = apply_outcome(diagnostic, frame["step_id"], frame["outcome"])
        except KeyError:
            raise NotFound("no such step in the current diagnostic", code="step_unknown") from None
        await self.s.store.merge_session_state(session.id, {"diagnostic": diagnostic})
        await self.s.store.record_event("step_outcome", session_id=session.id, user_id=principal.user_id,
                                        lang=session.lang, data={"step_id": frame["step_id"], "outcome": frame["outcome"]})
        await self.s.state.publish(session.id, {"type": "step_result", "step_id": frame["step_id"],
                                                "outcome": frame["outcome"], "state": diagnostic["state"],
                                                "failed": diagnostic.get("failed", 0)})
        if result["next"] is not None:
            index = diagnostic["steps"].index(result["next"])
            await self.s.state.publish(session.id, step_frame(diagnostic["message_id"], diagnostic["steps"], index))
        if diagnostic.get("failed", 0) >= self.s.settings.escalate_after_failed_steps and not diagnostic.get("offered"):
            diagnostic["offered"] = True
            await self.s.store.merge_session_state(session.id, {"diagnostic": diagnostic})
            await self.s.turns.offer_escalation(session, principal, "failed_steps")
        if result["exhausted"]:
            await self.s.turns.submit_followup(session, principal, session.lang)

    async def on_escalate(self, session: SessionRow, principal: Principal, frame: dict[str, Any]) -> None:
        escalations = self.s.escalations
        if escalations is None:
            raise BadRequest("escalation is not available", code="escalation_unavailable")
        trigger = await escalations.offered_trigger(session.id)
        await escalations.create(session, principal, trigger, frame.get("reason") or "")

    async def on_resolve(self, session: SessionRow, principal: Principal, frame: dict[str, Any]) -> None:
        await resolve_session(self.s, session, principal, resolved=frame["resolved"], save=frame["save"])
