"""DeltaBatcher: one frame per token while publishing keeps up, several tokens per frame when it does not."""

from __future__ import annotations

import asyncio

import pytest

from server.chat.batching import DeltaBatcher


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
