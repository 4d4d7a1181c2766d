"""The trimmed WebSocket transport (server/chat/transport.py) and the connection's lazy outbox: what an idle
socket keeps, and that the replacements behave like what they replace."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from server.chat.connection import Outbox
from server.chat.transport import Flag, MessageQueue


async def test_flag_wakes_every_waiter_and_keeps_no_list_when_idle() -> None:
    flag = Flag()
    assert not flag.is_set()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert flag._waiters is None
    await asyncio.wait_for(flag.wait(), 1)  # set: returns at once
    flag.clear()
    pending = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    pending.cancel()  # a cancelled waiter leaves nothing behind
    with contextlib.suppress(asyncio.CancelledError):
        await pending
    assert not flag._waiters


async def test_message_queue_is_fifo_and_drops_its_buffer_when_drained() -> None:
    queue = MessageQueue()
    assert queue.empty() and queue._items is None
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert await asyncio.wait_for(getter, 1) == 1
    assert queue.qsize() == 1 and not queue.empty()
    assert await queue.get() == 2
    assert queue.empty() and queue._items is None


def test_outbox_is_fifo_and_allocates_only_while_frames_wait() -> None:
    outbox = Outbox()
    assert not outbox and len(outbox) == 0 and outbox._items is None
    outbox.append((1, "a"))
    outbox.append((None, "b"))
    assert outbox and len(outbox) == 2 and list(outbox) == [(1, "a"), (None, "b")]
    assert outbox.popleft() == (1, "a")
    assert outbox.popleft() == (None, "b")
    assert not outbox and outbox._items is None
    with pytest.raises(IndexError):
        outbox.popleft()


async def test_message_queue_serves_several_getters_in_turn() -> None:
    queue = MessageQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("a")
    queue.put_nowait("b")
    assert sorted(await asyncio.wait_for(asyncio.gather(first, second), 1)) == ["a", "b"]
    assert queue._getters is None and queue._items is None
