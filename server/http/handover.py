"""HTTP APIs of the handover to a person: take, hand back and close a ticket, and the live queue.

``GET /api/escalations/events`` is a server-sent event stream of the support queue (new tickets, taken,
handed back, closed, nobody took it in time), so the console never polls. The stream ends after
``STREAM_SECONDS`` (a console reconnects with ``Last-Event-ID`` and gets what it missed); between events
a comment every ``keepalive_seconds`` (under the Redis socket time-out, as each read blocks that long)
keeps proxies from closing it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from core.errors import BadRequest, DependencyUnavailable
from core.logs import get_logger
from server.auth import TokenVerifier, require_principal
from server.observability import Metrics
from server.support.escalation import Escalations
from server.support.handover import Handovers
from server.support.handover_queue import SupportQueue

log = get_logger("server.http.handover")

STREAM_SECONDS = 120.0
_EVENT_ID = re.compile(r"\d{1,20}-\d{1,20}")


def _ticket_id(request: Request) -> int:
    return int(request.path_params["escalation_id"])


class HandoverRoutes:
    """``/api/escalations/{id}/claim|release|close`` and ``/api/escalations/events`` (support role)."""

    def __init__(self, *, verifier: TokenVerifier, escalations: Escalations | None, handovers: Handovers | None,
                 queue: SupportQueue, metrics: Metrics, keepalive_seconds: float = 10.0) -> None:
        self._verifier = verifier
        self._keepalive = keepalive_seconds
        self._metrics = metrics
        self._escalations = escalations
        self._handovers = handovers
        self._queue = queue

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/escalations/events", self.events, methods=["GET"]),
            Route("/api/escalations/{escalation_id:int}/claim", self.claim, methods=["POST"]),
            Route("/api/escalations/{escalation_id:int}/release", self.release, methods=["POST"]),
            Route("/api/escalations/{escalation_id:int}/close", self.close, methods=["POST"]),
        ]

    def _handover(self) -> Handovers:
        if self._handovers is None or self._escalations is None:
            raise DependencyUnavailable("escalation", "escalation is not available")
        return self._handovers

    async def claim(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        return JSONResponse(await self._handover().claim(_ticket_id(request), principal))

    async def release(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        return JSONResponse(await self._handover().release(_ticket_id(request), principal))

    async def close(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        return JSONResponse(await self._handover().close(_ticket_id(request), principal))

    async def events(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        after = request.headers.get("last-event-id") or request.query_params.get("after") or ""
        if after and not _EVENT_ID.fullmatch(after):
            raise BadRequest("Last-Event-ID must be an id this stream sent", code="bad_event_id")
        start = after or await self._queue.last_id()
        log.info("handover.queue_follow", user=principal.user_id, after=start)
        return StreamingResponse(self._stream(start), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _stream(self, cursor: str) -> AsyncIterator[str]:
        yield f"retry: 1000\nevent: ready\nid: {cursor}\ndata: {{}}\n\n"
        deadline = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < deadline:
            try:
                events = await self._queue.read(cursor, block_seconds=self._keepalive)
            except Exception as exc:  # Redis away: end the stream; the console reconnects and lists the queue
                self._metrics.redis_errors.labels("support_queue").inc()
                log.error("handover.queue_read_failed", error=type(exc).__name__)
                yield "event: unavailable\ndata: {}\n\n"
                return
            if not events:
                yield ": keepalive\n\n"
                continue
            for ident, event in events:
                cursor = ident
                yield f"event: ticket\nid: {ident}\ndata: {json.dumps(event, default=str)}\n\n"
