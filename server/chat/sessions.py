"""Hot session state in Redis: the numbered frame stream, idempotency keys, turn leases, rate limits.

Every session frame gets the next ``seq`` and is appended to the session's Redis stream with the
stream id ``<seq>-1`` in one atomic script, so stream order is seq order on every replica. A
reconnecting client replays ``XRANGE (last_seq ...`` and then follows live frames; any replica can
publish (the one running the turn, a support agent's reply) and any replica can forward.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import DependencyUnavailable
from core.health import ComponentHealth, Status
from core.logs import get_logger
from server.chat.redis_batch import RedisBatcher
from server.crypto.cipher import SEALED_PREFIX, TextCipher
from server.observability import Metrics
from server.protocol import SessionFrame, dumps

log = get_logger("server.sessions")

_T = TypeVar("_T")
Published = Callable[[str, int, str], None]  # (session id, seq, encoded frame) just appended; must not block

# what a Redis outage looks like from here: refused or dropped connections, time-outs, and the
# LOADING reply of a Redis that is still reading its AOF (a subclass of ConnectionError in redis-py)
REDIS_DOWN: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
PUBLISH_ID_TTL = 600  # seconds a publish id is remembered: longer than any outage a publish waits through


class RedisUnavailable(DependencyUnavailable):
    """Redis did not come back within REDIS_OUTAGE_GRACE_SECONDS (or is down for a request that cannot wait)."""

    def __init__(self, message: str = "the service is temporarily unavailable; try again in a few seconds") -> None:
        super().__init__("redis", message, code="temporarily_unavailable")

# KEYS[3] remembers which seq a publish got, so a publish retried after Redis went away before it
# answered gets the same seq instead of a second copy of the frame. KEYS[4] is the session's note
# channel: the seq is announced there in the same atomic step (server/chat/fanout.py).
_PUBLISH = """
local done = redis.call('GET', KEYS[3])
if done then
  local frame = string.gsub(ARGV[1], '"seq":0', '"seq":' .. done, 1)
  return {tonumber(done), frame}
