"""The fan-out's wake-ups and reads: sessions followed together cost one wake-up of the reader, none is
missed, and a frame costs a read of its own session only, however many idle sessions the replica follows."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis

from server import protocol
from server.chat.fanout import Fanout, Subscription
from server.chat.sessions import SessionState, stream_key
from server.observability import Metrics


async def publish_calls(redis: aioredis.Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


async def wait_for(predicate, limit: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def recorder(got: dict[str, list[tuple[int, str]]]):  # type: ignore[no-untyped-def]
    def sub(sid: str) -> Subscription:
        return Subscription(sid, 0, lambda seq, frame: got.setdefault(sid, []).append((seq, frame)))
    return sub


async def test_sessions_followed_at_once_wake_the_reader_once_and_all_get_their_frames(redis_client) -> None:
    fanout = Fanout(redis_client, Metrics())
    elsewhere = SessionState(redis_client, ttl_seconds=600, max_frames=1000)  # another replica's writes
    await fanout.start()
    try:
        got: dict[str, list[tuple[int, str]]] = {}
        sub = recorder(got)
        before = await publish_calls(redis_client)
        await asyncio.gather(*(fanout.follow(sub(f"s{i}")) for i in range(300)))
        assert await publish_calls(redis_client) - before == 1  # one wake-up for 300 follows, not 300
        await wait_for(lambda: fanout._listening and not fanout._due)
        for i in range(300):
            await elsewhere.publish(f"s{i}", protocol.Delta("a", f"frame {i}"))
        await wait_for(lambda: len(got) == 300)
        assert {sid: [seq for seq, _ in frames] for sid, frames in got.items()} == {f"s{i}": [1] for i in range(300)}

        # once the reader has looked at the followed sessions again, a new follow wakes it again, and gets its frames
        await wait_for(lambda: not fanout._poked)
        before = await publish_calls(redis_client)
        await fanout.follow(sub("late"))
        assert await publish_calls(redis_client) - before == 1
        await elsewhere.publish("late", protocol.Delta("a", "late frame"))
        await wait_for(lambda: "late" in got)
        assert [seq for seq, _ in got["late"]] == [1]
    finally:
        await fanout.stop()


async def test_a_frame_written_before_the_subscription_took_effect_is_read_once_it_has(redis_client) -> None:
    # no announcement reaches the reader for it (it was not listening yet): the read after the subscription
    # is confirmed finds it in the stream
    fanout = Fanout(redis_client, Metrics())
    fanout.sweep_interval = 3600.0  # not the periodic sweep
    await fanout.start()
    try:
        got: dict[str, list[tuple[int, str]]] = {}
        await redis_client.xadd(stream_key("early"), {"f": "written before"}, id="1-1")
        await fanout.follow(recorder(got)("early"))
        await wait_for(lambda: "early" in got)
        assert got["early"] == [(1, "written before")]
    finally:
        await fanout.stop()


async def test_a_frame_costs_a_read_of_its_own_session_whatever_the_idle_sessions(redis_client, redis_url) -> None:
    # Redis's MONITOR shows every XREAD the reader sends: with 1,000 idle sessions followed, the frames of
    # one busy session published elsewhere are read from that session's stream alone
    fanout = Fanout(redis_client, Metrics())
    fanout.sweep_interval = 3600.0
    elsewhere = SessionState(redis_client, ttl_seconds=600, max_frames=1000)
    got: dict[str, list[tuple[int, str]]] = {}
    sub = recorder(got)
    await fanout.start()
    watcher = aioredis.from_url(redis_url)
    reads: list[list[str]] = []

    async def watch(monitor) -> None:  # type: ignore[no-untyped-def]
        async for command in monitor.listen():
            words = str(command.get("command", "")).split()
            if words and words[0].upper() == "XREAD":
                reads.append(words)

    try:
        await asyncio.gather(*(fanout.follow(sub(f"idle{i}")) for i in range(1000)))
        await fanout.follow(sub("busy"))
        await wait_for(lambda: fanout._listening)
        await wait_for(lambda: not fanout._due)
        async with watcher.monitor() as monitor:
            task = asyncio.create_task(watch(monitor))
            await asyncio.sleep(0.2)
            for n in range(20):
                await elsewhere.publish("busy", protocol.Delta("a", f"token {n}"))
            await wait_for(lambda: len(got.get("busy", [])) == 20)
            await asyncio.sleep(0.2)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert [seq for seq, _ in got["busy"]] == list(range(1, 21))
        assert reads, "the frames came without a read of the stream"
        for words in reads:
            keys = [w.strip('"') for w in words if w.strip('"').startswith("abp:s:")]
            assert keys == [stream_key("busy")], words[:8]
        assert not any(sid.startswith("idle") for sid in got)
    finally:
        await watcher.aclose()
        await fanout.stop()


async def test_a_follow_that_cannot_wake_the_reader_is_refused_and_forgotten(redis_url: str) -> None:
    # Redis unreachable: follow() raises, keeps no subscription, and the next follow tries to wake it again
    broken = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    fanout = Fanout(broken, Metrics())
    try:
        for _ in range(2):
            try:
                await fanout.follow(Subscription("s", 0, lambda seq, frame: None))
            except Exception:  # noqa: BLE001 - a connection error of redis-py
                pass
            else:
                raise AssertionError("follow() succeeded without Redis")
            assert fanout.sessions == 0
    finally:
        await broken.aclose()


async def test_a_resume_from_behind_the_read_under_way_gets_every_frame_in_order(redis_client) -> None:
    # The reader is reading session s from seq 5 for a connection that has seen 5. A client resumes on this
    # replica from seq 2 (the frames 3-5 were lost with its old socket) while that read is under way: frame 6,
    # which the read returns, must not reach it before 3, 4 and 5; the next read starts at 2 and gives them.
    fanout = Fanout(redis_client, Metrics())  # the reader is not started: the reads are played by hand
    got: dict[str, list[int]] = {"old": [], "new": []}
    old = Subscription("s", 5, lambda seq, frame: got["old"].append(seq))
    await fanout.follow(old)
    read_from = fanout._cursor["s"]  # the read under way starts here
    new = Subscription("s", 2, lambda seq, frame: got["new"].append(seq))
    await fanout.follow(new)
    fanout._dispatch("s", 6, "frame 6", read_from)
    assert got == {"old": [6], "new": []}
    assert fanout._cursor["s"] == 2  # the next read starts where the resumed client is
    for seq in range(3, 8):
        fanout._dispatch("s", seq, f"frame {seq}", 2)
    assert got == {"old": [6, 7], "new": [3, 4, 5, 6, 7]}
    assert fanout._cursor["s"] == 7
