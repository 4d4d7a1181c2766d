"""DeltaBatcher: one frame per token while publishing keeps up, several tokens per frame when it does not."""

from __future__ import annotations

import asyncio

import pytest

from server.chat.batching import (
    BUSY_FRAME_INTERVAL,
    BUSY_TURNS,
    CROWDED_FRAME_INTERVAL,
    CROWDED_TURNS,
    DeltaBatcher,
    frame_interval,
)


class SlowPublisher:
    """Records each published text; each publish waits until the test lets it finish."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, text: str) -> None:
        await self.release.wait()
        self.published.append(text)


def test_idle_tokens_go_out_one_frame_each() -> None:
    async def run() -> list[str]:
        out: list[str] = []

        async def publish(text: str) -> None:
            out.append(text)

        batcher = DeltaBatcher(publish)
        for token in ("E04 ", "means ", "overload"):
            batcher.add(token)
            await batcher.drain()
        return out

    assert asyncio.run(run()) == ["E04 ", "means ", "overload"]


def test_tokens_arriving_during_a_publish_are_joined_in_order() -> None:
    async def run() -> list[str]:
        publisher = SlowPublisher()
        batcher = DeltaBatcher(publisher)
        batcher.add("a")
        await asyncio.sleep(0)  # the first publish starts and waits
        for token in ("b", "c", "d"):
            batcher.add(token)
        publisher.release.set()
        await batcher.drain()
        return publisher.published

    assert asyncio.run(run()) == ["a", "bcd"]


def test_drain_reraises_a_publishing_error() -> None:
    async def run() -> None:
        async def publish(text: str) -> None:
            raise ConnectionError("redis went away")

        batcher = DeltaBatcher(publish)
        batcher.add("x")
        await batcher.drain()

    with pytest.raises(ConnectionError, match="redis went away"):
        asyncio.run(run())


def test_drain_with_nothing_added_returns() -> None:
    async def publish(text: str) -> None:
        raise AssertionError("nothing to publish")

    asyncio.run(DeltaBatcher(publish).drain())


def test_an_interval_spaces_frames_but_not_the_first() -> None:
    # with an interval, text arriving right after a frame waits for the next one; the first text goes at once
    async def run() -> list[str]:
        out: list[str] = []

        async def publish(text: str) -> None:
            out.append(text)

        batcher = DeltaBatcher(publish, lambda: 0.2)
        batcher.add("first ")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        first = list(out)
        for token in ("a ", "b ", "c "):
            batcher.add(token)
            await asyncio.sleep(0.01)
        between = list(out)
        await batcher.drain()
        return [*first, "|", *between, "|", *out]

    assert asyncio.run(run()) == ["first ", "|", "first ", "|", "first ", "a b c "]


def test_a_zero_interval_keeps_one_frame_per_token() -> None:
    async def run() -> list[str]:
        out: list[str] = []

        async def publish(text: str) -> None:
            out.append(text)

        batcher = DeltaBatcher(publish, lambda: 0.0)
        for token in ("x ", "y ", "z "):
            batcher.add(token)
            await asyncio.sleep(0.001)
        await batcher.drain()
        return out

    assert asyncio.run(run()) == ["x ", "y ", "z "]


def test_frames_are_spaced_further_the_more_answers_stream() -> None:
    assert [frame_interval(n) for n in (0, 1, BUSY_TURNS)] == [0.0, 0.0, 0.0]
    assert frame_interval(BUSY_TURNS + 1) == frame_interval(CROWDED_TURNS) == BUSY_FRAME_INTERVAL
    assert frame_interval(CROWDED_TURNS + 1) == frame_interval(10_000) == CROWDED_FRAME_INTERVAL
    assert 0 < BUSY_FRAME_INTERVAL < CROWDED_FRAME_INTERVAL <= 0.1  # text still appears ten times a second
