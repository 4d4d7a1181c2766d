"""Hot session state in Redis: the numbered frame stream, idempotency keys, turn leases, rate limits.

Every session frame gets the next ``seq`` and is appended to the session's Redis stream with the
stream id ``<seq>-1`` in one atomic script, so stream order is seq order on every replica. A
reconnecting client replays ``XRANGE (last_seq ...`` and then follows live frames; any replica can
publish (the one running the turn, a support agent's reply) and any replica can forward.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis

from server.protocol import SessionFrame, dumps

_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
local frame = string.gsub(ARGV[1], '"seq":0', '"seq":' .. seq, 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-1', 'f', frame)
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


def seq_key(session_id: str) -> str:
    return f"abp:s:{session_id}:seq"


CONTROL_CHANNEL = "abp:control"


class SessionState:
    """Redis operations on sessions; shared by every replica."""

    def __init__(self, redis: aioredis.Redis, *, ttl_seconds: int, max_frames: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.max_frames = max_frames
        self._publish = redis.register_script(_PUBLISH)
        self._seed = redis.register_script(_SEED_SEQ)

    async def seed_seq(self, session_id: str, last_seq_in_db: int) -> int:
        """Make sure the seq counter exists (it continues from PostgreSQL after Redis lost it)."""
        return int(await self._seed(keys=[seq_key(session_id)], args=[last_seq_in_db, self.ttl]))

    async def current_seq(self, session_id: str) -> int:
        value = await self.redis.get(seq_key(session_id))
        return int(value) if value else 0

    async def publish(self, session_id: str, frame: SessionFrame) -> tuple[int, str]:
        """Number the frame and append it to the session stream; returns (seq, encoded frame)."""
        body = dumps(frame, seq=0)  # the script puts the real seq in place of this 0, right after "type"
        seq, encoded = await self._publish(keys=[seq_key(session_id), stream_key(session_id)],
                                           args=[body, self.max_frames, self.ttl])
        return int(seq), encoded.decode() if isinstance(encoded, bytes) else encoded

    async def replay(self, session_id: str, after_seq: int, *, count: int = 1000,
                     limit: int | None = None) -> list[tuple[int, str]]:
        """Frames with seq > after_seq still in the stream (oldest first), at most ``limit``."""
        out: list[tuple[int, str]] = []
        start = f"({after_seq}-1" if after_seq > 0 else "-"
        while True:
            entries: Any = await self.redis.xrange(stream_key(session_id), min=start, max="+", count=count)
            for entry_id, fields in entries:
                seq = int(entry_id.split(b"-")[0])
                out.append((seq, fields[b"f"].decode()))
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
        if await self.redis.set(key, message_id, nx=True, ex=self.ttl):
            return None
        existing: Any = await self.redis.get(key)
        return existing.decode() if existing else None

    # -- the running turn: a lease so a crashed replica's turn can be finalised by another
    async def start_turn(self, session_id: str, message_id: str, lease_seconds: int) -> bool:
        key = f"abp:s:{session_id}:turn"
        ok = await self.redis.set(key, json.dumps({"message_id": message_id, "started": time.time()}),
                                  nx=True, ex=lease_seconds)
        return bool(ok)

    async def renew_turn(self, session_id: str, lease_seconds: int) -> None:
        await self.redis.expire(f"abp:s:{session_id}:turn", lease_seconds)

    async def end_turn(self, session_id: str) -> None:
        await self.redis.delete(f"abp:s:{session_id}:turn")

    async def running_turn(self, session_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(f"abp:s:{session_id}:turn")
        return json.loads(raw) if raw else None

    # -- rate limits (fixed one-minute windows, shared by every replica)
    async def hit_rate_limit(self, scope: str, subject: str, limit: int) -> float | None:
        """Count one hit; returns seconds to wait when over ``limit`` per minute, else None."""
        window = int(time.time() // 60)
        key = f"abp:rl:{scope}:{subject}:{window}"
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, 61)
        count, _ = await pipe.execute()
        if count > limit:
            return 60 - (time.time() % 60)
        return None

    # -- control messages between replicas (cancel a turn running elsewhere)
    async def send_control(self, message: dict[str, Any]) -> None:
        await self.redis.publish(CONTROL_CHANNEL, json.dumps(message))
