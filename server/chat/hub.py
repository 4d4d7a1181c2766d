"""The WebSocket endpoint: authenticate, resume, a receive loop and a send loop per connection.

This is the only module that knows about WebSocket connections and disconnects. Answers are not
tied to a connection: a turn runs as a task of this replica (``TurnRunner``) and publishes its frames
to the session's Redis stream; every connection of that session, on any replica, follows the stream
through ``Fanout``. A client that drops and comes back with ``last_seq`` gets exactly the frames it
missed, then the live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.websockets import WebSocket, WebSocketDisconnect

from core.errors import AppError, AuthError, DependencyUnavailable, ForbiddenError, RateLimited
from core.logs import get_logger
from core.settings import Settings
from server import protocol
from server.auth import TokenExpired, TokenVerifier, origin_allowed
from server.chat.actions import Actions
from server.chat.connection import Connection
from server.chat.dictation import Dictation
from server.chat.dispatch import Handlers
from server.chat.fanout import Fanout, Subscription
from server.chat.limits import CONNECTION_REFRESH_SECONDS, FrameLimits
from server.chat.sessions import REDIS_DOWN, RedisUnavailable, SessionState
from server.chat.turns import TurnRunner
from server.observability import Metrics
from server.privacy.consent import ConsentRequired, Consents
from server.protocol import (
    PROTOCOL_VERSION,
    ClientFrame,
    Close,
    ProtocolError,
    dumps,
    parse_client_frame,
)
from server.protocol.codec import loads_bounded
from server.storage.store import Store
from server.support.machines import MachineSource
from server.tracing import Tracing
from server.voice.transcriber import Transcriber

log = get_logger("server.hub")

# the error code (and close 1013) of a hello or frame that meets a Redis outage: retry in a moment
UNAVAILABLE = "temporarily_unavailable"
UNAVAILABLE_TEXT = "the service is temporarily unavailable; try again in a few seconds"


# what staff attached to another user's session (support, admin) may send: keepalive and their typing
# indicator; their replies go through POST /api/escalations/{id}/reply, stored as theirs
ATTACHED_FRAMES: frozenset[type[ClientFrame]] = frozenset({protocol.Ping, protocol.Typing})

# client frame class -> the Hub method that handles it; every other client frame goes to Actions
HUB_HANDLERS: Handlers[Hub, [Connection]] = Handlers()


class Hub:
    """The WebSocket endpoint; the client frames it does not handle itself (``HUB_HANDLERS``) go to Actions."""

    def __init__(self, *, settings: Settings, metrics: Metrics, tracing: Tracing, verifier: TokenVerifier,
                 store: Store, state: SessionState, fanout: Fanout, turns: TurnRunner, actions: Actions,
                 machines: MachineSource, transcriber: Transcriber | None, consents: Consents) -> None:
        self.settings = settings
        self.consents = consents
        self.metrics = metrics
        self.tracing = tracing
        self.verifier = verifier
        self.store = store
        self.state = state
        self.fanout = fanout
        self.turns = turns
        self.actions = actions
        self.machines = machines
        self.dictation = Dictation(transcriber, default_max_bytes=settings.ws_max_audio_bytes)
        self.limits = FrameLimits(settings, state.redis, metrics, state.batch)
        self._sessions_here: dict[str, int] = {}
        self._write_timeout = max(2.0, 2 * settings.ws_ping_interval_seconds)
        # step outcomes being handled (planning the next step can wait on the model): beside the receive
        # loop, one at a time per connection, and finished even if the socket closes meanwhile
        self._outcomes: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        """At shutdown: the step outcomes still being handled finish (each is bounded by the model's
        time-out), so none is left half-applied."""
        if self._outcomes:
            await asyncio.gather(*list(self._outcomes), return_exceptions=True)

    async def endpoint(self, ws: WebSocket) -> None:
        settings = self.settings
        metrics = self.metrics
        await ws.accept()
        conn = Connection(ws, limit=settings.ws_send_queue_max, metrics=metrics)
        if not origin_allowed(settings, ws.headers.get("origin"), ws.headers.get("host")):
            metrics.ws_connects.labels("origin_forbidden").inc()
            await self._refuse(ws, "origin_forbidden", "this origin may not use the assistant", Close.ORIGIN_FORBIDDEN)
            return
        try:
            hello = await self._receive_hello(ws)
            await self._open_session(conn, hello)
        except _Refused as refused:
            metrics.ws_connects.labels(refused.code).inc()
            await self._refuse(ws, refused.code, refused.message, refused.close)
            return
        except (RedisUnavailable, RedisConnectionError, RedisTimeoutError) as exc:
            # Redis is away (restarting): the session cannot be opened or resumed now; the client waits a
            # moment and sends hello again (docs/protocol.md, close 1013)
            metrics.ws_connects.labels(UNAVAILABLE).inc()
            log.warning("hub.hello_unavailable", error=type(exc).__name__)
            await self._refuse(ws, UNAVAILABLE, UNAVAILABLE_TEXT, Close.TRY_AGAIN)
            return
        except DependencyUnavailable as exc:
            # PostgreSQL had no connection free in time, or is restarting: try again in a moment (close 1013)
            metrics.ws_connects.labels(exc.code).inc()
            log.warning("hub.hello_unavailable", error=exc.code)
            await self._refuse(ws, exc.code, exc.message, Close.TRY_AGAIN)
            return
        except WebSocketDisconnect:
            return
        metrics.ws_connects.labels("ok").inc()
        with self.tracing.connection(session_id=conn.session.id if conn.session else None):
            await self._serve(conn)

    async def _serve(self, conn: Connection) -> None:
        """The receive loop runs in the connection's own ASGI task, beside one send-loop task and the token's
        timer: an idle socket keeps two coroutines, not four (docs/performance.md, "Idle connections")."""
        if not await self._admit_connection(conn):
            return
        metrics = self.metrics
        metrics.ws_connections.inc()
        serving = asyncio.current_task()
        assert serving is not None
        self._guard(conn)
        sender = asyncio.create_task(self._send_loop(conn), name=f"ws.send.{conn.conn_id}")

        def sender_ended(task: asyncio.Task[None]) -> None:
            if not conn.closed and not task.cancelled():
                serving.cancel()  # the send loop failed: stop the receive loop (CancelledError below)

        sender.add_done_callback(sender_ended)
        try:
            failure: BaseException | None = None
            try:
                try:
                    await self._receive_loop(conn)
                finally:
                    conn.closed = True  # from here on, the send loop's end cancels nothing
            except asyncio.CancelledError:
                if not sender.done() or sender.cancelled() or sender.exception() is None:
                    raise  # cancelled from outside (shutdown), not by the send loop
                serving.uncancel()
                failure = sender.exception()
            except Exception as exc:
                failure = exc
            if isinstance(failure, (RedisUnavailable, *REDIS_DOWN)):
                # a Redis outage while this client was catching up: not our fault, not final
                log.warning("hub.connection_unavailable", conn_id=conn.conn_id, error=type(failure).__name__)
                with contextlib.suppress(Exception):
                    await conn.ws.send_text(dumps(protocol.Error(UNAVAILABLE, UNAVAILABLE_TEXT)))
                    await conn.ws.close(Close.TRY_AGAIN, "temporarily unavailable: reconnect and resume")
            elif failure is not None and not isinstance(failure, WebSocketDisconnect | ClientGone):
                # a fault of ours or of a dependency: say so, count it, tell the client to come back
                metrics.protocol_errors.labels("internal_error").inc()
                log.error("hub.connection_failed", conn_id=conn.conn_id, error=type(failure).__name__,
                          detail=str(failure)[:300], exc_info=failure)
                with contextlib.suppress(Exception):
                    await conn.ws.send_text(dumps(protocol.Error(
                        "internal_error", "the server hit an error; reconnect to continue")))
                    await conn.ws.close(Close.INTERNAL, "internal error: reconnect and resume")
        finally:
            conn.closed = True
            if conn.guard is not None:
                conn.guard.cancel()
                conn.guard = None
            metrics.ws_connections.dec()
            assert conn.principal is not None
            await self.limits.close_connection(conn.principal, conn.conn_id)
            if conn.subscription:
                await self.fanout.unfollow(conn.subscription)
            self._leave_session(conn)
            for task in (sender, *conn.tasks):
                task.cancel()
            for task in (sender, *conn.tasks):
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, ClientGone):
                    await task

    # -- opening
    async def _receive_hello(self, ws: WebSocket) -> protocol.Hello:
        settings = self.settings
        try:
            async with asyncio.timeout(settings.ws_hello_timeout_seconds):
                message = await ws.receive()
        except TimeoutError:
            raise _Refused("hello_timeout", "send hello first", Close.HELLO_TIMEOUT) from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            raise _Refused("protocol_error", "the first frame must be a hello text frame", Close.PROTOCOL_ERROR)
        if len(text.encode()) > settings.ws_max_frame_bytes:
            raise _Refused("frame_too_large", "frame too large", Close.TOO_BIG)
        try:
            frame = parse_client_frame(text, max_text_chars=settings.message_max_chars)
        except ProtocolError as exc:
            raise _Refused(exc.code, exc.message, Close.PROTOCOL_ERROR) from exc
        if not isinstance(frame, protocol.Hello):
            raise _Refused("protocol_error", "the first frame must be hello", Close.PROTOCOL_ERROR)
        return frame

    async def _open_session(self, conn: Connection, hello: protocol.Hello) -> None:
        try:
            await self.limits.hello(conn.address)  # before the token is even checked
            principal = await self.verifier.verify(hello.token)
            await self.limits.session(principal)  # each hello may open a session row: bounded per user
        except TokenExpired as exc:
            raise _Refused(exc.code, exc.message, Close.TOKEN_EXPIRED) from exc
        except AuthError as exc:
            raise _Refused(exc.code, exc.message, Close.TOKEN_INVALID) from exc
        except RateLimited as exc:
            raise _Refused(exc.code, exc.message, Close.RATE_LIMITED) from exc
        conn.principal = principal
        store, state = self.store, self.state
        session_id = hello.session_id
        resumed = False
        if session_id:
            session = await store.get_session(session_id)
            if session is None or (session.user_id != principal.user_id and not principal.has_role("support")):
                raise _Refused("session_unknown", "no such session for this user", Close.SESSION_UNKNOWN)
            await self._check_consent(session.user_id)
            if session.user_id != principal.user_id:  # a support agent attaching to a user's session
                await store.audit(principal.user_id, "session.attach", session.id, {"owner": session.user_id})
            resumed = True
        else:
            await self._check_consent(principal.user_id)
            machine_id = hello.machine_id
            if machine_id and not principal.may_use_machine(machine_id):
                machine_id = None
            session = await store.create_session(uuid.uuid4().hex, principal.user_id, principal.name,
                                                 hello.lang or principal.lang, machine_id)
            await store.record_event("session_started", session_id=session.id, user_id=principal.user_id,
                                     lang=session.lang)
        conn.session = session
        current = await state.seed_seq(session.id, session.last_seq)
        after = hello.last_seq if hello.last_seq is not None else 0
        after = min(after, current)
        first = await state.first_seq(session.id)
        history: list[dict[str, Any]] | None = None
        if current > 0 and (first is None or after < first - 1):
            # the frames the client misses are no longer in Redis: send the record from PostgreSQL instead
            history = await store.history(session.id)
            after = current
        machine = await self.machines.context(session.machine_id) if session.machine_id else None
        conn.send_local(protocol.Ready(
            protocol=PROTOCOL_VERSION, session_id=session.id, last_seq=current, resumed=resumed, lang=session.lang,
            user=principal.public(), machine=machine,
            limits={"message_max_chars": self.settings.message_max_chars,
                    "messages_per_minute": self.settings.messages_per_minute,
                    "max_frame_bytes": self.settings.ws_max_frame_bytes},
            machine_context=self.machines.enabled,
        ))
        if history is not None:
            conn.send_local(protocol.History(history, current, status=session.status))
        if resumed and after < current:
            self.metrics.replayed_frames.inc(current - after)
        conn.pushed_seq = conn.written_seq = after
        conn.subscription = Subscription(session.id, after, conn.deliver)
        await self.fanout.follow(conn.subscription)
        try:
            await self.turns.recover(session.id, session.lang)
        except BaseException:
            await self.fanout.unfollow(conn.subscription)  # refused: stop following for this connection
            conn.subscription = None
            raise
        self._sessions_here[session.id] = self._sessions_here.get(session.id, 0) + 1
        self.metrics.active_sessions.set(len(self._sessions_here))
        log.info("hub.session_open", session_id=session.id, conn_id=conn.conn_id, resumed=resumed, after_seq=after)

    async def _check_consent(self, user_id: str) -> None:
        """Nothing is stored for a user without the consent CONSENT_REQUIRED asks for (or who withdrew)."""
        try:
            await self.consents.require(user_id)
        except ConsentRequired as exc:
            raise _Refused(exc.code, exc.message, Close.CONSENT_REQUIRED) from exc

    async def _admit_connection(self, conn: Connection) -> bool:
        """Count the connection against WS_CONNECTIONS_PER_USER; over the cap it is refused (close 4029)."""
        assert conn.principal is not None
        if await self.limits.open_connection(conn.principal, conn.conn_id):
            return True
        if conn.subscription:
            await self.fanout.unfollow(conn.subscription)
        self._leave_session(conn)
        self.metrics.ws_connects.labels("too_many_connections").inc()
        limit = self.settings.ws_connections_per_user
        await self._refuse(conn.ws, "too_many_connections",
                           f"this user already has {limit} open connections; close one first", Close.RATE_LIMITED)
        return False

    def _guard(self, conn: Connection) -> None:
        """Close the socket with 4002 when its token stops being accepted (``exp`` plus JWT_LEEWAY_SECONDS):
        the token is not only checked at hello. Until then, keep the connection counted (its entry lapses
        unless renewed every CONNECTION_REFRESH_SECONDS). A loop timer, not a task: nothing waits meanwhile."""
        if conn.closed:
            return
        principal = conn.principal
        assert principal is not None
        left = principal.seconds_left(self.settings.jwt_leeway_seconds)
        if left > 0:
            conn.guard = asyncio.get_running_loop().call_later(min(left, CONNECTION_REFRESH_SECONDS),
                                                               self._guard_due, conn)
        else:
            conn.guard = None
            self._start(conn, self._expire(conn), "ws.expire")

    def _guard_due(self, conn: Connection) -> None:
        conn.guard = None
        if conn.closed:
            return
        assert conn.principal is not None
        if conn.principal.seconds_left(self.settings.jwt_leeway_seconds) > 0:
            self._start(conn, self._refresh(conn), "ws.refresh")
        else:
            self._start(conn, self._expire(conn), "ws.expire")

    async def _refresh(self, conn: Connection) -> None:
        assert conn.principal is not None
        try:
            await self.limits.refresh_connection(conn.principal, conn.conn_id)
        except (RedisUnavailable, RedisConnectionError, RedisTimeoutError) as exc:  # the entry lapses; still open
            log.warning("hub.refresh_unrecorded", conn_id=conn.conn_id, error=type(exc).__name__)
        self._guard(conn)  # the next check

    async def _expire(self, conn: Connection) -> None:
        log.info("hub.token_expired", conn_id=conn.conn_id)
        self.metrics.ws_connects.labels("token_expired_open").inc()
        conn.send_local(protocol.Error("token_expired", "the token has expired; reconnect with a new one to resume"))
        await asyncio.sleep(0.1)  # let the error frame go out first (the send loop writes it)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, ClientGone):  # the client may be gone already
            await conn.ws.close(Close.TOKEN_EXPIRED, "token expired: reconnect with a new token and resume")

    @staticmethod
    def _start(conn: Connection, work: Coroutine[Any, Any, None], name: str) -> None:
        """A short task of this connection: cancelled (and awaited) when the connection ends."""
        task = asyncio.create_task(work, name=f"{name}.{conn.conn_id}")
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)

    def _leave_session(self, conn: Connection) -> None:
        if conn.session is None:
            return
        sid = conn.session.id
        left = self._sessions_here.get(sid, 0) - 1
        if left <= 0:
            self._sessions_here.pop(sid, None)
        else:
            self._sessions_here[sid] = left
        self.metrics.active_sessions.set(len(self._sessions_here))

    async def _refuse(self, ws: WebSocket, code: str, message: str, close: int) -> None:
        self.metrics.protocol_errors.labels(code).inc()
        with contextlib.suppress(Exception):
            await ws.send_text(dumps(protocol.Error(code, message)))
            await ws.close(close, message[:120])

    # -- loops
    async def _send_loop(self, conn: Connection) -> None:
        assert conn.session is not None
        sid = conn.session.id
        while True:
            await conn.wake.wait()
            conn.wake.clear()
            while conn.outbox:
                seq, frame = conn.outbox.popleft()
                if seq is not None:
                    if seq <= conn.written_seq:
                        continue
                    conn.written_seq = seq
                await self._write(conn, frame)
            if conn.behind:
                await self._catch_up(conn, sid)

    async def _write(self, conn: Connection, frame: str) -> None:
        """Write one frame; a client that accepts nothing for two keepalive intervals is gone."""
        try:
            async with asyncio.timeout(self._write_timeout):
                await conn.ws.send_text(frame)
        except TimeoutError:
            self.metrics.protocol_errors.labels("write_timeout").inc()
            log.warning("hub.write_timeout", conn_id=conn.conn_id)
            raise WebSocketDisconnect(Close.GOING_AWAY) from None

    async def _catch_up(self, conn: Connection, sid: str) -> None:
        """Pull what the client missed from Redis, at the pace the socket accepts, then resume pushes."""
        state = self.state
        while True:
            first = await state.first_seq(sid)
            if first is not None and conn.written_seq < first - 1:
                # even Redis no longer has what this client needs: make it resume (it gets the history)
                await conn.ws.close(Close.TRY_AGAIN, "too far behind: reconnect and resume")
                raise WebSocketDisconnect(Close.TRY_AGAIN)
            frames = await state.replay(sid, conn.written_seq, count=100, limit=100)
            for seq, frame in frames:
                conn.written_seq = seq
                await self._write(conn, frame)
            if len(frames) < 100:
                break
        # switch back to pushes, then pull once more: frames published in between are not lost
        conn.pushed_seq = conn.written_seq
        conn.behind = False
        for seq, frame in await state.replay(sid, conn.written_seq, count=100, limit=100):
            conn.written_seq = seq
            await self._write(conn, frame)
        conn.pushed_seq = max(conn.pushed_seq, conn.written_seq)

    async def _receive_loop(self, conn: Connection) -> None:
        settings = self.settings
        while True:
            message = await conn.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            data = message.get("bytes")
            if data is not None:
                self._on_audio_bytes(conn, data)
                continue
            text = message.get("text") or ""
            if len(text.encode()) > settings.ws_max_frame_bytes:
                conn.send_local(protocol.Error("frame_too_large",
                                               f"frames are limited to {settings.ws_max_frame_bytes} bytes"))
                await asyncio.sleep(0.05)  # let the error frame go out first
                await conn.ws.close(Close.TOO_BIG, "frame too large")
                raise WebSocketDisconnect(Close.TOO_BIG)
            try:
                frame = parse_client_frame(text, max_text_chars=settings.message_max_chars)
                self.metrics.frames_received.labels(frame.TYPE).inc()
                if isinstance(frame, protocol.StepOutcome):
                    self._handle_outcome(conn, frame, text)
                else:
                    await self._dispatch(conn, frame)
            except AppError as exc:
                self._refuse_frame(conn, text, exc)
            except REDIS_DOWN as exc:
                self._frame_unavailable(conn, text, exc)

    def _refuse_frame(self, conn: Connection, text: str, exc: AppError) -> None:
        client_id = frame_client_id(text)  # so the client knows which of its messages was refused
        retry_after = round(exc.retry_after, 1) if isinstance(exc, RateLimited) else None
        conn.send_local(protocol.Error(exc.code, exc.message, client_id=client_id or None, retry_after=retry_after))

    def _frame_unavailable(self, conn: Connection, text: str, exc: BaseException) -> None:
        # Redis is away: this frame cannot be handled now; the socket stays open (ping still works)
        self.metrics.redis_errors.labels("frame").inc()
        log.warning("hub.frame_unavailable", conn_id=conn.conn_id, error=type(exc).__name__)
        client_id = frame_client_id(text)
        conn.send_local(protocol.Error(UNAVAILABLE, UNAVAILABLE_TEXT, client_id=client_id or None))

    def _handle_outcome(self, conn: Connection, frame: protocol.StepOutcome, text: str) -> None:
        """A step outcome, handled beside the receive loop: with a model the next step is planned first
        (up to LLM_TIMEOUT_SECONDS), and meanwhile ping, cancel and messages still flow. Outcomes of one
        connection are applied in the order they were sent."""
        previous = conn.outcome

        async def run() -> None:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            try:
                await self._dispatch(conn, frame)
            except AppError as exc:
                self._refuse_frame(conn, text, exc)
            except REDIS_DOWN as exc:
                self._frame_unavailable(conn, text, exc)
            except Exception:  # the socket's other frames must keep flowing; the failure is logged and counted
                log.exception("hub.outcome_failed", conn_id=conn.conn_id, step_id=frame.step_id)
                conn.send_local(protocol.Error("internal_error", "the step outcome could not be recorded; try again"))

        task = asyncio.create_task(run(), name=f"ws.outcome.{conn.conn_id}")
        conn.outcome = task
        self._outcomes.add(task)
        task.add_done_callback(self._outcomes.discard)

    async def _dispatch(self, conn: Connection, frame: ClientFrame) -> None:
        assert conn.session is not None and conn.principal is not None
        await self.limits.frame(conn.principal, conn.address, frame)  # every frame type has its budget
        if conn.session.user_id != conn.principal.user_id and type(frame) not in ATTACHED_FRAMES:
            # support or admin watching a user's session: nothing they send is stored as the user's
            raise ForbiddenError("you are attached to another user's conversation: reply from the support console",
                                 code="attached_read_only")
        if HUB_HANDLERS.handles(frame):
            await HUB_HANDLERS.dispatch(self, frame, conn)
        else:
            await self.actions.handle(conn.session, conn.principal, frame)

    @HUB_HANDLERS.on(protocol.Ping)
    async def _on_ping(self, frame: protocol.Ping, conn: Connection) -> None:
        conn.send_local(protocol.Pong(time.time()))

    @HUB_HANDLERS.on(protocol.Hello)
    async def _on_hello(self, frame: protocol.Hello, conn: Connection) -> None:
        raise ProtocolError("hello was already received", code="protocol_error")

    @HUB_HANDLERS.on(protocol.Message)
    async def _on_message(self, frame: protocol.Message, conn: Connection) -> None:
        assert conn.session is not None and conn.principal is not None
        conn.send_local(await self.turns.submit(conn.session, conn.principal, frame))

    @HUB_HANDLERS.on(protocol.Cancel)
    async def _on_cancel(self, frame: protocol.Cancel, conn: Connection) -> None:
        assert conn.session is not None
        await self.turns.cancel(conn.session.id)

    # -- voice
    @HUB_HANDLERS.on(protocol.AudioStart)
    async def _on_audio_start(self, frame: protocol.AudioStart, conn: Connection) -> None:
        self.dictation.begin(conn.recording, frame)
        watch = asyncio.create_task(self._watch_recording(conn, conn.recording.started),
                                    name=f"ws.audio_idle.{conn.conn_id}")
        conn.tasks.add(watch)
        watch.add_done_callback(conn.tasks.discard)

    async def _watch_recording(self, conn: Connection, started: float) -> None:
        """Drop a recording that receives no audio for AUDIO_IDLE_SECONDS: its buffer is not kept forever."""
        idle = self.settings.audio_idle_seconds
        recording = conn.recording
        while recording.audio is not None and recording.started == started:
            quiet = time.monotonic() - recording.last_audio
            if quiet >= idle:
                self.dictation.cancel(recording)
                conn.send_local(protocol.Error("audio_idle", f"no audio for {idle:g} s: the recording was dropped"))
                return
            await asyncio.sleep(idle - quiet)

    @HUB_HANDLERS.on(protocol.AudioCancel)
    async def _on_audio_cancel(self, frame: protocol.AudioCancel, conn: Connection) -> None:
        self.dictation.cancel(conn.recording)

    def _on_audio_bytes(self, conn: Connection, data: bytes) -> None:
        error = self.dictation.add(conn.recording, data)
        if error is not None:
            conn.send_local(error)

    @HUB_HANDLERS.on(protocol.AudioEnd)
    async def _on_audio_end(self, frame: protocol.AudioEnd, conn: Connection) -> None:
        assert conn.principal is not None
        if conn.recording.audio is not None:
            try:  # one transcription queue is shared by everyone: each user's share is bounded
                await self.limits.transcription(conn.principal)
            except RateLimited:
                self.dictation.cancel(conn.recording)
                raise
        recording = self.dictation.finish(conn.recording)
        if recording is None:
            return
        audio, start = recording
        assert conn.session is not None
        # transcription takes seconds: run it beside the receive loop so ping, cancel and messages still flow
        task = asyncio.create_task(self.dictation.transcribe(audio, lang=start.lang,  # None: the spoken language
                                                             fmt=start.format, send=conn.send_local))
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)


def frame_client_id(text: str) -> str | None:
    """The client_id of a (possibly invalid) message frame, so an error can name the message it refuses."""
    try:
        value = loads_bounded(text)
    except ProtocolError:
        return None
    cid = value.get("client_id") if isinstance(value, dict) else None
    return cid if isinstance(cid, str) and len(cid) <= 100 else None


try:  # the server's own "client went away while we were writing" error, where the server defines one
    from uvicorn.protocols.utils import ClientDisconnected as ClientGone
except ImportError:  # pragma: no cover - other ASGI servers
    class ClientGone(Exception):  # type: ignore[no-redef]
        pass


class _Refused(Exception):
    def __init__(self, code: str, message: str, close: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close = close
