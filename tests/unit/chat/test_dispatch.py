"""Every client frame type has exactly one handler: the hub's table or the actions' table."""

from __future__ import annotations

import asyncio

import pytest

from server import protocol
from server.chat.actions import HANDLERS as ACTION_HANDLERS
from server.chat.dispatch import Handlers
from server.chat.hub import HUB_HANDLERS


def test_every_client_frame_is_handled_once() -> None:
    hub, actions = HUB_HANDLERS.kinds, ACTION_HANDLERS.kinds
    assert not hub & actions
    assert {k.TYPE for k in hub | actions} == set(protocol.CLIENT_FRAMES)
    assert {k.TYPE for k in hub} == {"hello", "message", "cancel", "ping", "audio_start", "audio_end", "audio_cancel"}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object, str]] = []


def test_a_table_calls_the_handler_of_the_frame_class() -> None:
    table: Handlers[Recorder, [str]] = Handlers()

    @table.on(protocol.Ping)
    async def on_ping(owner: Recorder, frame: protocol.Ping, who: str) -> None:
        owner.calls.append(("ping", frame, who))

    @table.on(protocol.Feedback)
    async def on_feedback(owner: Recorder, frame: protocol.Feedback, who: str) -> None:
        owner.calls.append(("feedback", frame.rating, who))

    owner = Recorder()
    asyncio.run(table.dispatch(owner, protocol.Feedback("up", "m1"), "alice"))
    asyncio.run(table.dispatch(owner, protocol.Ping(), "bob"))
    assert owner.calls == [("feedback", "up", "alice"), ("ping", protocol.Ping(), "bob")]
    assert table.handles(protocol.Ping()) and not table.handles(protocol.Cancel())
    with pytest.raises(protocol.ProtocolError) as caught:
        asyncio.run(table.dispatch(owner, protocol.Cancel(), "carol"))
    assert (caught.value.code, caught.value.message) == ("unknown_type", "frame type 'cancel' is not handled")


def test_a_frame_class_cannot_be_registered_twice() -> None:
    table: Handlers[Recorder, []] = Handlers()

    async def handler(owner: Recorder, frame: protocol.Ping) -> None:
        return None

    table.on(protocol.Ping)(handler)
    with pytest.raises(AssertionError, match="Ping is handled twice"):
        table.on(protocol.Ping)(handler)
