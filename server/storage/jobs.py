"""Background jobs on PostgreSQL (pgqueuer): ingestion, support notifications, retention.

Jobs survive restarts and outages: a failing job is retried with exponential backoff in the
database (``DatabaseRetryEntrypointExecutor``), so an SMTP or webhook outage delays a notification
but never loses it. Enqueue inside the caller's transaction (``conn=``) so a job exists exactly
when the row it is about exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
from pgqueuer import DatabaseRetryEntrypointExecutor, Queries, QueueManager
from pgqueuer.models import Job

from core.logs import get_logger
from server.observability import Metrics

Handler = Callable[[dict[str, Any]], Awaitable[None]]
log = get_logger("server.jobs")


class JobQueue:
    def __init__(self, pool: asyncpg.Pool, metrics: Metrics) -> None:
        self._pool = pool
        self._metrics = metrics
        self._handlers: dict[str, tuple[Handler, int, float]] = {}
        self._qm: QueueManager | None = None
        self._task: asyncio.Task[None] | None = None

    def register(self, name: str, handler: Handler, *, max_attempts: int = 10, max_delay_seconds: float = 300) -> None:
        """Register ``handler(payload)`` for jobs called ``name``; an exception retries with backoff."""
        if name in self._handlers:
            raise ValueError(f"job {name!r} is already registered")
        self._handlers[name] = (handler, max_attempts, max_delay_seconds)

    async def install(self) -> None:
        """Create pgqueuer's tables once (idempotent, safe with several replicas starting)."""
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(4242)")
            try:
                queries = Queries.from_asyncpg_connection(conn)
                if not await queries.schema_is_installed():
                    await queries.install()
                    log.info("jobs.schema_installed")
            finally:
                await conn.execute("SELECT pg_advisory_unlock(4242)")

    async def enqueue(self, name: str, payload: dict[str, Any], *, conn: asyncpg.Connection | None = None,
                      delay: timedelta | None = None, dedupe_key: str | None = None) -> None:
        body = json.dumps(payload).encode()
        queries = Queries.from_asyncpg_connection(conn) if conn is not None else Queries.from_asyncpg_pool(self._pool)
        await queries.enqueue(name, body, execute_after=delay, dedupe_key=dedupe_key,
                              on_conflict="skip" if dedupe_key else "raise")

    async def pending(self, name: str | None = None) -> int:
        """Jobs queued or running (for tests, /health and the admin API)."""
        sql = "SELECT count(*) FROM pgqueuer WHERE status IN ('queued', 'picked')"
        if name:
            return int(await self._pool.fetchval(sql + " AND entrypoint = $1", name))
        return int(await self._pool.fetchval(sql))

    def _wrap(self, name: str, handler: Handler) -> Callable[[Job], Awaitable[None]]:
        async def run(job: Job) -> None:
            payload = json.loads(job.payload) if job.payload else {}
            try:
                await handler(payload)
            except Exception as exc:
                self._metrics.jobs.labels(name, "retry").inc()
                log.warning("jobs.failed", job=name, attempts=job.attempts, error=type(exc).__name__, detail=str(exc)[:300])
                raise
            self._metrics.jobs.labels(name, "done").inc()

        return run

    async def start(self) -> None:
        """Start consuming jobs in this process (idempotent)."""
        if self._task is not None or not self._handlers:
            return
        qm = QueueManager(Queries.from_asyncpg_pool(self._pool))
        for name, (handler, attempts, max_delay) in self._handlers.items():
            qm.entrypoint(name, executor_factory=functools.partial(
                DatabaseRetryEntrypointExecutor, max_attempts=attempts, initial_delay=timedelta(seconds=1),
                max_delay=timedelta(seconds=max_delay)))(self._wrap(name, handler))
        self._qm = qm
        self._task = asyncio.create_task(self._run(qm), name="jobs.worker")

    async def _run(self, qm: QueueManager) -> None:
        backoff = 1.0
        while not qm.shutdown.is_set():
            try:
                await qm.run(dequeue_timeout=timedelta(seconds=2), batch_size=5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the worker reconnects with capped backoff and says so
                self._metrics.jobs.labels("worker", "crash").inc()
                log.error("jobs.worker_crashed", error=type(exc).__name__, detail=str(exc)[:300], retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def stop(self) -> None:
        if self._qm is not None:
            self._qm.shutdown.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        self._task = None
        self._qm = None
