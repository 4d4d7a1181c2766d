"""The Starlette application: routes table, lifespan that opens and closes every resource.

``create_app(settings, **overrides)`` does no I/O; the lifespan connects to PostgreSQL and Redis,
applies migrations and starts the background tasks. ``overrides`` replace components (for example a
pre-built ``llm``) without touching globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from core.db import migrate, open_pool
from core.errors import AppError, RateLimited
from core.health import ComponentHealth, Status, overall, probe
from core.logs import get_logger
from core.settings import Settings
from knowledge import factory as knowledge_factory
from server.auth import TokenVerifier
from server.chat.actions import Actions
from server.chat.fanout import Fanout
from server.chat.hub import Hub
from server.chat.sessions import SessionState
from server.chat.turns import TurnRunner
from server.engine.conversation import ConversationEngine
from server.engine.language import LanguageDetector
from server.engine.llm import OpenAIChat
from server.http import admin, web
from server.http import kb as kb_api
from server.http import sessions as sessions_api
from server.http import voice as voice_api
from server.observability import Metrics
from server.services import Services
from server.storage.jobs import JobQueue
from server.storage.schema import MIGRATIONS
from server.storage.store import Store, TextCipher
from server.support import escalation
from server.support import host_demo as machines_factory
from server.tracing import Tracing, setup_tracing, shutdown_tracing
from server.voice import factory as voice_factory

log = get_logger("server.app")


class RequestContext:
    """Pure ASGI middleware: a request id per HTTP request, bound to every log line, and HTTP metrics."""

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
        structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=correlation)
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                structlog.contextvars.clear_contextvars()
            return
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)  # type: ignore[arg-type]
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.http_requests.labels(scope.get("method", ""), name, str(status_holder["status"])).inc()
            self.metrics.http_latency.labels(name).observe(time.perf_counter() - started)
            structlog.contextvars.clear_contextvars()


async def app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    headers = {"Retry-After": str(int(exc.retry_after) + 1)} if isinstance(exc, RateLimited) else None
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=headers)


async def live(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def ready(request: Request) -> Response:
    services: Services = request.app.state.services
    components = await readiness(services)
    status = overall(components)
    for c in components:
        services.metrics.component_up.labels(c.name).set({Status.HEALTHY: 1, Status.DEGRADED: 0.5}.get(c.status, 0))
    body = {"status": status.value, "components": {c.name: c.to_dict() for c in components}}
    return JSONResponse(body, status_code=503 if status is Status.UNHEALTHY else 200)


async def readiness(services: Services) -> list[ComponentHealth]:
    checks: list[Any] = [
        probe("postgres", lambda: services.db.fetchval("SELECT 1")),
        probe("redis", services.redis.ping),
    ]
    if services.llm is not None:
        checks.append(services.llm.health())
    else:
        checks.append(_constant(ComponentHealth("llm", Status.DEGRADED, None,
                                                "no model configured: retrieval-only answers", critical=False)))
    for component in (services.kb, services.transcriber):
        if component is not None and hasattr(component, "health"):
            checks.append(component.health())
    checks.extend(check() for check in services.extra_health)
    return list(await asyncio.gather(*checks))


async def _constant(value: ComponentHealth) -> ComponentHealth:
    return value


async def metrics_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    pool = services.db
    if pool is not None:
        services.metrics.db_pool_size.labels("total").set(pool.get_size())
        services.metrics.db_pool_size.labels("idle").set(pool.get_idle_size())
        services.metrics.db_pool_size.labels("max").set(pool.get_max_size())
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def build_routes(settings: Settings, hub_endpoint: Any) -> list[BaseRoute]:
    return [
        WebSocketRoute("/ws", hub_endpoint),
        Route("/health/live", live),
        Route("/health/ready", ready),
        Route("/metrics", metrics_endpoint),
        *sessions_api.routes(),
        *kb_api.routes(),
        *voice_api.routes(),
        *admin.routes(),
        *web.routes(settings),  # last: it serves / (the demo host page)
    ]


async def build_components(services: Services, overrides: dict[str, Any]) -> None:
    """Create every component from the settings, unless an override is given."""
    s = services.settings
    services.store = Store(services.db, TextCipher(s.conversation_encryption_key))
    services.state = SessionState(services.redis, ttl_seconds=s.session_ttl_seconds, max_frames=s.replay_max_frames)
    services.fanout = Fanout(services.redis, services.metrics)
    services.verifier = overrides.get("verifier") or TokenVerifier(s)
    services.jobs = JobQueue(services.db, services.metrics)
    if "llm" in overrides:
        services.llm = overrides["llm"]
    elif s.llm_enabled:
        services.llm = OpenAIChat(s, services.metrics)
    services.kb = overrides["kb"] if "kb" in overrides else await knowledge_factory.build(services)
    services.transcriber = overrides["transcriber"] if "transcriber" in overrides else await voice_factory.build(services)
    services.machines = overrides["machines"] if "machines" in overrides else await machines_factory.build(services)
    services.escalations = await escalation.build(services)
    services.language = LanguageDetector()
    services.engine = overrides.get("engine") or ConversationEngine(settings=s, metrics=services.metrics,
                                                                    llm=services.llm, kb=services.kb,
                                                                    tracing=services.tracing)
    if services.llm is not None and hasattr(services.llm, "tracing"):
        services.llm.tracing = services.tracing
    services.turns = TurnRunner(services)
    services.actions = Actions(services)


def create_app(settings: Settings, **overrides: Any) -> Starlette:
    metrics = overrides.get("metrics") or Metrics()
    services = Services(settings=settings, metrics=metrics)
    hub_holder: dict[str, Hub] = {}

    async def hub_endpoint(ws: Any) -> None:
        await hub_holder["hub"].endpoint(ws)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not settings.database_url or not settings.redis_url:
            raise RuntimeError("DATABASE_URL and REDIS_URL must be set (python -m server serve starts embedded ones)")
        tracer_provider = setup_tracing(settings)  # before the pools, so asyncpg and Redis are instrumented
        services.tracing = Tracing(tracer_provider)
        services.db = await open_pool(settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        services.redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=settings.redis_max_connections, timeout=10, health_check_interval=30))
        await migrate(services.db, MIGRATIONS)
        await build_components(services, overrides)
        await services.jobs.install()
        hub_holder["hub"] = Hub(services)
        app.state.services = services
        app.state.hub = hub_holder["hub"]
        await services.fanout.start()
        await services.turns.start()
        for starter in _starters(services):
            await starter()
        if settings.workers_in_process:
            await services.jobs.start()
        log.info("app.started", llm=bool(services.llm), kb=services.kb is not None,
                 voice=services.transcriber is not None)
        try:
            yield
        finally:
            log.info("app.stopping")
            await services.turns.stop(settings.shutdown_drain_seconds)
            await services.jobs.stop()
            await services.fanout.stop()
            for component in (services.transcriber, services.kb, services.machines, services.llm):
                closer = getattr(component, "aclose", None)
                if closer is not None:
                    with contextlib.suppress(Exception):
                        await closer()
            await services.redis.aclose()
            await services.db.close()
            shutdown_tracing(tracer_provider)
            log.info("app.stopped")

    middleware = [
        Middleware(RequestContext, metrics=metrics),  # type: ignore[arg-type]
        Middleware(GZipMiddleware, minimum_size=1024),
    ]
    if settings.allowed_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins),
                                     allow_methods=["GET", "POST", "PUT", "DELETE"],
                                     allow_headers=["Authorization", "Content-Type", "X-Request-Id"]))
    app = Starlette(routes=build_routes(settings, hub_endpoint), middleware=middleware, lifespan=lifespan,
                    exception_handlers={AppError: app_error})
    app.state.services = services
    return app


def _starters(services: Services) -> list[Any]:
    """Components with an ``async start()`` (seeding, model loading) run it after the core is up."""
    out = []
    for component in (services.kb, services.transcriber, services.machines):
        starter = getattr(component, "start", None)
        if starter is not None:
            out.append(starter)
    return out
