"""The WebSocket transport of an open socket: the trimmed uvicorn protocol keeps no handshake and no idle
buffers yet serves frames and keepalive; the service offers permessage-deflate only when configured."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.chat.transport import LeanWebSocketProtocol
from testkit.scripted_llm import free_port


def _echo() -> Starlette:
    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await ws.send_text(await ws.receive_text())

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


@contextlib.asynccontextmanager
async def _served() -> AsyncIterator[uvicorn.Server]:
    config = uvicorn.Config(_echo(), host="127.0.0.1", port=free_port(), ws=LeanWebSocketProtocol,
                            ws_per_message_deflate=False, lifespan="off", log_level="warning", ws_ping_interval=0.2,
                            ws_ping_timeout=5)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
                await asyncio.sleep(0.02)
        yield server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_an_open_socket_keeps_no_handshake_nor_buffers_and_still_works() -> None:
    async with _served() as server:
        url = f"ws://127.0.0.1:{server.config.port}/ws"
        async with websockets.connect(url) as ws:  # offers permessage-deflate, as browsers do
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None  # not accepted: off
            for n in range(3):
                await ws.send(json.dumps({"n": n}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"n": n}
            await asyncio.sleep(0.5)  # keepalive pings (every 0.2 s) are answered on the trimmed protocol
            protocols = [p for p in server.server_state.connections if isinstance(p, LeanWebSocketProtocol)]
            assert len(protocols) == 1
            proto = protocols[0]
            assert proto.request is None and proto.response is None  # the parsed handshake is gone
            assert proto.queue._items is None  # idle: no receive buffer
            assert proto.writable.is_set() and proto.writable._waiters is None
            assert proto.last_ping_rtt > 0  # a ping went out and its pong came back
            await ws.send("still open")
            assert await asyncio.wait_for(ws.recv(), 5) == "still open"
        async with asyncio.timeout(5):  # the close handshake completes and the protocol is released
            while any(isinstance(p, LeanWebSocketProtocol) for p in server.server_state.connections):  # noqa: ASYNC110
                await asyncio.sleep(0.05)


async def _negotiated(ws_url: str, token: str) -> str | None:
    async with websockets.connect(ws_url) as ws:  # the client offers permessage-deflate, as browsers do
        await ws.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
        return ws.response.headers.get("Sec-WebSocket-Extensions")


async def test_service_compresses_only_when_configured(settings_factory, running_server, make_token):
    async with running_server(settings_factory()) as srv:
        assert await _negotiated(srv.ws_url, make_token()) is None
    async with running_server(settings_factory(ws_per_message_deflate=True)) as srv:
        extensions = await _negotiated(srv.ws_url, make_token())
        assert extensions is not None and extensions.startswith("permessage-deflate")
