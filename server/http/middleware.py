"""What every HTTP request and WebSocket passes through: a request id bound to every log line,
the HTTP metrics, the access log (one JSON line per request and per WebSocket connection), the JSON
shape of errors, and the catch-all for errors nothing else handled."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import MutableMapping

import asyncpg
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from core.errors import AppError, RateLimited
from core.logs import get_logger
from server.observability import Metrics

log = get_logger("server.app")
access_log = get_logger("server.access")
ACCESS_LEVELS = ("debug", "info", "warning", "off")
# errors a PostgreSQL call raises (asyncpg's, a refused or dropped connection, a pool wait that timed out)
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError)
_OUT_OF_RANGE = re.compile(r"invalid input for query argument \$\d+: \d+ \(value out of int\d+ range\)")


def route_template(scope: Scope) -> str:
    """The route's path template (``/api/kb/documents/{document_id}``), never the concrete path."""
    route = scope.get("route")
    return route.path if isinstance(route, Route | WebSocketRoute) else "unmatched"


def _request_id(scope: Scope) -> str:
    state: MutableMapping[str, object] = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else ""


def _ids(scope: Scope) -> tuple[str, str]:
    """The request id and correlation id the client sent (each bounded), or a new id. A function of its
    own so that no copy of the headers stays referenced while a WebSocket is open."""
    request_id = correlation = ""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            request_id = value.decode(errors="replace")[:64]
        elif name == b"x-correlation-id":
            correlation = value.decode(errors="replace")[:64]
    request_id = request_id or uuid.uuid4().hex
    return request_id, correlation or request_id


async def app_error(request: Request, exc: Exception) -> Response:
    """An ``AppError`` as ``{"error": {"code", "message", "request_id"}}`` with its status."""
    assert isinstance(exc, AppError)
    headers = {"Retry-After": str(int(exc.retry_after) + 1)} if isinstance(exc, RateLimited) else None
    return JSONResponse({"error": {**exc.to_dict(), "request_id": _request_id(request.scope)}},
                        status_code=exc.status, headers=headers)


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method) in the same JSON shape as ours."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse({"error": {"code": code, "message": str(exc.detail), "request_id": _request_id(request.scope)}},
                        status_code=exc.status_code, headers=headers)


class RequestContext:
    """Pure ASGI middleware: a request id per request, bound to every log line; HTTP metrics; the
    access log; and the catch-all for errors nothing else handled (a JSON 500 naming the request id,
    the traceback logged once; a database error is also counted in ``abparts_db_errors_total``).

    The access log writes one line per HTTP request (``http.access``: method, route template, status,
    duration, bytes sent and received) and one per WebSocket connection when it ends (``ws.access``:
    route template, close code, duration, bytes each way), at ``access_level`` (``off``: none). It never
    holds the query string, headers, tokens or message text: only the fields named here."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_level: str = "info") -> None:
        if access_level not in ACCESS_LEVELS:
            raise ValueError(f"access_level must be one of {', '.join(ACCESS_LEVELS)}")
        self.app = app
        self.metrics = metrics
        self.access_level = access_level

    def _access(self, event: str, **fields: object) -> None:
        if self.access_level != "off":
            getattr(access_log, self.access_level)(event, **fields)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id, correlation = _ids(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=correlation)
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send, request_id, correlation)
            return
        started = time.perf_counter()
        status = 500
        response_started = False
        sent = received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started, sent
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except Exception as exc:
            if isinstance(exc, asyncpg.DataError) and not response_started and _OUT_OF_RANGE.search(str(exc)):
                # a numeric id in the path beyond any stored one (the routes take any digits): no such resource
                log.info("http.id_out_of_range", route=route_template(scope))
                await JSONResponse({"error": {"code": "not_found", "message": "no such resource",
                                              "request_id": request_id}}, status_code=404)(scope, receive, send_wrapper)
                return
            if isinstance(exc, DB_ERRORS):
                self.metrics.db_errors.labels("http").inc()
            log.error("http.unhandled_error", method=scope.get("method", ""), route=route_template(scope),
                      error=type(exc).__name__, detail=str(exc)[:300], exc_info=exc)
            if not response_started:
                body = {"error": {"code": "internal_error", "message": "the server hit an unexpected error",
                                  "request_id": request_id}}
                await JSONResponse(body, status_code=500)(scope, receive, send_wrapper)
        finally:
            name = route_template(scope)
            duration = time.perf_counter() - started
            self.metrics.http_requests.labels(scope.get("method", ""), name, str(status)).inc()
            self.metrics.http_latency.labels(name).observe(duration)
            self._access("http.access", method=scope.get("method", ""), route=name, status=status,
                         duration_ms=round(duration * 1000, 2), bytes_sent=sent, bytes_received=received,
                         request_id=request_id, correlation_id=correlation)
            structlog.contextvars.clear_contextvars()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, request_id: str, correlation: str) -> None:
        started = time.perf_counter()
        code: int | None = None  # the close code, from whichever side closed first
        accepted = False
        sent = received = 0

        async def receive_wrapper() -> Message:
            nonlocal code, received
            message = await receive()
            if message["type"] == "websocket.receive":
                received += len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
            elif message["type"] == "websocket.disconnect" and code is None:
                code = int(message.get("code", 1005))
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal code, accepted, sent
            if message["type"] == "websocket.accept":
                accepted = True
            elif message["type"] == "websocket.send":
                sent += len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
            elif message["type"] == "websocket.close" and code is None:
                code = int(message.get("code", 1000))
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except DB_ERRORS:
            self.metrics.db_errors.labels("websocket").inc()
            raise
        finally:
            self._access("ws.access", method="WEBSOCKET", route=route_template(scope),
                         close_code=code if code is not None else (1006 if accepted else 1011), accepted=accepted,
                         duration_ms=round((time.perf_counter() - started) * 1000, 2), bytes_sent=sent,
                         bytes_received=received, request_id=request_id, correlation_id=correlation)
            structlog.contextvars.clear_contextvars()


class WebSocketRoutes:
    """Pure ASGI middleware: the app's WebSocket routes are served right here, without passing through
    the HTTP-only middleware, the exception middleware and the router behind it (each of those would
    stay suspended in the stack of every open socket for its whole life: docs/performance.md, "Idle
    connections"). Placed just inside ``RequestContext``, so the request id, the access log and the
    database-error count still apply; a WebSocket to any other path goes on to the router (which
    refuses it). The route is recorded in the scope as the router does (the access log's template)."""

    def __init__(self, app: ASGIApp, routes: list[WebSocketRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.endpoint(WebSocket(scope, receive=receive, send=send))
                    return
        await self.app(scope, receive, send)
