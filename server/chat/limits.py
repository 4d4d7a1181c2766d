"""Rate limits of the service: every client frame type per user, every frame per address, open
connections per user; the same one-minute windows serve the HTTP routes (``server/http/ratelimit.py``).

Counters live in Redis (fixed one-minute windows, shared by every replica), keyed by a hash of the
user id or address so no identifier is stored there in clear. A refusal is ``RateLimited`` with the
seconds to wait: an ``error`` frame with ``retry_after`` on the socket, a 429 with ``Retry-After`` over
HTTP. When Redis cannot be reached the limits are not applied (the request goes on): that is logged,
counted as ``abparts_degraded_events_total{component="rate_limits"}`` and the rest of the service
reports the outage itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable, Mapping

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import RateLimited
from core.logs import get_logger
from core.settings import Settings, SettingsError
from server.auth import Principal
from server.chat.redis_batch import RedisBatcher
from server.observability import Metrics
from server.protocol import CLIENT_FRAMES, ClientFrame, Message

log = get_logger("server.limits")

WINDOW_SECONDS = 60
REDIS_TIMEOUT_SECONDS = 2.0
CONNECTION_LEASE_SECONDS = 90.0  # an entry of a connection that stopped refreshing (replica died) lapses
CONNECTION_REFRESH_SECONDS = 30.0

# Questions are limited by MESSAGES_PER_MINUTE where they are accepted (server/chat/turns.py), with the
# answer's language in the refusal; every other frame type has its row in WS_FRAME_LIMITS.
LIMITED_ELSEWHERE = frozenset({Message.TYPE})
# a recording sent to the transcriber counts against TRANSCRIPTIONS_PER_MINUTE, like POST /api/transcribe
TRANSCRIBE_SCOPE = "transcribe"

_OPEN_CONNECTION = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def subject_key(value: str) -> str:
    """What a counter is keyed by: a short hash of the user id or address."""
    return hashlib.sha256(value.encode()).hexdigest()[:20]


def parse_frame_limits(entries: Iterable[str]) -> dict[str, int]:
    """``WS_FRAME_LIMITS`` as {frame type: per minute}; every client frame type must be listed."""
    limits: dict[str, int] = {}
    for entry in entries:
        name, sep, count = entry.partition("=")
        name = name.strip()
        if not sep or name not in CLIENT_FRAMES or name in LIMITED_ELSEWHERE:
            raise SettingsError(f"WS_FRAME_LIMITS: {entry!r} is not <client frame type>=<count> "
                                f"(types: {', '.join(sorted(set(CLIENT_FRAMES) - LIMITED_ELSEWHERE))})")
        try:
            limits[name] = int(count)
        except ValueError:
            raise SettingsError(f"WS_FRAME_LIMITS: {entry!r}: the count must be a whole number") from None
    missing = set(CLIENT_FRAMES) - LIMITED_ELSEWHERE - set(limits)
    if missing:
        raise SettingsError(f"WS_FRAME_LIMITS: no limit for {', '.join(sorted(missing))}")
    return limits


class RateWindows:
    """Counts hits in fixed one-minute windows in Redis; ``hit`` refuses the first limit exceeded."""

    def __init__(self, redis: aioredis.Redis, metrics: Metrics, batch: RedisBatcher | None = None) -> None:
        self._batch = batch or RedisBatcher(redis)  # shared with the replica's other Redis calls when given
        self._metrics = metrics

    async def hit(self, checks: Iterable[tuple[str, str, int]]) -> None:
        """Count one hit on each (scope, subject, limit per minute); ``RateLimited`` if one is over its limit."""
        checks = [c for c in checks if c[1]]
        if not checks:
            return
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        keys = [f"abp:rl:{scope}:{subject_key(subject)}:{window}" for scope, subject, _ in checks]

        def queue(pipe: Pipeline) -> None:
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS + 1)

        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                counts = await self._batch.call(queue, 2 * len(keys))
        except (RedisConnectionError, RedisTimeoutError, TimeoutError) as exc:
            self._metrics.degraded.labels("rate_limits").inc()
            log.warning("limits.unavailable", error=type(exc).__name__, detail="rate limits not applied")
            return
        for i, (scope, _, limit) in enumerate(checks):
            if int(counts[2 * i]) > limit:
                self._metrics.rate_limited.labels(scope).inc()
                wait = WINDOW_SECONDS - (now % WINDOW_SECONDS)
                raise RateLimited(f"too many requests ({scope}: {limit} per minute); try again in {int(wait) + 1} s",
                                  retry_after=wait)


class FrameLimits:
    """The socket's limits: frames by type per user, all frames per address, connections per user."""

    def __init__(self, settings: Settings, redis: aioredis.Redis, metrics: Metrics,
                 batch: RedisBatcher | None = None) -> None:
        self._settings = settings
        self._redis = redis
        self._metrics = metrics
        self.windows = RateWindows(redis, metrics, batch)
        self.per_type: Mapping[str, int] = parse_frame_limits(settings.ws_frame_limits)
        self._open = redis.register_script(_OPEN_CONNECTION)

    async def hello(self, address: str) -> None:
        """Before the token is checked: the address's frame budget (a hello is a frame)."""
        await self.windows.hit([("ws_address", address, self._settings.ws_frames_per_minute_per_address)])

    async def session(self, principal: Principal) -> None:
        """After the token is checked: how many sessions (hellos) this user opens per minute."""
        await self.windows.hit([("ws_hello", principal.user_id, self.per_type["hello"])])

    async def frame(self, principal: Principal, address: str, frame: ClientFrame) -> None:
        """One frame after hello: its type's budget for the user, and the address's budget."""
        checks = [("ws_address", address, self._settings.ws_frames_per_minute_per_address)]
        if frame.TYPE not in LIMITED_ELSEWHERE:
            checks.append((f"ws_{frame.TYPE}", principal.user_id, self.per_type[frame.TYPE]))
        await self.windows.hit(checks)

    async def transcription(self, principal: Principal) -> None:
        await self.windows.hit([(TRANSCRIBE_SCOPE, principal.user_id, self._settings.transcriptions_per_minute)])

    # -- open connections per user (a sorted set of connection ids scored by when their entry lapses)
    def _connections_key(self, principal: Principal) -> str:
        return f"abp:conns:{subject_key(principal.user_id)}"

    async def open_connection(self, principal: Principal, conn_id: str) -> bool:
        """Count this connection; False when the user already holds WS_CONNECTIONS_PER_USER."""
        now = time.time()
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                ok = await self._open(keys=[self._connections_key(principal)],
                                      args=[now, now + CONNECTION_LEASE_SECONDS, conn_id,
                                            self._settings.ws_connections_per_user, int(CONNECTION_LEASE_SECONDS)])
        except (RedisConnectionError, RedisTimeoutError, TimeoutError) as exc:
            self._metrics.degraded.labels("rate_limits").inc()
            log.warning("limits.unavailable", error=type(exc).__name__, detail="connection cap not applied")
            return True
        if not ok:
            self._metrics.rate_limited.labels("ws_connections").inc()
        return bool(ok)

    async def refresh_connection(self, principal: Principal, conn_id: str) -> None:
        await self.open_connection(principal, conn_id)  # the same script renews its entry (it is already counted)

    async def close_connection(self, principal: Principal, conn_id: str) -> None:
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                await self._redis.zrem(self._connections_key(principal), conn_id)
        except (RedisConnectionError, RedisTimeoutError, TimeoutError) as exc:
            # the entry lapses by itself after CONNECTION_LEASE_SECONDS
            log.warning("limits.close_unrecorded", error=type(exc).__name__)
