"""The fan-out's wake-ups: sessions followed together cost one wake-up of the reader, none is missed."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from server.chat.fanout import Fanout, Subscription
from server.chat.sessions import stream_key
from server.observability import Metrics


async def xadd_calls(redis: aioredis.Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_xadd", {}).get("calls", 0))


async def wait_for(predicate, limit: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_sessions_followed_at_once_wake_the_reader_once_and_all_get_their_frames(redis_client) -> None:
    fanout = Fanout(redis_client, Metrics())
    await fanout.start()
    try:
        got: dict[str, list[tuple[int, str]]] = {}

        def sub(sid: str) -> Subscription:
            return Subscription(sid, 0, lambda seq, frame: got.setdefault(sid, []).append((seq, frame)))

        before = await xadd_calls(redis_client)
        await asyncio.gather(*(fanout.follow(sub(f"s{i}")) for i in range(300)))
        assert await xadd_calls(redis_client) - before == 1  # one wake-up for 300 follows, not 300
        for i in range(300):
            await redis_client.xadd(stream_key(f"s{i}"), {"f": f"frame {i}"}, id="1-1")
        await wait_for(lambda: len(got) == 300)
        assert got == {f"s{i}": [(1, f"frame {i}")] for i in range(300)}

        # once the reader has listed the sessions again, a new follow wakes it again, and gets its frames
        await wait_for(lambda: not fanout._poked)
        before = await xadd_calls(redis_client)
        await fanout.follow(sub("late"))
        assert await xadd_calls(redis_client) - before == 1
        await redis_client.xadd(stream_key("late"), {"f": "late frame"}, id="1-1")
        await wait_for(lambda: "late" in got)
        assert got["late"] == [(1, "late frame")]
    finally:
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
