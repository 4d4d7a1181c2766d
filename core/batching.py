"""Statements of many tasks in one round trip and one commit.

When hundreds of questions arrive or answers end at once, each ran its statements alone: a pool
connection, a round trip and a commit each, and at 500 answers the statements queued for the pool
for seconds, until some waited longer than ``DB_ACQUIRE_TIMEOUT_SECONDS`` and their answers failed
(docs/performance.md). Here a call is queued, and the calls queued while the previous batch was in
flight go out together: one connection, one round trip, one transaction. Idle, a call goes out at
once, alone.

``WriteBatcher`` runs a statement that returns nothing with ``executemany``. ``RowBatcher`` runs a
statement written over arrays (``unnest($1::text[], ...) WITH ORDINALITY``), one array per
argument, returning at most one row per call with its ordinal in the first column; a batch of one
runs the same statement, so there is one code path.

A batch is atomic; when PostgreSQL refuses it because of one call (a constraint, a row erased
meanwhile), each call of the batch is run again alone, so only the call at fault fails. A failure
to reach PostgreSQL (the pool's time-out, a lost connection) fails every call of the batch with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import asyncpg

MAX_CALLS = 500  # calls in one batch at most (the rest go in the next)

_R = TypeVar("_R")
_Item = tuple[Sequence[Any], "asyncio.Future[Any]"]


class _Batcher(Generic[_R]):
    def __init__(self, pool: asyncpg.Pool, sql: str, *, max_calls: int = MAX_CALLS) -> None:
        if max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        self._pool = pool
        self.sql = sql
        self._max = max_calls
        self._queue: list[_Item] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # batches run since start
        self.calls = 0  # calls in them

    async def _call(self, args: Sequence[Any]) -> _R:
        future: asyncio.Future[_R] = asyncio.get_running_loop().create_future()
        self._queue.append((args, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="db.batch")
        return await future

    async def _run(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:self._max], self._queue[self._max:]
                batch = [item for item in batch if not item[1].done()]  # a caller cancelled meanwhile: skip
                if batch:
                    await self._send(batch)
        finally:
            self._task = None
            for _, future in self._queue:  # only when this task itself was cancelled (shutdown)
                future.cancel()
            self._queue.clear()

    async def _send(self, batch: list[_Item]) -> None:
        try:
            async with self._pool.acquire() as conn:
                results = await self._run_batch(conn, [args for args, _ in batch])
        except asyncpg.PostgresError as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            for args, future in batch:  # one call spoilt the batch: each alone, so only it fails
                try:
                    async with self._pool.acquire() as conn:
                        result = (await self._run_batch(conn, [args]))[0]
                except Exception as alone:
                    _settle(future, error=alone)
                else:
                    _settle(future, result)
            return
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # PostgreSQL not reachable, no connection free in time: every call fails
            for _, future in batch:
                _settle(future, error=exc)
            return
        self.batches += 1
        self.calls += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)

    async def _run_batch(self, conn: asyncpg.Connection, calls: list[Sequence[Any]]) -> list[_R]:
        raise NotImplementedError


class WriteBatcher(_Batcher[None]):
    """Runs ``sql`` (a statement that returns nothing) for every ``execute(*args)``."""

    async def execute(self, *args: Any) -> None:
        await self._call(args)

    async def _run_batch(self, conn: asyncpg.Connection, calls: list[Sequence[Any]]) -> list[None]:
        if len(calls) == 1:
            await conn.execute(self.sql, *calls[0])
        else:
            await conn.executemany(self.sql, calls)
        return [None] * len(calls)


class RowBatcher(_Batcher["asyncpg.Record | None"]):
    """Runs ``sql``, written over one array per argument, for every ``fetchrow(*args)``: the row whose
    first column is the call's ordinal (from 1), or None."""

    async def fetchrow(self, *args: Any) -> asyncpg.Record | None:
        return await self._call(args)

    async def _run_batch(self, conn: asyncpg.Connection, calls: list[Sequence[Any]]) -> list[asyncpg.Record | None]:
        arrays = [list(column) for column in zip(*calls, strict=True)]
        rows = await conn.fetch(self.sql, *arrays)
        out: list[asyncpg.Record | None] = [None] * len(calls)
        for row in rows:
            out[row[0] - 1] = row
        return out


def _settle(future: asyncio.Future[Any], result: Any = None, *, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
