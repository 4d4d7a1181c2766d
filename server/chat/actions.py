"""Session actions other than questions: machine choice, feedback, step outcomes, escalation, resolution."""

from __future__ import annotations

from core.errors import DependencyUnavailable, ForbiddenError, NotFound
from core.logs import get_logger
from core.settings import Settings
from server import protocol
from server.auth import Principal
from server.chat.dispatch import Handlers
from server.chat.sessions import SessionState
from server.chat.turns import TurnRunner, step_frame
from server.engine.diagnostics import DiagnosticState, UnknownStep
from server.observability import Metrics
from server.privacy.consent import Consents
from server.protocol import ClientFrame
from server.storage.store import SessionRow, Store
from server.support.escalation import Escalations
from server.support.handover import Handovers
from server.support.machines import MachineSource
from server.support.resolution import Resolutions

log = get_logger("server.actions")

# frame class -> handler; the hub hands every frame it does not handle itself to Actions.handle
HANDLERS: Handlers[Actions, [SessionRow, Principal]] = Handlers()


class Actions:
    """Session actions other than questions, from the client frames the hub hands over."""

    def __init__(self, *, settings: Settings, metrics: Metrics, store: Store, state: SessionState,
                 turns: TurnRunner, machines: MachineSource, escalations: Escalations | None,
                 resolutions: Resolutions, consents: Consents, handovers: Handovers | None = None) -> None:
        self.settings = settings
        self.consents = consents
        self.metrics = metrics
        self.store = store
        self.state = state
        self.turns = turns
        self.machines = machines
        self.escalations = escalations
        self.resolutions = resolutions
        self.handovers = handovers

    async def handle(self, session: SessionRow, principal: Principal, frame: ClientFrame) -> None:
        await self.consents.require(session.user_id)  # every action stores something of the session
        await HANDLERS.dispatch(self, frame, session, principal)

    @HANDLERS.on(protocol.SelectMachine)
    async def on_select_machine(self, frame: protocol.SelectMachine, session: SessionRow, principal: Principal) -> None:
        machine_id = frame.machine_id
        if not principal.may_use_machine(machine_id):
            raise ForbiddenError("this machine is not one of yours", code="machine_forbidden")
        machine = await self.machines.context(machine_id)
        if machine is None:
            raise NotFound("unknown machine", code="machine_unknown")
        await self.store.update_session(session.id, machine_id=machine_id)
        session.machine_id = machine_id
        await self.state.publish(session.id, protocol.Machine(machine))

    @HANDLERS.on(protocol.Feedback)
    async def on_feedback(self, frame: protocol.Feedback, session: SessionRow, principal: Principal) -> None:
        message = await self.store.get_message(frame.message_id)
        if message is None or message["session_id"] != session.id or message["role"] != "assistant":
            raise NotFound("no such answer in this session", code="message_unknown")
        await self.store.record_event("feedback", session_id=session.id, message_id=frame.message_id,
                                        user_id=principal.user_id, lang=session.lang,
                                        data={"rating": frame.rating, "comment": self.store.cipher.seal(frame.comment or "")})
        self.metrics.feedback.labels(frame.rating).inc()
        await self.store.set_feedback(frame.message_id, frame.rating)
        await self.state.publish(session.id, protocol.FeedbackRecorded(frame.message_id, frame.rating))
        if frame.rating == "down":
            # the answer did not help: flag it for expert review (analytics) and offer a human
            await self.turns.offer_escalation(session, principal, "feedback")

    @HANDLERS.on(protocol.StepOutcome)
    async def on_step_outcome(self, frame: protocol.StepOutcome, session: SessionRow, principal: Principal) -> None:
        """Record how a step went and adapt: the next step, a follow-up answer, or a human."""
        fresh = await self.store.get_session(session.id)
        diagnostic = DiagnosticState.from_session(fresh.state if fresh else None)
        if diagnostic is None:
            raise NotFound("there is no diagnostic step to report on", code="step_unknown")
        try:
            result = diagnostic.apply(frame.step_id, frame.outcome, frame.comment)
        except UnknownStep:
            raise NotFound("no such step in the current diagnostic", code="step_unknown") from None
        human = False
        if frame.outcome != "fixed":  # with a model, the next step is planned with this outcome
            machine = await self.machines.context(fresh.machine_id) if fresh and fresh.machine_id else None
            plan = await self.turns.engine.plan_next(result.state, result.state.index_of(frame.step_id), frame.outcome,
                                                     lang=session.lang, machine=machine)
            if plan is not None and plan.step is not None:
                result = result.state.with_planned(plan.step)
            human = plan is not None and plan.human
        diagnostic = result.state
        await self.store.merge_session_state(session.id, diagnostic.session_patch())
        if diagnostic.message_id:  # the outcome is kept with the answer too: shown again after any reload
            await self.store.set_steps(diagnostic.message_id, [step.to_json() for step in diagnostic.steps])
        await self.store.record_event("step_outcome", session_id=session.id, user_id=principal.user_id,
                                        lang=session.lang, data={"step_id": frame.step_id, "outcome": frame.outcome})
        await self.state.publish(session.id, protocol.StepResult(frame.step_id, frame.outcome,
                                                                   protocol.StepState(diagnostic.phase),
                                                                   diagnostic.failed))
        if result.next_index is not None:
            await self.state.publish(session.id, step_frame(diagnostic.message_id, diagnostic.steps,
                                                              result.next_index))
        # a human: after too many failed steps, when the model finds nothing new in the manuals, or when the
        # user could not do a step and nothing independent of it is left (the follow-up offers another way)
        if (diagnostic.offer_due(self.settings.escalate_after_failed_steps)
                or ((human or result.needs_alternative) and not diagnostic.offered)):
            diagnostic = diagnostic.with_offer()
            await self.store.merge_session_state(session.id, diagnostic.session_patch())
            await self.turns.offer_escalation(session, principal, "failed_steps")
        if result.exhausted and not human:
            await self.turns.submit_followup(session, principal, session.lang)

    @HANDLERS.on(protocol.Escalate)
    async def on_escalate(self, frame: protocol.Escalate, session: SessionRow, principal: Principal) -> None:
        escalations = self.escalations
        if escalations is None:
            raise DependencyUnavailable("escalation", "escalation is not available")
        trigger = await escalations.offered_trigger(session.id)
        await escalations.create(session, principal, trigger, frame.reason)

    @HANDLERS.on(protocol.Typing)
    async def on_typing(self, frame: protocol.Typing, session: SessionRow, principal: Principal) -> None:
        if self.handovers is None:
            raise DependencyUnavailable("escalation", "handover is not available")
        await self.handovers.typing(session.id, principal, frame.active)

    @HANDLERS.on(protocol.Resolve)
    async def on_resolve(self, frame: protocol.Resolve, session: SessionRow, principal: Principal) -> None:
        await self.resolutions.resolve(session, principal, resolved=frame.resolved, save=frame.save)
