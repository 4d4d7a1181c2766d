"""Frames published on this replica reach its connections at once, in order, exactly once; a
connection still catching up gets every frame from the streams, none skipped or doubled."""

from __future__ import annotations

import asyncio
import json

from server import protocol
from server.chat.fanout import Fanout, Subscription
from server.chat.sessions import SessionState
from server.observability import Metrics


async def wait_for(predicate, limit: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def texts(frames: list[tuple[int, str]]) -> list[tuple[int, str]]:
    return [(seq, json.loads(frame)["text"]) for seq, frame in frames]


async def test_local_frames_arrive_without_the_reader_and_a_late_reader_adds_nothing(redis_client) -> None:
    metrics = Metrics()
    fanout = Fanout(redis_client, metrics)
    state = SessionState(redis_client, ttl_seconds=600, max_frames=1000, metrics=metrics, published=fanout.published)
    live: list[tuple[int, str]] = []
    behind: list[tuple[int, str]] = []
    try:
        await state.publish("s1", protocol.Delta("a1", "before anyone followed"))  # seq 1
        await fanout.follow(Subscription("s1", 1, lambda seq, frame: live.append((seq, frame))))
        await fanout.follow(Subscription("s1", 0, lambda seq, frame: behind.append((seq, frame))))  # resuming from 0
        for n in range(2, 6):
            await state.publish("s1", protocol.Delta("a1", f"token {n}"))
        # the reader has not run: the live connection has every frame already, the one behind has none
        assert texts(live) == [(n, f"token {n}") for n in range(2, 6)]
        assert behind == []
        await fanout.start()
        await wait_for(lambda: len(behind) == 5)
        await state.publish("s1", protocol.Delta("a1", "token 6"))
        await wait_for(lambda: len(behind) == 6)
        await asyncio.sleep(0.3)  # time for the reader to (wrongly) hand out anything twice
        assert texts(behind) == [(1, "before anyone followed")] + [(n, f"token {n}") for n in range(2, 7)]
        assert texts(live) == [(n, f"token {n}") for n in range(2, 7)]  # nothing twice, nothing out of order
    finally:
        await fanout.stop()


async def test_frames_of_another_replica_come_through_the_reader(redis_client) -> None:
    metrics = Metrics()
    here = Fanout(redis_client, metrics)
    other = SessionState(redis_client, ttl_seconds=600, max_frames=1000, metrics=metrics)  # no local delivery here
    got: list[tuple[int, str]] = []
    await here.start()
    try:
        await here.follow(Subscription("s2", 0, lambda seq, frame: got.append((seq, frame))))
        for n in range(1, 4):
            await other.publish("s2", protocol.Delta("a2", f"remote {n}"))
        await wait_for(lambda: len(got) == 3)
        assert texts(got) == [(n, f"remote {n}") for n in range(1, 4)]
    finally:
        await here.stop()
