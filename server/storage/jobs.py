"""Background jobs on PostgreSQL (pgqueuer): ingestion, support notifications, retention.

Jobs survive restarts and outages: a failing job is retried with exponential backoff in the
database (``DatabaseRetryEntrypointExecutor``), so an SMTP or webhook outage delays a notification
but never loses it. Enqueue inside the caller's transaction (``conn=``) so a job exists exactly
when the row it is about exists.

The queue runs on the background pool (``DB_BACKGROUND_POOL_MAX``), never on the connections of the
request path; its LISTEN keeps one of them. ``stop`` ends within ``grace`` seconds plus a few: the
jobs still running then are cancelled (a cancelled ingestion leaves its version to be resumed) and
stay in the queue to be picked again after their heartbeat goes stale.
"""

from __future__ import annotations

import asyncio
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
        self._running: set[asyncio.Task[Any]] = set()

    def register(self, name: str, handler: Handler, *, max_attempts: int = 10, max_delay_seconds: float = 300) -> None:
        """Register ``handler(payload)`` for jobs called ``name``; an exception retries with backoff."""
        if name in self._handlers:
            raise ValueError(f"job {name!r} is already registered")
        self._handlers[name] = (handler, max_attempts, max_delay_seconds)

    async def install(self) -> None:
        """Create pgqueuer's tables once (idempotent, safe with several replicas starting)."""
        async with self._pool.acquire() as conn:
            # bounded like every wait: another replica installing holds it for milliseconds
            await conn.execute("SET lock_timeout = '60s'")
            await conn.execute("SELECT pg_advisory_lock(4242)")
            try:
                queries = Queries.from_asyncpg_connection(conn)
                if not await queries.schema_is_installed():
                    await queries.install()
                    log.info("jobs.schema_installed")
            finally:
                await conn.execute("SELECT pg_advisory_unlock(4242)")
                await conn.execute("RESET lock_timeout")

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
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await handler(payload)
            except asyncio.CancelledError:
                self._metrics.jobs.labels(name, "cancelled").inc()
                log.info("jobs.cancelled", job=name)
                raise
            except Exception as exc:
                self._metrics.jobs.labels(name, "failed").inc()  # an attempt failed; the queue retries it
                log.warning("jobs.failed", job=name, attempts=job.attempts, error=type(exc).__name__, detail=str(exc)[:300])
                raise
            finally:
                if task is not None:
                    self._running.discard(task)
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

    async def stop(self, grace: float = 3.0) -> None:
        """Stop taking jobs; let running ones finish for ``grace`` seconds, then cancel them."""
        if self._qm is not None:
            self._qm.shutdown.set()
        if self._task is not None:
            done, _ = await asyncio.wait([self._task], timeout=grace)
            if not done:
                running = list(self._running)
                log.info("jobs.cancelling", running=len(running))
                for job in running:
                    job.cancel()
                # cancelled jobs release what they hold (an ingestion its lease: at most a few seconds)
                done, _ = await asyncio.wait([self._task], timeout=5)
            if not done:
                self._task.cancel()
                await asyncio.wait([self._task], timeout=2)
            if self._task.done() and not self._task.cancelled() and self._task.exception() is not None:
                log.warning("jobs.worker_stopped_with_error", error=type(self._task.exception()).__name__)
        self._task = None
        self._qm = None
