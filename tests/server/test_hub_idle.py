"""What an open, idle connection keeps in the hub: the receive loop runs in the socket's own ASGI task and
the token check is a loop timer, so only the send loop is a task of its own. The token's timer still renews
the connection's entry and still closes the socket at expiry; a failing send loop still ends the connection."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvicorn
import websockets

from core.settings import Settings
from server import __main__ as entry
from server.app import create_app
from server.chat import hub as hub_module
from server.chat.limits import subject_key
from testkit.scripted_llm import free_port
from testkit.wsclient import ChatClient

Factory = Callable[..., Settings]
Minter = Callable[..., str]


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The app on uvicorn in this event loop, with the service's own uvicorn options (its WebSocket transport)."""
    settings = settings.replace(port=free_port(), host="127.0.0.1")
    options = entry.uvicorn_options(settings)
    config = uvicorn.Config(functools.partial(create_app, settings), factory=True, lifespan="on", log_config=None,
                            **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
                if task.done():
                    task.result()
                    raise RuntimeError("the server stopped during start-up")
                await asyncio.sleep(0.05)
        yield f"ws://127.0.0.1:{settings.port}/ws"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def _connection_tasks() -> list[str]:
    return sorted(t.get_name().split(".")[1] for t in asyncio.all_tasks() if t.get_name().startswith("ws."))


def _stack(task: asyncio.Task[Any]) -> list[str]:
    """The coroutines a task is suspended in, outermost first."""
    names: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None and hasattr(coro, "cr_await"):
        names.append(coro.__qualname__)
        coro = coro.cr_await
    return names


async def _until(predicate: Any) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 - polling the task list
            await asyncio.sleep(0.02)


async def test_an_idle_connection_has_one_task_of_its_own_and_leaves_none(settings_factory: Factory,
                                                                          make_token: Minter) -> None:
    async with serving(settings_factory()) as ws_url:
        client = ChatClient(ws_url, make_token())
        await client.connect()
        await _until(lambda: _connection_tasks() == ["send"])  # no receive-loop task, no token-guard task
        # the receive loop is suspended in the socket's ASGI task, which passes through no HTTP-only layer
        stacks = [_stack(t) for t in asyncio.all_tasks() if "Hub._receive_loop" in _stack(t)]
        assert len(stacks) == 1
        assert "RequestContext._websocket" in stacks[0] and "Hub.endpoint" in stacks[0]
        skipped = ("Router.", "GZipMiddleware.", "ExceptionMiddleware.", "RateLimitMiddleware.", "CORSMiddleware.")
        assert not [name for name in stacks[0] if name.startswith(skipped)], stacks[0]
        await client.send({"type": "ping"})
        assert (await client.until("pong"))["type"] == "pong"  # the receive loop runs (in the ASGI task)
        assert _connection_tasks() == ["send"]
        await client.close()
        await _until(lambda: _connection_tasks() == [])


async def test_the_token_timer_renews_the_connection_entry(settings_factory: Factory, make_token: Minter,
                                                           redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "CONNECTION_REFRESH_SECONDS", 0.3)
    user = "renewed-" + uuid.uuid4().hex[:8]
    redis = aioredis.from_url(redis_url)
    key = f"abp:conns:{subject_key(user)}"
    try:
        async with serving(settings_factory()) as ws_url:
            client = ChatClient(ws_url, make_token(user))
            await client.connect()
            first = await redis.zrange(key, 0, -1, withscores=True)
            assert len(first) == 1
            await asyncio.sleep(1.2)  # several renewals
            again = await redis.zrange(key, 0, -1, withscores=True)
            assert len(again) == 1 and again[0][0] == first[0][0] and float(again[0][1]) > float(first[0][1])
            await client.send({"type": "ping"})
            assert (await client.until("pong"))["type"] == "pong"
            await client.close()
            await _until(lambda: _connection_tasks() == [])  # no renewal left running, no timer re-armed a task
            await asyncio.sleep(0.6)
            assert _connection_tasks() == []
    finally:
        await redis.aclose()


async def test_the_token_timer_closes_the_socket_at_expiry(settings_factory: Factory, make_token: Minter) -> None:
    async with serving(settings_factory(jwt_leeway_seconds=0)) as ws_url:
        client = ChatClient(ws_url, make_token(ttl=2))
        await client.connect()
        error = await client.until("error", timeout=30)
        assert error["code"] == "token_expired"
        assert client.ws is not None
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(client.ws.recv(), 30)
        assert client.ws.close_code == 4002
        await _until(lambda: _connection_tasks() == [])


async def test_a_failing_send_loop_ends_the_connection_with_internal_error(settings_factory: Factory,
                                                                          make_token: Minter,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    original = hub_module.Hub._write

    async def write(self: hub_module.Hub, conn: Any, frame: str) -> None:
        if '"pong"' in frame:
            raise RuntimeError("the socket writer broke")
        await original(self, conn, frame)

    monkeypatch.setattr(hub_module.Hub, "_write", write)
    async with serving(settings_factory()) as ws_url:
        client = ChatClient(ws_url, make_token())
        await client.connect()
        await client.send({"type": "ping"})
        error = await client.until("error", timeout=10)
        assert error["code"] == "internal_error"
        assert client.ws is not None
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(client.ws.recv(), 10)
        assert client.ws.close_code == 1011
        await _until(lambda: _connection_tasks() == [])
