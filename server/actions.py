"""Session actions other than questions: machine choice, feedback, step outcomes, escalation, resolution."""

from __future__ import annotations

from typing import Any

from .auth import Principal
from .errors import BadRequest, ForbiddenError, NotFound
from .observability import get_logger
from .services import Services
from .store import SessionRow

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
