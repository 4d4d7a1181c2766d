"""One client socket as the hub sees it: its outbox, what it has been sent, the session it follows."""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import Iterator

from starlette.websockets import WebSocket

from core.logs import get_logger
from server import protocol
from server.auth import Principal
from server.chat.dictation import Recording
from server.chat.fanout import Subscription
from server.chat.transport import Flag
from server.observability import Metrics
from server.protocol import ConnectionFrame, dumps
from server.storage.store import SessionRow

log = get_logger("server.hub")


class Outbox:
    """The frames waiting to be written, oldest first: ``(seq or None, encoded frame)``. The buffer exists
    only while frames wait (an empty ``collections.deque`` still holds a 64-slot block)."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: collections.deque[tuple[int | None, str]] | None = None

    def append(self, item: tuple[int | None, str]) -> None:
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)

    def popleft(self) -> tuple[int | None, str]:
        if not self._items:
            raise IndexError("the outbox is empty")
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    def __len__(self) -> int:
        return len(self._items) if self._items else 0

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[tuple[int | None, str]]:
        return iter(self._items or ())


class Connection:
    """One client socket: a bounded outbox and the session it follows.

    Session frames are pushed by Fanout while the outbox has room. When it is full (the client reads
    slower than the answer streams) the connection falls *behind*: pushes are dropped and the send loop
    pulls the frames it has not written yet from the session's Redis stream, at the client's pace. So a
    slow or stalled client costs a bounded outbox, never an unbounded buffer, and still gets every frame
    exactly once, in order. A client that stops reading entirely is closed by the keepalive.
    """

    # slots and a lazily allocated outbox: an idle connection is mostly this object and the transport's
    __slots__ = ("ws", "metrics", "limit", "outbox", "wake", "behind", "pushed_seq", "written_seq", "principal",
                 "session", "subscription", "recording", "conn_id", "address", "tasks", "outcome", "guard", "closed")

    def __init__(self, ws: WebSocket, *, limit: int, metrics: Metrics) -> None:
        self.ws = ws
        self.metrics = metrics
        self.limit = limit
        self.outbox = Outbox()
        self.wake = Flag()
        self.behind = False
        self.pushed_seq = 0  # highest session seq put into the outbox
        self.written_seq = 0  # highest session seq written to the socket
        self.principal: Principal | None = None
        self.session: SessionRow | None = None
        self.subscription: Subscription | None = None
        self.recording = Recording()  # speech being received (audio_start .. audio_end)
        self.conn_id = uuid.uuid4().hex[:12]
        # the client's address (uvicorn takes it from X-Forwarded-For behind a trusted proxy): rate limits
        self.address = ws.client.host if ws.client else ""
        self.tasks: set[asyncio.Task[None]] = set()
        self.outcome: asyncio.Task[None] | None = None  # the last step outcome handed to the hub (hub.py)
        self.guard: asyncio.TimerHandle | None = None  # the token's next check (the hub's timer, not a task)
        self.closed = False  # the hub stopped serving it: no timer is armed again, no task is started

    def deliver(self, seq: int, frame: str) -> None:
        """Called by Fanout for each session frame; never blocks."""
        if self.behind or seq <= self.pushed_seq:
            return
        if sum(1 for s, _ in self.outbox if s is not None) >= self.limit:
            self.behind = True
            self.metrics.slow_clients.inc()
            log.warning("hub.client_behind", conn_id=self.conn_id, seq=seq)
            self.wake.set()
            return
        self.pushed_seq = seq
        self.outbox.append((seq, frame))
        self.wake.set()

    def send_local(self, frame: ConnectionFrame) -> None:
        """A connection-local frame (no seq): ready, pong, ack, transcript, errors about this client's frames."""
        self.metrics.frames_sent.labels(frame.TYPE).inc()
        if isinstance(frame, protocol.Error):
            self.metrics.protocol_errors.labels(frame.code).inc()
        self.outbox.append((None, dumps(frame)))
        self.wake.set()