end
local seq = redis.call('INCR', KEYS[1])
local frame = string.gsub(ARGV[1], '"seq":0', '"seq":' .. seq, 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-1', 'f', frame)
redis.call('PUBLISH', KEYS[4], seq)
redis.call('SET', KEYS[3], seq, 'EX', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {seq, frame}
"""

_SEED_SEQ = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return redis.call('GET', KEYS[1])
"""


def stream_key(session_id: str) -> str:
    return f"abp:s:{session_id}:frames"


def note_channel(session_id: str) -> str:
    """The channel that announces each frame appended to the session's stream (its seq), in the same
    script as the append; the fan-out of every replica listens to all of them (``NOTE_PATTERN``)."""
    return f"abp:s:{session_id}:note"


NOTE_PATTERN = "abp:s:*:note"


def seq_key(session_id: str) -> str:
    return f"abp:s:{session_id}:seq"


CONTROL_CHANNEL = "abp:control"


def frame_text(cipher: TextCipher | None, seq: int, stored: str) -> str:
    """A frame as its session stream holds it, as a client gets it: opened when sealed, and numbered
    (a sealed frame keeps the ``"seq":0`` it was written with; the stream entry id is its seq)."""
    if cipher is None or not stored.startswith(SEALED_PREFIX):
        return stored
    return cipher.open(stored).replace('"seq":0', f'"seq":{seq}', 1)


class SessionState:
    """Redis operations on sessions; shared by every replica."""

    def __init__(self, redis: aioredis.Redis, *, ttl_seconds: int, max_frames: int,
                 metrics: Metrics | None = None, outage_grace_seconds: float = 20.0,
                 cipher: TextCipher | None = None, published: Published | None = None) -> None:
        self.redis = redis
        self.published = published  # told of every frame appended here (the fan-out's local delivery)
        self.cipher = cipher  # seals each frame in the stream (it holds the conversation) when a key is set
        self.ttl = ttl_seconds
        self.max_frames = max_frames
        self.metrics = metrics
        self.outage_grace = outage_grace_seconds
        # the calls of every turn (frames, leases, rate limits, idempotency keys) share pipelines: one
        # round trip carries what all the answers streaming on the replica queued meanwhile
        self.batch = RedisBatcher(redis)
        self._publish = redis.register_script(_PUBLISH)
        self._seed = redis.register_script(_SEED_SEQ)
        self.down_since: float | None = None  # monotonic time of the first failure of the current outage
        self.last_failure: tuple[float, str] | None = None  # (wall time, error) of the last failed call
        self.failures = 0  # Redis calls that failed since start
        self.waiting = 0  # publishes waiting for Redis to come back right now

    # -- outages
    def _failed(self, operation: str, exc: BaseException) -> None:
        self.failures += 1
        self.last_failure = (time.time(), f"{type(exc).__name__}: {str(exc)[:160]}")
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.error("sessions.redis_down", operation=operation, error=type(exc).__name__, detail=str(exc)[:200])
        if self.metrics is not None:
            self.metrics.redis_errors.labels(operation).inc()

    def _recovered(self) -> None:
        if self.down_since is not None:
            log.warning("sessions.redis_back", outage_seconds=round(time.monotonic() - self.down_since, 2))
            self.down_since = None

    async def _outlast(self, operation: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``call``, retrying while Redis is away for up to ``outage_grace`` seconds, then RedisUnavailable.

        Used for what must not be lost (frames, the end of a turn): the caller waits while Redis restarts.
        """
        started = time.monotonic()
        delay = 0.05
        while True:
            try:
                result = await call()
            except REDIS_DOWN as exc:
                self._failed(operation, exc)
                if time.monotonic() - started + delay > self.outage_grace:
                    log.error("sessions.redis_gave_up", operation=operation, waited=round(time.monotonic() - started, 1))
                    raise RedisUnavailable() from exc
                self.waiting += 1
                try:
                    await asyncio.sleep(delay)
                finally:
                    self.waiting -= 1
                delay = min(delay * 2, 0.5)  # Redis is usually back within seconds: retry often
                continue
            self._recovered()
            return result

    async def health(self) -> ComponentHealth:
        """Unhealthy when Redis does not answer a PING in time; degraded while frames wait for it."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(0.7):
                await self.redis.ping()
        except (TimeoutError, RedisConnectionError, RedisTimeoutError) as exc:
            return ComponentHealth("redis", Status.UNHEALTHY, (time.perf_counter() - started) * 1000,
                                   f"{type(exc).__name__}; {self.failures} failed calls since start"
                                   f"{f', {self.waiting} frames waiting' if self.waiting else ''}", critical=True)
        latency = (time.perf_counter() - started) * 1000
        if self.waiting:
            return ComponentHealth("redis", Status.DEGRADED, latency, f"{self.waiting} frames waiting to be published",
                                   critical=True)
        recent = self.last_failure is not None and time.time() - self.last_failure[0] < 60
        if recent or latency > 500:
            detail = "slow" if not recent else f"recovered; last failure {self.last_failure[1] if self.last_failure else ''}"
            return ComponentHealth("redis", Status.DEGRADED, latency, f"{detail}; {self.failures} failed calls since start",
                                   critical=True)
        return ComponentHealth("redis", Status.HEALTHY, latency, "", critical=True)

    async def seed_seq(self, session_id: str, last_seq_in_db: int) -> int:
        """Make sure the seq counter exists (it continues from PostgreSQL after Redis lost it)."""
        return int(await self._seed(keys=[seq_key(session_id)], args=[last_seq_in_db, self.ttl]))

    async def current_seq(self, session_id: str) -> int:
        value = await self.redis.get(seq_key(session_id))
        return int(value) if value else 0

    async def publish(self, session_id: str, frame: SessionFrame) -> tuple[int, str]:
        """Number the frame and append it to the session stream; returns (seq, encoded frame).

        While Redis is away the call waits (up to ``outage_grace`` seconds) and retries with the same
        publish id, so the frame is numbered exactly once when Redis is back; then RedisUnavailable.
        """
        body = dumps(frame, seq=0)  # the script puts the real seq in place of this 0, right after "type"
        if self.cipher is not None and self.cipher.enabled:
            body = self.cipher.seal(body)  # sealed, the seq is put in by whoever reads it (frame_text)
        keys = [seq_key(session_id), stream_key(session_id), f"abp:pub:{uuid.uuid4().hex}", note_channel(session_id)]
        args: list[str | int] = [body, self.max_frames, self.ttl, PUBLISH_ID_TTL]
        seq, encoded = await self._outlast("publish", lambda: self.batch.script(self._publish, keys, args))
        text = frame_text(self.cipher, int(seq), encoded.decode() if isinstance(encoded, bytes) else encoded)
        if self.published is not None:
            self.published(session_id, int(seq), text)
        return int(seq), text

    async def replay(self, session_id: str, after_seq: int, *, count: int = 1000,
                     limit: int | None = None) -> list[tuple[int, str]]:
        """Frames with seq > after_seq still in the stream (oldest first), at most ``limit``."""
        out: list[tuple[int, str]] = []
        start = f"({after_seq}-1" if after_seq > 0 else "-"
        while True:
            entries: Any = await self.redis.xrange(stream_key(session_id), min=start, max="+", count=count)
            for entry_id, fields in entries:
                seq = int(entry_id.split(b"-")[0])
                out.append((seq, frame_text(self.cipher, seq, fields[b"f"].decode())))
            if len(entries) < count or (limit is not None and len(out) >= limit):
                return out
            start = f"({entries[-1][0].decode()}"

    async def first_seq(self, session_id: str) -> int | None:
        entries: Any = await self.redis.xrange(stream_key(session_id), count=1)
        return int(entries[0][0].split(b"-")[0]) if entries else None

    # -- idempotency of client messages
    async def claim_client_id(self, session_id: str, client_id: str, message_id: str) -> str | None:
        """Record client_id -> message_id; returns the earlier message id if the client_id was seen."""
        key = f"abp:s:{session_id}:cid:{client_id}"
        def queue(pipe: Pipeline) -> None:
            pipe.set(key, message_id, nx=True, ex=self.ttl)
            pipe.get(key)

        claimed, existing = await self.batch.call(queue, 2)
        if claimed:
            return None
        return existing.decode() if existing else None

    # -- the running turn: a lease so a crashed replica's turn can be finalised by another
    async def start_turn(self, session_id: str, message_id: str, lease_seconds: float) -> bool:
        key = f"abp:s:{session_id}:turn"
        lease = json.dumps({"message_id": message_id, "started": time.time()})
        ok = await self.batch.call(lambda p: p.set(key, lease, nx=True, px=int(lease_seconds * 1000)))
        return bool(ok)

    async def renew_turn(self, session_id: str, lease_seconds: float) -> bool | None:
        """Extend the lease: True; False when there is no lease (ended, or expired); None when Redis is
        away (the next heartbeat tries again)."""
        try:
            return bool(await self.batch.call(lambda p: p.pexpire(f"abp:s:{session_id}:turn", int(lease_seconds * 1000))))
        except REDIS_DOWN as exc:
            self._failed("lease", exc)
            return None

    async def end_turn(self, session_id: str) -> None:
        key = f"abp:s:{session_id}:turn"
        await self._outlast("lease", lambda: self.batch.call(lambda p: p.delete(key)))

    async def running_turn(self, session_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(f"abp:s:{session_id}:turn")
        return json.loads(raw) if raw else None

    # -- rate limits (fixed one-minute windows, shared by every replica)
    async def hit_rate_limit(self, scope: str, subject: str, limit: int) -> float | None:
        """Count one hit; returns seconds to wait when over ``limit`` per minute, else None."""
        window = int(time.time() // 60)
        key = f"abp:rl:{scope}:{subject}:{window}"
        def queue(pipe: Pipeline) -> None:
            pipe.incr(key)
            pipe.expire(key, 61)

        count, _ = await self.batch.call(queue, 2)
        if count > limit:
            return 60 - (time.time() % 60)
        return None

    # -- erasure and retention (server.privacy.records.HotState)
    async def forget_session(self, session_id: str) -> int:
        """Delete every key of the session: frame stream, seq, client ids, turn lease."""
        return await self._delete_matching(f"abp:s:{_glob_escape(session_id)}:*")

    async def forget_user(self, user_id: str) -> int:
        """Delete the user's per-user keys (rate-limit counters of every scope)."""
        return await self._delete_matching(f"abp:rl:*:{_glob_escape(user_id)}:*")

    async def _delete_matching(self, pattern: str) -> int:
        deleted = 0
        batch: list[Any] = []
        async for key in self.redis.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(await self.redis.delete(*batch))
                batch = []
        if batch:
            deleted += int(await self.redis.delete(*batch))
        return deleted

    # -- control messages between replicas (cancel a turn running elsewhere)
    async def send_control(self, message: dict[str, Any]) -> None:
        await self.redis.publish(CONTROL_CHANNEL, json.dumps(message))


def _glob_escape(text: str) -> str:
    """``text`` matched literally in a Redis SCAN pattern."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
