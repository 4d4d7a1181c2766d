"""Running turns: accept a question once, run the engine as a task of this replica, publish frames.

A turn is independent of the connection that asked: it keeps running when the socket drops and its
frames reach the client wherever it reconnects. A lease in Redis, renewed by a heartbeat, marks the
running turn; if the replica dies, a connection to the session on another replica watches the lease
and, once it has expired, closes the turn as failed with the text so far, so a client never waits
forever. ``cancel`` works from any replica (Redis pub/sub).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
import uuid
from collections.abc import Sequence

import asyncpg

from core.errors import Conflict, RateLimited
from core.logs import get_logger
from core.settings import Settings
from server import protocol
from server.auth import Principal
from server.chat.batching import DeltaBatcher, frame_interval
from server.chat.sessions import CONTROL_CHANNEL, REDIS_DOWN, RedisUnavailable, SessionState
from server.engine.conversation import (
    ConversationEngine,
    DeltaEvent,
    DoneEvent,
    Event,
    Knowledge,
    OfferEscalationEvent,
    SafetyEvent,
    StatusEvent,
    StepsEvent,
    Turn,
)
from server.engine.diagnostics import DiagnosticState, Step
from server.engine.i18n import t
from server.engine.language import LanguageDetector
from server.observability import Metrics
from server.privacy.consent import PURPOSE, ConsentRequired, Consents, Decision
from server.storage.store import SessionRow, Store, TurnContext
from server.support.escalation import Escalations
from server.support.handover import Handovers, Mode
from server.support.machines import MachineSource
from server.tracing import Tracing

log = get_logger("server.turns")



class TurnRunner:
    """Accepts questions, runs their turns as tasks of this replica and publishes what they produce."""

    def __init__(self, *, settings: Settings, metrics: Metrics, tracing: Tracing, pool: asyncpg.Pool, store: Store,
                 state: SessionState, engine: ConversationEngine, language: LanguageDetector,
                 machines: MachineSource, escalations: Escalations | None, consents: Consents,
                 handovers: Handovers | None = None) -> None:
        self.settings = settings
        self.consents = consents
        self.metrics = metrics
        self.tracing = tracing
        self.pool = pool
        self.store = store
        self.state = state
        self.engine = engine
        self.language = language
        self.machines = machines
        self.escalations = escalations
        self.handovers = handovers  # a session an agent took gets no answers from the assistant
        self.running: dict[str, tuple[str, asyncio.Task[None]]] = {}  # session_id -> (message_id, task)
        self._control_task: asyncio.Task[None] | None = None
        # session_id -> the task waiting for the lease of a turn that runs (or ran) on another replica
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._heartbeats: dict[str, asyncio.Task[None]] = {}  # answer_id -> the task renewing its lease

    async def start(self) -> None:
        self._control_task = asyncio.create_task(self._listen_control(), name="turns.control")

    async def stop(self, drain_seconds: float) -> None:
        """Let running answers finish (their clients follow them from other replicas), then cancel."""
        tasks = [task for _, task in self.running.values()]
        if tasks:
            log.info("turns.draining", running=len(tasks), seconds=drain_seconds)
            _, pending = await asyncio.wait(tasks, timeout=drain_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        for watcher in list(self._watchers.values()):
            watcher.cancel()
        if self._control_task:
            self._control_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._control_task

    async def submit(self, session: SessionRow, principal: Principal, frame: protocol.Message) -> protocol.Ack:
        s, state, store = self.settings, self.state, self.store
        client_id = frame.client_id
        message_id = uuid.uuid4().hex
        wait = await state.hit_rate_limit("msg", principal.user_id, s.messages_per_minute)
        if wait is not None:
            self.metrics.rate_limited.labels("messages").inc()
            raise RateLimited(t("rate_limited", session.lang), retry_after=wait)
        # round trip 1 of the turn's setup: consent and who answers, read fresh (a withdrawal, an erasure or
        # an agent taking the session counts from the next message on, on every replica)
        gate = await store.turn_gate(session.id, session.user_id, PURPOSE)
        decision = None if gate.consent_granted is None else Decision(gate.consent_granted, gate.consent_version or "",
                                                                      gate.consent_at)
        if not self.consents.allows(decision):  # no consent (or withdrawn): nothing is stored
            raise ConsentRequired("consent to storing the conversation is needed first (or was withdrawn)")
        mode = Mode.of(gate.session_status, gate.handover_mode, gate.handover_agent) if self.handovers is not None else None
        if mode is not None and mode.closed:
            raise Conflict(t("session_closed", session.lang), code="session_closed")
        earlier = await state.claim_client_id(session.id, client_id, message_id)
        if earlier is not None:
            self.metrics.duplicate_messages.inc()
            return protocol.Ack(client_id, earlier, duplicate=True)
        if mode is not None and mode.human:
            return await self._to_agent(session, frame, message_id)
        answer_id = uuid.uuid4().hex
        if not await state.start_turn(session.id, answer_id, s.turn_lease_seconds):
            await state.redis.delete(f"abp:s:{session.id}:cid:{client_id}")
            raise Conflict(t("busy_turn", session.lang), code="turn_in_progress")
        try:
            lang = self.language.decide(frame.text, picked=frame.lang, conversation=session.lang)
            # round trip 2: both rows stored (the conversation continues in the language decided: short
            # replies keep it) and the history and session state read, in one statement
            context = await store.open_turn(message_id, answer_id, session.id, client_id, frame.text, lang,
                                            relang=lang != session.lang)
            if not context.inserted:
                await state.end_turn(session.id)
                self.metrics.duplicate_messages.inc()
                return protocol.Ack(client_id, message_id, duplicate=True)
            session.lang = lang
            await state.publish(session.id, protocol.UserMessage(message_id, client_id, frame.text, lang))
        except BaseException:
            await state.end_turn(session.id)
            raise
        self._spawn(session, principal, message_id, answer_id, frame.text, lang, followup=False, context=context)
        return protocol.Ack(client_id, message_id, duplicate=False)

    async def _to_agent(self, session: SessionRow, frame: protocol.Message, message_id: str) -> protocol.Ack:
        """Human mode: the message is stored and reaches the agent through the session stream; no answer."""
        lang = self.language.decide(frame.text, picked=frame.lang, conversation=session.lang)
        if not await self.store.insert_user_message(message_id, session.id, frame.client_id, frame.text, lang):
            self.metrics.duplicate_messages.inc()
            return protocol.Ack(frame.client_id, message_id, duplicate=True)
        seq, _ = await self.state.publish(session.id, protocol.UserMessage(message_id, frame.client_id, frame.text, lang))
        await self.store.record_last_seq(session.id, seq)
        return protocol.Ack(frame.client_id, message_id, duplicate=False)

    def _spawn(self, session: SessionRow, principal: Principal, question_id: str | None, answer_id: str, text: str,
               lang: str, *, followup: bool, context: TurnContext | None = None) -> None:
        received = time.perf_counter()
        task = asyncio.create_task(self._run(session, principal, question_id, answer_id, text, lang, received, followup,
                                             context), name=f"turn.{answer_id}")
        self.running[session.id] = (answer_id, task)
        task.add_done_callback(functools.partial(self._forget, session.id, answer_id))

    def _forget(self, session_id: str, answer_id: str, _task: object = None) -> None:
        if self.running.get(session_id, ("", None))[0] == answer_id:
            self.running.pop(session_id, None)

    async def submit_followup(self, session: SessionRow, principal: Principal, lang: str) -> bool:
        """After every step failed: an automatic answer with the next most likely causes."""
        if self.handovers is not None and (await self.handovers.mode(session.id)).mode != "assistant":
            return False
        answer_id = uuid.uuid4().hex
        if not await self.state.start_turn(session.id, answer_id, self.settings.turn_lease_seconds):
            return False
        await self.store.insert_assistant_message(answer_id, session.id, None, lang)
        text = t("followup_request", lang)  # the follow-up searches with the user's problem (engine)
        self._spawn(session, principal, None, answer_id, text, lang, followup=True)
        return True

    async def cancel(self, session_id: str) -> None:
        if session_id in self.running:
            self.running[session_id][1].cancel()
        else:
            await self.state.send_control({"cancel": session_id})

    async def _listen_control(self) -> None:
        backoff = 0.5
        while True:
            try:
                pubsub = self.state.redis.pubsub()
                await pubsub.subscribe(CONTROL_CHANNEL)
                backoff = 0.5
                while True:
                    # a short read time-out keeps the connection within the client's socket time-out
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if not message:
                        continue
                    data = json.loads(message["data"])
                    sid = data.get("cancel")
                    if sid and sid in self.running:
                        self.running[sid][1].cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.redis_errors.labels("control").inc()
                log.error("turns.control_failed", error=type(exc).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)

    async def recover(self, session_id: str, lang: str) -> None:
        """Close a turn whose replica vanished: at once when its lease is gone, else once it expires.

        A live turn renews its lease every TURN_HEARTBEAT_SECONDS; the lease of a killed replica's turn
        expires after TURN_LEASE_SECONDS. A connection that finds a lease held elsewhere starts a watcher
        that checks at every heartbeat, so the client gets the answer's end (the original ``done``, or a
        ``failed``/``interrupted`` one with the text so far kept) within about TURN_LEASE_SECONDS.
        """
        if session_id in self.running:
            return  # running on this replica: alive
        rows = await self.pool.fetch(
            "SELECT id FROM messages WHERE session_id = $1 AND status = 'streaming'", session_id)
        if not rows:
            return
        if await self.state.running_turn(session_id):
            self._watch(session_id, lang)
            return
        await self._close_interrupted(session_id, [row["id"] for row in rows], lang)

    def _watch(self, session_id: str, lang: str) -> None:
        if session_id in self._watchers:
            return
        task = asyncio.create_task(self._watch_lease(session_id, lang), name=f"turns.watch.{session_id}")
        self._watchers[session_id] = task
        task.add_done_callback(lambda _task: self._watchers.pop(session_id, None))

    async def _watch_lease(self, session_id: str, lang: str) -> None:
        """Wait, heartbeat by heartbeat, until the lease of a turn running elsewhere ends or expires."""
        beat = self.settings.turn_heartbeat_seconds
        while True:
            await asyncio.sleep(beat)
            try:
                if session_id in self.running or await self.state.running_turn(session_id):
                    continue  # still alive (or now running here)
                rows = await self.pool.fetch(
                    "SELECT id FROM messages WHERE session_id = $1 AND status = 'streaming'", session_id)
                if rows:
                    await self._close_interrupted(session_id, [row["id"] for row in rows], lang)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or PostgreSQL away for a moment: look again at the next beat
                self.metrics.degraded.labels("lease_watch").inc()
                log.warning("turns.watch_failed", session_id=session_id, error=type(exc).__name__, retry_in=beat)

    async def _close_interrupted(self, session_id: str, message_ids: list[str], lang: str) -> None:
        """End answers whose replica died: failed/interrupted, keeping the text that was streamed."""
        frames = [json.loads(frame) for _, frame in await self.state.replay(session_id, 0)]
        for message_id in message_ids:
            text = "".join(f.get("text", "") for f in frames
                           if f.get("type") == "delta" and f.get("message_id") == message_id)
            result = await self.pool.execute(
                "UPDATE messages SET status = 'failed', error_code = 'interrupted', text = $2, completed_at = now()"
                " WHERE id = $1 AND status = 'streaming'", message_id, self.store.cipher.seal(text))
            if not result.endswith(" 1"):
                continue  # finished meanwhile, or another replica closed it first
            await self.state.publish(session_id, protocol.Error("interrupted", message_id=message_id,
                                                                message=t("llm_interrupted", lang)))
            seq, _ = await self.state.publish(session_id, protocol.Done(
                message_id, status="failed", mode="llm", citations=[], usage={}, error_code="interrupted"))
            await self.store.record_last_seq(session_id, seq)
            self.metrics.turns.labels("llm", "failed").inc()
            log.warning("turns.recovered", session_id=session_id, message_id=message_id, chars=len(text))

    async def _heartbeat(self, session_id: str, answer_id: str) -> None:
        """Renew the running turn's lease while it runs (a missed beat is retried at the next one).

        Stopped by ``_finish`` before the lease is ended, so a lease found missing here was lost while
        the answer runs (Redis away longer than the lease): it is taken again, unless another replica
        has meanwhile ended the turn or started another one.
        """
        s = self.settings
        while True:
            await asyncio.sleep(s.turn_heartbeat_seconds)
            renewed = await self.state.renew_turn(session_id, s.turn_lease_seconds)
            if renewed is None:
                log.warning("turns.lease_not_renewed", session_id=session_id, message_id=answer_id)
            elif not renewed:
                try:
                    retaken = await self.state.start_turn(session_id, answer_id, s.turn_lease_seconds)
                except REDIS_DOWN:
                    continue  # the next beat tries again
                log.warning("turns.lease_retaken" if retaken else "turns.lease_lost", session_id=session_id,
                            message_id=answer_id)

    async def _run(self, session: SessionRow, principal: Principal, question_id: str | None, answer_id: str, text: str,
                   lang: str, received: float, followup: bool, context: TurnContext | None) -> None:
        s, m, state = self, self.metrics, self.state
        parts: list[str] = []
        done: DoneEvent | None = None
        steps: list[Step] = []
        first_text_at: float | None = None
        t0 = time.perf_counter()
        if context is None:  # a follow-up: its answer row is stored already; the context is one read
            context = await s.store.turn_context(session.id)
        session_state = context.state
        machine_id = context.machine_id if context.found else session.machine_id
        history = [{"role": h["role"], "text": h["text"]} for h in context.history
                   if h["id"] not in (question_id, answer_id)]
        machine = await s.machines.context(machine_id) if machine_id else None
        log.debug("turns.setup", queued_ms=round((t0 - received) * 1000, 1),
                  reads_ms=round((time.perf_counter() - t0) * 1000, 1), kb_live=context.kb_live)
        turn = Turn(session.id, answer_id, text, lang, history, machine,
                    DiagnosticState.from_session(session_state), followup,
                    knowledge=Knowledge(live=context.kb_live, pending=context.kb_pending))
        batcher = DeltaBatcher(functools.partial(self._publish_delta, session.id, answer_id), self._frame_interval)
        heartbeat = asyncio.create_task(self._heartbeat(session.id, answer_id), name=f"turn.lease.{answer_id}")
        self._heartbeats[answer_id] = heartbeat
        with s.tracing.turn(session_id=session.id, message_id=answer_id, lang=lang, machine_id=machine_id):
            try:
                async with contextlib.aclosing(s.engine.run(turn)) as events:
                    async for event in events:
                        if isinstance(event, DeltaEvent):
                            batcher.add(event.text)
                        else:
                            await batcher.drain()  # keep frame order: text first, then what follows it
                            await self._publish_event(session.id, answer_id, event)
                        if isinstance(event, DeltaEvent):
                            parts.append(event.text)
                            m.tokens_streamed.inc()
                            if first_text_at is None:
                                first_text_at = time.perf_counter()
                                m.ttft.observe(first_text_at - received)
                                s.engine.observe_first_text(first_text_at - received)
                        elif isinstance(event, StepsEvent):
                            steps = event.steps
                        elif isinstance(event, OfferEscalationEvent):
                            await self.offer_escalation(session, principal, event.reason, question_id)
                        elif isinstance(event, SafetyEvent):
                            await self._escalate(session, principal, "safety", text)
                        elif isinstance(event, DoneEvent):
                            done = event
                await batcher.drain()
                status = done.status if done else "failed"
                if steps and status == "complete":
                    diagnostic = DiagnosticState.start(answer_id, steps, DiagnosticState.from_session(session_state),
                                                       problem="" if followup else text)
                    await s.store.merge_session_state(session.id, diagnostic.session_patch())
                await self._finish(session, principal, answer_id, "".join(parts), status, done, received, steps=steps,
                                   lang=lang)
            except asyncio.CancelledError:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(self._finish_cancelled(session, principal, answer_id, "".join(parts), done,
                                                                received, batcher))
                raise
            except RedisUnavailable:
                # Redis stayed away longer than REDIS_OUTAGE_GRACE_SECONDS: keep the record (the text so far)
                # in PostgreSQL; the frames cannot be published, the session's history has the answer
                log.error("turns.redis_gave_up", session_id=session.id, message_id=answer_id)
                m.turns.labels(done.mode if done else "llm", "failed").inc()
                with contextlib.suppress(Exception):
                    await s.store.finish_message(answer_id, text="".join(parts), status="failed",
                                                 mode=done.mode if done else "llm", citations=[], steps=[], model=None,
                                                 prompt_tokens=None, completion_tokens=None, cost_usd=None,
                                                 error_code="redis_unavailable")
            except Exception as exc:
                log.exception("turns.failed", session_id=session.id, message_id=answer_id, error=type(exc).__name__)
                with contextlib.suppress(Exception):
                    await batcher.drain()
                with contextlib.suppress(Exception):
                    await state.publish(session.id, protocol.Error("internal_error", message_id=answer_id,
                                                                   message=t("internal_error", lang)))
                with contextlib.suppress(Exception):
                    await self._finish(session, principal, answer_id, "".join(parts), "failed", done, received,
                                       error_code="internal_error")
            finally:
                heartbeat.cancel()
                self._heartbeats.pop(answer_id, None)


    async def _finish_cancelled(self, session: SessionRow, principal: Principal, answer_id: str, text: str,
                                done: DoneEvent | None, received: float, batcher: DeltaBatcher) -> None:
        await batcher.drain()
        await self._finish(session, principal, answer_id, text, "cancelled", done, received)

    def _frame_interval(self) -> float:
        """Seconds between an answer's delta frames, for the answers streaming on this replica now
        (server/chat/batching.py)."""
        return frame_interval(len(self.running))

    async def _publish_delta(self, session_id: str, answer_id: str, text: str) -> None:
        await self.state.publish(session_id, protocol.Delta(answer_id, text))
        self.metrics.frames_sent.labels(protocol.Delta.TYPE).inc()

    async def _publish_event(self, session_id: str, answer_id: str, event: Event) -> None:
        frame: protocol.SessionFrame
        if isinstance(event, DeltaEvent):
            frame = protocol.Delta(answer_id, event.text)
        elif isinstance(event, StatusEvent):
            frame = protocol.Status(answer_id, event.state, event.eta_ms)
        else:
            return  # done is published by _finish, after the record is written
        await self.state.publish(session_id, frame)
        self.metrics.frames_sent.labels(frame.TYPE).inc()

    async def offer_escalation(self, session: SessionRow, principal: Principal, reason: str,
                               question_id: str | None = None) -> None:
        # remembered so that accepting the offer files the ticket under this trigger
        await self.store.merge_session_state(session.id, {"escalation_offer": {"trigger": reason}})
        await self.state.publish(session.id, protocol.EscalationOffer(reason))
        if reason == "not_covered":
            await self.store.record_event("not_covered", session_id=session.id, message_id=question_id,
                                            user_id=principal.user_id, lang=session.lang,
                                            data={"flag": "expert_review"})

    async def _escalate(self, session: SessionRow, principal: Principal, trigger: str, reason: str) -> None:
        escalations = self.escalations
        if escalations is None:
            await self.offer_escalation(session, principal, trigger)
            return
        try:
            await escalations.create(session, principal, trigger, reason[:500])
        except Exception as exc:  # the answer goes on; the failure is visible
            self.metrics.degraded.labels("escalation").inc()
            log.error("turns.escalation_failed", session_id=session.id, error=type(exc).__name__)
            await self.offer_escalation(session, principal, trigger)

    async def _finish(self, session: SessionRow, principal: Principal, answer_id: str, text: str, status: str,
                      done: DoneEvent | None, received: float, error_code: str | None = None,
                      steps: list[Step] | None = None, lang: str | None = None) -> None:
        s = self
        usage = done.usage if done else {}
        mode = done.mode if done else "llm"
        citations = done.citations if done else []
        error_code = error_code or (done.error_code if done else None)
        steps = steps if status == "complete" else []
        await s.store.finish_message(answer_id, text=text, status=status, mode=mode, citations=citations,
                                     steps=[step.to_json() for step in steps or []],
                                     model=usage.get("model"), prompt_tokens=usage.get("prompt_tokens"),
                                     completion_tokens=usage.get("completion_tokens"), cost_usd=usage.get("cost_usd"),
                                     error_code=error_code)
        if steps:
            await s.state.publish(session.id, step_frame(answer_id, steps, 0))
        if status == "failed" and error_code and error_code != "internal_error":
            # internal errors already sent their frame; provider failures say what happened here
            await s.state.publish(session.id, protocol.Error(error_code, message_id=answer_id,
                                                             message=t("llm_interrupted", session.lang)))
        beat = self._heartbeats.pop(answer_id, None)
        if beat is not None:
            beat.cancel()  # before the lease ends: a beat after it would take the lease again
        await s.state.end_turn(session.id)  # before done: a client may ask again as soon as it sees done
        seq, _ = await s.state.publish(session.id, protocol.Done(
            answer_id, status, mode, citations, usage, lang=lang or session.lang, error_code=error_code or None))
        s.metrics.frames_sent.labels(protocol.Done.TYPE).inc()
        await s.store.record_last_seq(session.id, seq)
        s.metrics.turns.labels(mode, status).inc()
        s.metrics.turn_duration.observe(time.perf_counter() - received)
        await s.store.record_event("turn", session_id=session.id, message_id=answer_id, user_id=principal.user_id,
                                   lang=session.lang, data={"status": status, "mode": mode,
                                                            "citations": len(citations), **usage})
        log.info("turns.done", session_id=session.id, message_id=answer_id, status=status, mode=mode,
                 chars=len(text), seconds=round(time.perf_counter() - received, 3))


def step_frame(message_id: str, steps: Sequence[Step], index: int) -> protocol.Step:
    """The frame that shows ``steps[index]`` of the answer ``message_id``."""
    step = steps[index]
    return protocol.Step(message_id, step.step_id, index + 1, len(steps), step.text, step.citation)
