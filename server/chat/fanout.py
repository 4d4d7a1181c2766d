"""Per-replica forwarding of session frames from Redis to local WebSocket connections.

One reader task per replica multiplexes every followed session stream in a single blocking XREAD
(plus a private wake-up stream, poked when the set of followed sessions changes), so 5,000 idle
connections cost no Redis connection each (71 KiB per idle connection in all, docs/performance.md).

A frame published on this replica is also handed to its local connections as soon as Redis has
numbered it (:meth:`Fanout.published`), without waiting for the reader's next XREAD; a connection
takes it only when it is the very next frame it expects, so nothing is reordered or skipped: any
other frame (from another replica, or one a connection still catching up has not reached) comes
through the reader, which skips what a connection already has.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from core.logs import get_logger
from server.chat.sessions import frame_text, stream_key
from server.crypto.cipher import TextCipher
from server.observability import Metrics

log = get_logger("server.fanout")

Deliver = Callable[[int, str], None]  # (seq, encoded frame); must not block


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
        self._wake_key = f"abp:wake:{uuid.uuid4().hex}"
        self._task: asyncio.Task[None] | None = None
        self.batch_pause = 0.01
        # a wake-up is on its way: the reader has not yet started the read that will include the sessions
        # followed since (it clears this just before it lists them), so a follow() need not poke again
        self._poked = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fanout.reader")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._redis.delete(self._wake_key)

    async def follow(self, sub: Subscription) -> None:
        """Deliver frames with seq > sub.after_seq that arrive from now on (replay is the caller's)."""
        subs = self._subs.setdefault(sub.session_id, [])
        subs.append(sub)
        current = self._cursor.get(sub.session_id)
        self._cursor[sub.session_id] = sub.after_seq if current is None else min(current, sub.after_seq)
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

    @property
    def sessions(self) -> int:
        return len(self._subs)

    async def _poke(self) -> None:
        if self._poked:
            return  # 1,000 sessions connecting at once cost one wake-up and one new read, not 1,000
        self._poked = True
        try:
            await self._redis.xadd(self._wake_key, {"w": "1"}, maxlen=10, approximate=True)
        except BaseException:
            self._poked = False
            raise

    async def _run(self) -> None:
        backoff = 0.2
        wake_id = "$"
        while True:
            try:
                self._poked = False  # sessions followed from here on are not in this read: they poke again
                streams: dict[Any, Any] = {self._wake_key: wake_id}
                starts = dict(self._cursor)  # where this read starts in each session's stream
                for sid, cursor in starts.items():
                    streams[stream_key(sid)] = f"{cursor}-1"
                result: Any = await self._redis.xread(streams, block=2000, count=500)
                backoff = 0.2
                for key, entries in result or []:
                    key_s = key.decode() if isinstance(key, bytes) else key
                    if key_s == self._wake_key:
                        wake_id = entries[-1][0].decode()
                        continue
                    sid = key_s.split(":")[2]
                    for entry_id, fields in entries:
                        seq = int(entry_id.split(b"-")[0])
                        self._dispatch(sid, seq, frame_text(self._cipher, seq, fields[b"f"].decode()), starts.get(sid, 0))
                if result and len(self._cursor) > 8:
                    # with many sessions following, one XREAD per frame would cost O(sessions) each time in
                    # Redis and here; a short pause lets frames of many sessions arrive in one read
                    await asyncio.sleep(self.batch_pause)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: keep trying, say so, count it
                self._metrics.redis_errors.labels("fanout").inc()
                log.error("fanout.read_failed", error=type(exc).__name__, detail=str(exc)[:200], retry_in=backoff)
                await asyncio.sleep(backoff)
                # capped at 1 s: forwarding resumes within a second of Redis coming back (the cursors are
                # kept here, so nothing published meanwhile is skipped)
                backoff = min(backoff * 2, 1.0)

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
