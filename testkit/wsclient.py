"""A small protocol client over the real ``websockets`` library, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import uuid
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


class Refused(AssertionError):
    """The server answered hello with an error frame (and closed the socket with ``close_code``)."""

    def __init__(self, frame: dict[str, Any], close_code: int | None) -> None:
        super().__init__(f"hello refused: {frame} (close {close_code})")
        self.frame = frame
        self.code = frame.get("code")
        self.close_code = close_code


class ChatClient:
    """One protocol session over a real socket; ``ssl_context`` is for wss:// URLs."""

    def __init__(self, ws_url: str, token: str, *, origin: str | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.ws_url = ws_url
        self.token = token
        self.origin = origin
        self.ssl_context = ssl_context
        self.ws: ClientConnection | None = None
        self.session_id: str | None = None
        self.last_seq = 0
        self.frames: list[dict[str, Any]] = []  # every frame received, in order
        self.ready: dict[str, Any] | None = None

    async def connect(self, *, session_id: str | None = None, last_seq: int | None = None, max_queue: int = 16,
                      **hello: Any) -> dict[str, Any]:
        # websockets refuses ssl=None for wss:// (it builds a default context only when ssl is absent)
        tls: dict[str, Any] = {"ssl": self.ssl_context} if self.ssl_context is not None else {}
        self.ws = await websockets.connect(self.ws_url, origin=self.origin, max_size=2**22,  # type: ignore[arg-type]
                                           max_queue=max_queue, **tls)
        await self.send({"type": "hello", "v": 1, "token": self.token, "session_id": session_id, "last_seq": last_seq, **hello})
        ready = await self.recv()
        if ready["type"] == "error":
            ws, self.ws = self.ws, None
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except (websockets.ConnectionClosed, TimeoutError):
                pass
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)
            raise Refused(ready, ws.close_code)
        if ready["type"] != "ready":
            raise AssertionError(f"expected ready, got {ready}")
        self.ready = ready
        self.session_id = ready["session_id"]
        return ready

    async def resume(self) -> dict[str, Any]:
        return await self.connect(session_id=self.session_id, last_seq=self.last_seq)

    async def resume_retrying(self, *, timeout: float = 30, pause: float = 0.2) -> tuple[dict[str, Any], int]:  # noqa: ASYNC109
        """Resume, again and again while the server says "try again" (close 1013: Redis restarting, no
        PostgreSQL connection free in time), as the widget does.

        Returns the ready frame and how many hellos were refused first; another refusal is raised.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        refused = 0
        while True:
            try:
                return await self.resume(), refused
            except Refused as exc:
                if exc.close_code != 1013 or loop.time() > deadline:
                    raise
                refused += 1
            except OSError:  # the replica itself is not reachable (yet)
                if loop.time() > deadline:
                    raise
                refused += 1
            await asyncio.sleep(pause)

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(frame))

    async def ask(self, text: str, client_id: str | None = None, **extra: Any) -> str:
        client_id = client_id or uuid.uuid4().hex
        await self.send({"type": "message", "client_id": client_id, "text": text, **extra})
        return client_id

    # a per-call timeout is this client's API: tests wait for different frames for different times
    async def recv(self, timeout: float = 20) -> dict[str, Any]:  # noqa: ASYNC109
        assert self.ws is not None
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: dict[str, Any] = json.loads(raw)
        self.frames.append(frame)
        if "seq" in frame and frame["seq"] is not None:
            if frame["seq"] != self.last_seq + 1 and self.last_seq:
                raise AssertionError(f"seq gap or duplicate: got {frame['seq']} after {self.last_seq}")
            self.last_seq = frame["seq"]
        return frame

    async def until(self, kind: str, timeout: float = 20, **match: Any) -> dict[str, Any]:  # noqa: ASYNC109
        """Receive until a frame of ``kind`` (matching ``match``) arrives; returns it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = len(self.frames)
        while True:
            try:
                frame = await self.recv(max(0.05, deadline - loop.time()))
            except TimeoutError:
                got = [f"{f['type']}({f.get('code', '')})" if f["type"] == "error" else f["type"]
                       for f in self.frames[seen:]]
                raise AssertionError(f"no {kind} frame{' matching ' + repr(match) if match else ''} within "
                                     f"{timeout:g} s; received meanwhile: {got or 'nothing'}") from None
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    def answer_text(self, message_id: str) -> str:
        return "".join(f["text"] for f in self.frames if f["type"] == "delta" and f["message_id"] == message_id)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a network cut)."""
        if self.ws is not None:
            self.ws.transport.abort()
            self.ws = None
