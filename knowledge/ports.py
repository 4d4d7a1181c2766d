"""What the knowledge base needs from the application around it: somewhere to count and time its
work (metrics) and a queue to run ingestion in the background (jobs).

These are structural types: the service's Prometheus ``Metrics`` and its pgqueuer ``JobQueue``
satisfy them without knowing they exist, and the library never imports the service. Both are
optional; without them (the CLI) nothing is counted and ingestion runs inline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import asyncpg

JobPayload = dict[str, object]  # the JSON body of one job
JobHandler = Callable[[JobPayload], Awaitable[None]]


class Counter(Protocol):
    def inc(self, amount: float = 1) -> None:
        """Add ``amount``."""
        ...


class LabelledCounter(Protocol):
    def labels(self, *values: str) -> Counter:
        """The counter of one combination of label values."""
        ...


class Histogram(Protocol):
    def observe(self, amount: float) -> None:
        """Record one observation (seconds)."""
        ...


class Gauge(Protocol):
    def set(self, value: float) -> None:
        """Set the current value."""
        ...


class LabelledHistogram(Protocol):
    def labels(self, *values: str) -> Histogram:
        """The histogram of one combination of label values."""
        ...


@runtime_checkable
class BatchMetrics(Protocol):
    """The metrics a batcher updates (the service's ``Metrics`` has them)."""

    @property
    def query_batch_size(self) -> LabelledHistogram:
        """Texts per model call, by kind (``dense``, ``sparse``)."""
        ...

    @property
    def degraded(self) -> LabelledCounter:
        """Times a component fell back to a degraded mode (``query_batch``: a caller timed out)."""
        ...


class KnowledgeMetrics(Protocol):
    """The metrics the knowledge base updates."""

    @property
    def ingestion_jobs(self) -> LabelledCounter:
        """Finished ingestions by outcome (``ready``, ``failed``, ``superseded``, ``skipped``)."""
        ...

    @property
    def retrieval_latency(self) -> Histogram:
        """Seconds per search."""
        ...

    @property
    def kb_chunks(self) -> Gauge:
        """Chunks of the visible versions."""
        ...

    @property
    def degraded(self) -> LabelledCounter:
        """Times a component fell back to a degraded mode, by component (``knowledge``)."""
        ...


class JobQueue(Protocol):
    """A durable background job queue that retries a failing handler with backoff."""

    def register(self, name: str, handler: JobHandler) -> None:
        """Run ``handler(payload)`` for every job called ``name``."""
        ...

    async def enqueue(self, name: str, payload: JobPayload, *, conn: asyncpg.Connection | None = None,
                      dedupe_key: str | None = None) -> None:
        """Queue a job, inside the caller's transaction when ``conn`` is given; a second job with the
        same ``dedupe_key`` while the first is pending is skipped."""
        ...
