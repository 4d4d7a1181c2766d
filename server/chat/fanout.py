"""Per-replica forwarding of session frames from Redis to local WebSocket connections.

Every frame appended to a session's stream is announced on the session's note channel (its seq, in
the same script as the append: ``SessionState.publish``). One reader task per replica listens to every
note channel on one Redis connection (one pattern subscription), ignores the announcements of sessions
it has no socket for, and reads from the streams only the sessions whose frames it has not delivered
yet, each from where its connections are. So a frame costs the same whatever the number of idle
connections on the replica, and an idle connection costs no Redis state: before, one blocking XREAD
listed every followed session's stream, and each read (one per batch of frames) cost O(sessions) in
Redis and here (docs/performance.md). What it costs instead: every replica hears every frame's
announcement (a few dozen bytes, parsed and dropped by the replicas without its session), which a
deployment of a few replicas does not notice.

A frame published on this replica is handed to its local connections as soon as Redis has numbered
it (:meth:`Fanout.published`), without a read; a connection takes it only when it is the very next
frame it expects, so nothing is reordered or skipped: any other frame (from another replica, or one a
connection still catching up has not reached) comes through the reader, which skips what a
connection already has. A session's stream is also read when a socket follows it (frames published
since the caller's replay), for every followed session once the listening subscription is confirmed
(after a start or a reconnect: frames announced while nobody listened), and for every followed session
every ``sweep_interval`` seconds, with a PING on the listening connection: an announcement lost with
a broken connection delays a frame by that long at most, and a dead connection is noticed and replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from core.logs import get_logger
from server.chat.sessions import NOTE_PATTERN, frame_text, stream_key
from server.crypto.cipher import TextCipher
from server.observability import Metrics

log = get_logger("server.fanout")

Deliver = Callable[[int, str], None]  # (seq, encoded frame); must not block
READ_SESSIONS = 500  # sessions per XREAD (a sweep of 10,000 followed sessions is 20 reads)
READ_COUNT = 500  # frames per session per read; a session with more is read again at once


class Subscription:
    def __init__(self, session_id: str, after_seq: int, deliver: Deliver) -> None:
        self.session_id = session_id
        self.after_seq = after_seq
        self.deliver = deliver


class Fanout:
    def __init__(self, redis: aioredis.Redis, metrics: Metrics, cipher: TextCipher | None = None) -> None:
        self._redis = redis
        self._cipher = cipher  # opens frames sealed in the streams (SessionState.publish)
        self._metrics = metrics
        self._subs: dict[str, list[Subscription]] = {}
        self._cursor: dict[str, int] = {}
        self._wake_channel = f"abp:wake:{uuid.uuid4().hex}"
        self._task: asyncio.Task[None] | None = None
        self.sweep_interval = 5.0
        self.listen_timeout = 1.0  # longest wait for an announcement before the loop looks at its clock
        # a wake-up is on its way: the reader has not yet started the pass that will read the sessions
        # followed since (it clears this just before it looks), so a follow() need not poke again
        self._poked = False
        self._pubsub: Any = None  # the reader's listening connection (redis-py PubSub)
        self._listening = False  # Redis has confirmed the pattern subscription: every announcement comes
        self._due: set[str] = set()  # sessions to read from their cursor in the reader's next pass

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fanout.reader")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop_listener()

    async def follow(self, sub: Subscription) -> None:
        """Deliver frames with seq > sub.after_seq that arrive from now on (replay is the caller's)."""
        subs = self._subs.setdefault(sub.session_id, [])
        subs.append(sub)
        current = self._cursor.get(sub.session_id)
        self._cursor[sub.session_id] = sub.after_seq if current is None else min(current, sub.after_seq)
        self._due.add(sub.session_id)  # frames published since the caller's replay, before it followed
        try:
            await self._poke()
        except BaseException:
            await self.unfollow(sub)  # the caller refuses the connection: do not keep following for it
            raise

    def published(self, session_id: str, seq: int, frame: str) -> None:
        """A frame this replica just appended to ``session_id``'s stream: delivered at once to each
        local connection whose last frame is ``seq - 1``; the others get it from the reader."""
        subs = self._subs.get(session_id)
        if not subs:
            return
        for sub in list(subs):
            if sub.after_seq == seq - 1:
                sub.after_seq = seq
                sub.deliver(seq, frame)
        if all(s.after_seq >= seq for s in subs):
            self._cursor[session_id] = max(self._cursor.get(session_id, 0), seq)

    async def unfollow(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.session_id)
        if subs and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[sub.session_id]
                self._cursor.pop(sub.session_id, None)
                self._due.discard(sub.session_id)

    @property
    def sessions(self) -> int:
        return len(self._subs)

    async def _poke(self) -> None:
        if self._poked:
            return  # 1,000 sessions connecting at once cost one wake-up and one pass, not 1,000
        self._poked = True
        try:
            await self._redis.publish(self._wake_channel, "1")
        except BaseException:
            self._poked = False
            raise

    async def _drop_listener(self) -> None:
        pubsub, self._pubsub, self._listening = self._pubsub, None, False
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _listener(self) -> Any:
        if self._pubsub is None:
            pubsub: Any = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._wake_channel)
                await pubsub.psubscribe(NOTE_PATTERN)
            except BaseException:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            self._pubsub = pubsub
        return self._pubsub

    def _heard(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "pmessage":
            channel = message.get("channel")
            sid = (channel.decode() if isinstance(channel, bytes) else str(channel)).split(":")[2]
            cursor = self._cursor.get(sid)
            if cursor is None:
                return  # no socket for that session here
            try:
                seq = int(message["data"])
            except (TypeError, ValueError):
                return
            if seq > cursor:
                self._due.add(sid)  # not (yet) delivered here: published elsewhere, or a connection behind
        elif kind == "psubscribe":
            self._listening = True
            self._due.update(self._cursor)  # what was announced before anybody here listened
        # the wake-up channel, a pong, the wake-up's own subscription: the pass itself is what they ask for

    async def _run(self) -> None:
        backoff = 0.2
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self.sweep_interval
        while True:
            try:
                pubsub = await self._listener()
                self._poked = False  # sessions followed from here on may not be in this pass: they poke again
                # wait for an announcement unless a session is to be read (no read before the listening
                # subscription is confirmed: its confirmation makes every followed session due anyway)
                ready = self._listening and bool(self._due)
                wait = 0.0 if ready else max(0.0, min(self.listen_timeout, next_sweep - loop.time()))
                message = await pubsub.get_message(timeout=wait)
                while message is not None:  # everything already here, in one pass
                    self._heard(message)
                    message = await pubsub.get_message(timeout=0.0)
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + self.sweep_interval
                    await pubsub.ping()  # a dead listening connection fails here, and is replaced
                    self._due.update(self._cursor)
                if self._listening:
                    await self._read()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: keep trying, say so, count it
                self._metrics.redis_errors.labels("fanout").inc()
                log.error("fanout.read_failed", error=type(exc).__name__, detail=str(exc)[:200], retry_in=backoff)
                await self._drop_listener()
                await asyncio.sleep(backoff)
                # capped at 1 s: forwarding resumes within a second of Redis coming back (the cursors are
                # kept here, so nothing published meanwhile is skipped)
                backoff = min(backoff * 2, 1.0)

    async def _read(self) -> None:
        """Read the due sessions' streams from their cursors and hand out what their connections do not
        have yet."""
        if not self._due:
            return
        due = [sid for sid in self._due if sid in self._cursor]
        self._due.clear()
        for i in range(0, len(due), READ_SESSIONS):
            starts = {sid: self._cursor[sid] for sid in due[i:i + READ_SESSIONS] if sid in self._cursor}
            if not starts:
                continue
            try:
                result: Any = await self._redis.xread(
                    {stream_key(sid): f"{cursor}-1" for sid, cursor in starts.items()}, count=READ_COUNT)
            except BaseException:
                self._due.update(due[i:])  # read again in the next pass
                raise
            for key, entries in result or []:
                key_s = key.decode() if isinstance(key, bytes) else key
                sid = key_s.split(":")[2]
                for entry_id, fields in entries:
                    seq = int(entry_id.split(b"-")[0])
                    self._dispatch(sid, seq, frame_text(self._cipher, seq, fields[b"f"].decode()), starts.get(sid, 0))
                if len(entries) >= READ_COUNT:
                    self._due.add(sid)  # more than one read's worth: the rest in the next pass

    def _dispatch(self, sid: str, seq: int, frame: str, read_from: int) -> None:
        """Give ``seq`` to each subscription this read covers: one that has reached ``read_from``. A
        subscription that started behind it while the read was under way (a client resuming from an
        earlier seq on a replica that already follows the session) gets nothing from this read: the
        cursor stays at its position, so the next read starts there and it gets every frame, in order."""
        if sid not in self._cursor:
            return
        subs = self._subs.get(sid, [])
        for sub in list(subs):
            if sub.after_seq >= read_from and seq > sub.after_seq:
                sub.after_seq = seq
                sub.deliver(seq, frame)
        behind = [sub.after_seq for sub in subs if sub.after_seq < read_from]
        self._cursor[sid] = min(behind) if behind else max(self._cursor[sid], seq)
