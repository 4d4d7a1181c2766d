"""What every HTTP request and WebSocket passes through: a request id bound to every log line,
the HTTP metrics, the JSON shape of errors, and the catch-all for errors nothing else handled."""

from __future__ import annotations

import time
import uuid
from collections.abc import MutableMapping

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import AppError, RateLimited
from core.logs import get_logger
from server.observability import Metrics

log = get_logger("server.app")


def _request_id(scope: Scope) -> str:
    state: MutableMapping[str, object] = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else ""


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
    """Pure ASGI middleware: a request id per request, bound to every log line; HTTP metrics; and the
    catch-all for errors nothing else handled (a JSON 500 naming the request id, the traceback logged once)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode()[:64] or uuid.uuid4().hex
        correlation = headers.get(b"x-correlation-id", b"").decode()[:64] or request_id
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=correlation)
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                structlog.contextvars.clear_contextvars()
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            log.error("http.unhandled_error", method=scope.get("method", ""), path=scope.get("path", ""),
                      error=type(exc).__name__, detail=str(exc)[:300], exc_info=exc)
            if not response_started:
                body = {"error": {"code": "internal_error", "message": "the server hit an unexpected error",
                                  "request_id": request_id}}
                await JSONResponse(body, status_code=500)(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = route.path if isinstance(route, Route | WebSocketRoute) else "unmatched"
            self.metrics.http_requests.labels(scope.get("method", ""), name, str(status)).inc()
            self.metrics.http_latency.labels(name).observe(time.perf_counter() - started)
            structlog.contextvars.clear_contextvars()
