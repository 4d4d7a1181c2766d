"""uvicorn's sans-I/O WebSocket protocol, trimmed of what an open socket does not need after its handshake.

An idle connection is mostly transport state, so at thousands of sockets per replica each object kept
per socket counts (docs/performance.md, "Idle connections"). Compared with uvicorn's
``WebSocketsSansIOProtocol`` this keeps, per socket:

* no parsed handshake request and response once the handshake is done (the ASGI scope keeps the
  headers the app reads), instead of both for the socket's whole life;
* a receive queue that allocates its buffer only while messages wait, instead of an
  ``asyncio.Queue`` with three ring buffers;
* a writable flag whose waiter exists only while a send waits for the transport to drain, instead of
  an ``asyncio.Event`` with its own ring buffer.

One behaviour differs: a socket failed by the frame parser (a frame over the size limit, a malformed
frame) is closed lingering. uvicorn wrote the close frame and closed the socket at once, with the
rest of the client's frame still unread; the kernel then resets the connection instead of ending it,
which can discard the close frame before it is sent, and the client sees 1006 instead of the 1009
that tells it what was wrong (seen under load in the hostile-frames drill). Here the close frame is
followed by an end of stream, what the client still sends is read and dropped, and the socket is
closed when the client closes it or after ``LINGER_SECONDS``.

Everything else (framing, keepalive, close handshake, back-pressure) is uvicorn's. Selected by
``server.__main__.uvicorn_options`` as uvicorn's ``ws`` protocol class.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class Flag:
    """A set/clear flag that a coroutine can wait on (the part of ``asyncio.Event`` the protocol uses).

    No waiter list is allocated until someone waits while it is clear."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fut)
        try:
            await fut
        finally:
            if self._waiters is not None and fut in self._waiters:
                self._waiters.remove(fut)


class MessageQueue:
    """The unbounded queue of ASGI receive events (``put_nowait``/``get``/``empty``/``qsize``).

    uvicorn bounds it itself by pausing reads while a message waits. Neither the buffer nor the list of
    waiting getters is allocated while the socket is idle."""

    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: collections.deque[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        self._wake_one()

    def _wake_one(self) -> None:
        for getter in self._getters or ():
            if not getter.done():
                getter.set_result(None)
                return

    async def get(self) -> Any:
        while not self._items:
            getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except asyncio.CancelledError:
                if getter.done() and not getter.cancelled() and self._items:
                    self._wake_one_other(getter)  # it was woken, then cancelled: the item goes to the next
                raise
            finally:
                if self._getters is not None:
                    if getter in self._getters:
                        self._getters.remove(getter)
                    if not self._getters:
                        self._getters = None
        item = self._items.popleft()
        if not self._items:
            self._items = None  # an idle socket keeps no buffer
        return item

    def _wake_one_other(self, skip: asyncio.Future[None]) -> None:
        for getter in self._getters or ():
            if getter is not skip and not getter.done():
                getter.set_result(None)
                return


LINGER_SECONDS = 2.0  # longest a failed socket keeps reading (and dropping) what its client still sends


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O protocol with less state per open socket (see the module docstring)."""

    lingering = False  # set on a socket failed by the parser: incoming data is dropped until it closes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = MessageQueue()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # the handshake is answered: its parsed request and response are not needed any more (the ASGI
            # scope has its own copy of the headers). The parser generator of websockets keeps the request
            # object for the socket's life, so its headers are emptied rather than only dropped here.
            self.request.headers.clear()
            self.response.headers.clear()
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # the rest of a refused frame: dropped
        super().data_received(data)

    def handle_parser_exception(self) -> None:
        """The parser failed the connection (its close frame is ready to send): send it, end the stream,
        and linger before closing (see the module docstring)."""
        close = self.conn.close_sent
        code, reason = (close.code, close.reason) if close is not None else (1002, "")
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()  # after the close frame: the client reads it, then the end
        if self.read_paused:  # keep draining even while the app has not taken the disconnect yet
            self.read_paused = False
            self.transport.resume_reading()
        # uvicorn closes the socket when the app returns unless a close timer is pending: this is that timer
        # (cancelled when the client closes first)
        self.close_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)
