"""Redis commands of many tasks in one round trip.

Every answer streaming on a replica publishes a frame several times a second, and every question
costs a few Redis calls before its turn starts. Sent one by one, each call takes a connection from
the pool for a whole round trip, and with hundreds of answers streaming on a busy event loop the
round trips queue for the pool: at 500 answers at once a publish waited a second on average and
questions waited seconds to start (docs/performance.md). Here a call is queued, and one pipeline
(no transaction) carries everything queued while the previous one was in flight: idle, a call goes
out at once, alone; busy, hundreds go out in one write and one read.

One pipeline is in flight at a time, so commands reach Redis in the order they were queued (a call
retried after Redis forgot its script goes in a later pipeline). A pipeline that fails because Redis
is away or slow (a connection error, a time-out) fails every call in it with that error; callers that
must outlast an outage retry (``SessionState._outlast``); publishes are idempotent by publish id. A
pipeline that fails for another reason (an argument redis-py cannot encode) is sent again call by
call, so only the call at fault fails, as in the PostgreSQL batches (``core/batching.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

Queue = Callable[[Pipeline], object]  # queues exactly ``count`` commands on the pipeline it is given

MAX_COMMANDS = 1000  # commands in one pipeline at most (the rest go in the next)


class RedisBatcher:
    def __init__(self, redis: aioredis.Redis, *, max_commands: int = MAX_COMMANDS) -> None:
        if max_commands < 1:
            raise ValueError("max_commands must be at least 1")
        self._redis = redis
        self._max = max_commands
        self._queue: list[tuple[Queue, int, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._loaded: set[str] = set()  # digests of the scripts Redis is known to have
        self._loading: dict[str, asyncio.Future[Any]] = {}  # script digest -> its load under way
        self.pipelines = 0  # pipelines sent since start
        self.commands = 0  # commands sent in them

    async def call(self, queue: Queue, count: int = 1) -> Any:
        """Queue ``count`` commands (``queue`` adds them to a pipeline) and wait for their replies: the
        reply, or the list of ``count`` replies; an error reply is raised."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((queue, count, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redis.batch")
        replies = await future
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies[0] if count == 1 else replies

    async def script(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run a registered script by its digest, loading it into Redis first (once, and again when
        Redis no longer knows it, as after a restart)."""
        if script.sha not in self._loaded:
            await self._load(script)
        try:
            return await self.call(lambda pipe: pipe.evalsha(script.sha, len(keys), *keys, *args))
        except NoScriptError:
            self._loaded.discard(script.sha)
            await self._load(script)
            return await self.call(lambda pipe: pipe.evalsha(script.sha, len(keys), *keys, *args))

    async def _load(self, script: AsyncScript) -> None:
        # callers that found it missing at the same time wait for one load and go on together (in one
        # pipeline), not one by one as a lock would let them through
        digest = script.sha
        loading = self._loading.get(digest)
        if loading is None:
            loading = self._loading[digest] = asyncio.ensure_future(self._redis.script_load(script.script))
            loading.add_done_callback(lambda _: self._loading.pop(digest, None))
        sha = await asyncio.shield(loading)  # a caller cancelled meanwhile does not cancel the others' load
        script.sha = sha
        self._loaded.add(sha)

    def _take(self) -> list[tuple[Queue, int, asyncio.Future[Any]]]:
        """The oldest queued calls, up to ``max_commands`` commands (at least one call)."""
        n = cut = 0
        while cut < len(self._queue) and (cut == 0 or n + self._queue[cut][1] <= self._max):
            n += self._queue[cut][1]
            cut += 1
        batch, self._queue = self._queue[:cut], self._queue[cut:]
        return batch

    async def _run(self) -> None:
        try:
            while self._queue:
                batch = [item for item in self._take() if not item[2].done()]  # a caller cancelled meanwhile: skip
                if batch:
                    await self._send(batch)
        finally:
            self._task = None
            for _, _, future in self._queue:  # only when this task itself was cancelled (shutdown)
                if not future.done():
                    future.cancel()
            self._queue.clear()

    async def _send(self, batch: list[tuple[Queue, int, asyncio.Future[Any]]]) -> None:
        pipe = self._redis.pipeline(transaction=False)  # holds a connection only inside execute(), which releases it
        try:
            for queue, _, _ in batch:
                queue(pipe)
            replies = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for _, _, future in batch:
                if not future.done():
                    future.cancel()
            raise
        except Exception as exc:
            if len(batch) > 1 and not isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
                for item in batch:  # one call spoilt the pipeline: each alone, so only it fails
                    await self._send([item])
                return
            for _, _, future in batch:  # Redis away or slow: each call gets the error
                if not future.done():
                    future.set_exception(exc)
            return
        self.pipelines += 1
        self.commands += len(replies)
        at = 0
        for _, count, future in batch:
            if not future.done():
                future.set_result(replies[at:at + count])
            at += count
