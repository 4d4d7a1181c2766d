"""Retention: a job on the job queue deletes conversations older than RETENTION_DAYS.

A session not updated for that long is erased with everything hanging off it, exactly as an
erasure does (``Eraser.erase_sessions``); analytics events older than that go too. The job runs
every RETENTION_INTERVAL_SECONDS: each run queues the next one (one per time slot: the dedupe key
keeps replicas from queuing it twice), and every start-up queues the current slot's run in case
the chain was broken.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

import asyncpg

from core.logs import get_logger
from server.privacy.erasure import Erased, Eraser, row_count
from server.storage.jobs import JobQueue
from server.storage.store import Store

log = get_logger("server.retention")

JOB_NAME = "privacy.retention"
BATCH = 200


def slot_key(now: float, interval: float) -> str:
    """The dedupe key of the run due in the time slot containing ``now``."""
    return f"{JOB_NAME}-{int(now // max(interval, 1.0))}"


def cutoff(now: dt.datetime, days: int) -> dt.datetime:
    return now - dt.timedelta(days=days)


class Retention:
    def __init__(self, *, pool: asyncpg.Pool, store: Store, eraser: Eraser, jobs: JobQueue, days: int,
                 interval_seconds: float) -> None:
        self._pool = pool
        self._store = store
        self._eraser = eraser
        self._jobs = jobs
        self.days = days
        self.interval = interval_seconds

    def register(self) -> None:
        self._jobs.register(JOB_NAME, self._job)

    async def schedule(self) -> None:
        """Queue this slot's run (a no-op when one is queued already, or retention is off)."""
        if self.days <= 0:
            return
        await self._jobs.enqueue(JOB_NAME, {}, dedupe_key=slot_key(time.time(), self.interval))

    async def _job(self, payload: dict[str, Any]) -> None:
        try:
            await self.run()
        finally:
            next_at = time.time() + self.interval
            await self._jobs.enqueue(JOB_NAME, {}, delay=dt.timedelta(seconds=self.interval),
                                     dedupe_key=slot_key(next_at, self.interval))

    async def run(self, now: dt.datetime | None = None) -> Erased:
        """Erase what is older than the retention period now (in batches); returns the counts."""
        total = Erased()
        if self.days <= 0:
            return total
        limit = cutoff(now or dt.datetime.now(dt.UTC), self.days)
        while True:
            ids = [r[0] for r in await self._pool.fetch(
                "SELECT id FROM sessions WHERE updated_at < $1 ORDER BY updated_at LIMIT $2", limit, BATCH)]
            if not ids:
                break
            total.add(await self._eraser.erase_sessions(ids, live=False))
        total.events += row_count(await self._pool.execute("DELETE FROM analytics_events WHERE created_at < $1", limit))
        if total.sessions or total.events:
            await self._store.audit("system:retention", "privacy.retention", None,
                                    {"days": self.days, **dataclasses.asdict(total)})
        log.info("retention.run", days=self.days, sessions=total.sessions, events=total.events)
        return total
