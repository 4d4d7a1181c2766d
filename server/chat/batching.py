"""Answer text to delta frames: as many tokens per frame as arrived while the last one was published."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

BUSY_TURNS = 8  # answers streaming on a replica above which delta frames are spaced
BUSY_FRAME_INTERVAL = 0.04  # seconds between an answer's delta frames then (a reader sees no difference)
CROWDED_TURNS = 64  # answers streaming on a replica above which they are spaced further
CROWDED_FRAME_INTERVAL = 0.1  # seconds between an answer's delta frames then (text still appears 10 times a second)


def frame_interval(running: int) -> float:
    """Seconds between an answer's delta frames with ``running`` answers streaming on the replica: none
    while few stream; with many, every frame costs a Redis call, a fan-out read and a WebSocket write,
    so the text of ``BUSY_FRAME_INTERVAL`` seconds (``CROWDED_FRAME_INTERVAL`` with more than
    ``CROWDED_TURNS`` answers) goes out as one frame."""
    if running > CROWDED_TURNS:
        return CROWDED_FRAME_INTERVAL
    return BUSY_FRAME_INTERVAL if running > BUSY_TURNS else 0.0


class DeltaBatcher:
    """Publishes answer text without waiting for Redis on every token.

    While one delta frame is being published, newly arrived text accumulates and goes out as the
    next frame. Idle, every token is its own frame (no added latency); under load, frames carry
    several tokens, so the per-frame cost (Redis, fan-out, WebSocket writes) stops growing with
    the token rate. ``interval`` (seconds, asked before each frame after the first) spaces the
    frames further: text arriving sooner than that after the last frame waits for the next one.
    The first frame never waits.
    """

    def __init__(self, publish: Callable[[str], Awaitable[None]], interval: Callable[[], float] | None = None) -> None:
        self._publish = publish
        self._interval = interval
        self._pending: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._last = 0.0  # when the last frame went out (monotonic); 0: none yet

    def add(self, text: str) -> None:
        self._pending.append(text)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            if self._interval is not None and self._last:
                wait = self._last + self._interval() - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            text = "".join(self._pending)
            self._pending.clear()
            self._last = time.monotonic()
            await self._publish(text)

    async def drain(self) -> None:
        """Wait until everything added so far is published (re-raises a publishing error)."""
        while self._task is not None and not (self._task.done() and not self._pending):
            if self._task.done():
                self._task = asyncio.create_task(self._flush())
            await self._task
        if self._task is not None:
            self._task.result()
