"""The Starlette application: the assembly of every component, the routes table, and the lifespan.

``create_app(settings, **components)`` builds every component from the settings, each with only its
own collaborators, unless the caller passes one ready-made (tests: ``llm=``, ``kb=None`` ...). It
does no network I/O: the database pool and the Redis client are created unconnected, and the
lifespan connects them. Create the app inside the event loop that serves it (asyncpg binds a pool to
the current loop); ``python -m server serve`` hands ``create_app`` to uvicorn as a factory for that.

The lifespan is one ``AsyncExitStack`` over the start-up steps that the assembly lists in order
(tracing, PostgreSQL, Redis, migrations, ..., turns): each step is started, then its stop is pushed
on the stack, so shutdown (or a failed start) closes what was opened, in reverse order, and a close
that fails is logged without keeping the others from closing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Literal

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import BaseRoute, WebSocketRoute

from core.db import create_pool, migrate
from core.errors import AppError
from core.health import ComponentHealth, HealthCheck, Status, constant_check, probe_check
from core.logs import get_logger
from core.settings import Settings
from knowledge import KnowledgeBase, create_knowledge_base
from server.auth import TokenVerifier
from server.chat.actions import Actions
from server.chat.fanout import Fanout
from server.chat.hub import Hub
from server.chat.sessions import SessionState
from server.chat.turns import TurnRunner
from server.engine.conversation import ConversationEngine
from server.engine.language import LanguageDetector
from server.engine.llm import OpenAIChat
from server.http.admin import AdminRoutes
from server.http.handover import HandoverRoutes
from server.http.health import HealthRoutes
from server.http.kb import KnowledgeRoutes
from server.http.middleware import RequestContext, WebSocketRoutes, app_error, http_error
from server.http.privacy import PrivacyRoutes
from server.http.ratelimit import HttpLimits, RateLimitMiddleware
from server.http.resolutions import ResolutionRoutes
from server.http.sessions import SessionRoutes
from server.http.voice import VoiceRoutes
from server.http.web import WebRoutes
from server.observability import Metrics
from server.privacy.consent import ConsentPolicy, Consents, parse_texts
from server.privacy.erasure import Eraser
from server.privacy.export import Exporter
from server.privacy.retention import Retention
from server.storage.jobs import JobQueue
from server.storage.schema import MIGRATIONS
from server.storage.store import Store, TextCipher
from server.support.analytics import Analytics
from server.support.escalation import Escalations
from server.support.handover import Handovers
from server.support.handover_queue import SupportQueue
from server.support.host_demo import install_host_demo
from server.support.machines import (
    DEFAULT_MAPPING,
    MachineDirectory,
    MachineSource,
    NoMachineDirectory,
    SchemaMapping,
)
from server.support.notify import Notifier
from server.support.resolution import Resolutions
from server.tracing import Tracing
from server.voice.transcriber import Transcriber

log = get_logger("server.app")


class Build(enum.Enum):
    """The default of a ``create_app`` component argument: build it from the settings."""

    FROM_SETTINGS = "from settings"


FROM_SETTINGS = Build.FROM_SETTINGS
FromSettings = Literal[Build.FROM_SETTINGS]


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of the start-up, in order: ``start`` runs at start-up, ``stop`` (if any) at shutdown."""

    name: str
    start: Callable[[], Awaitable[object]] | None = None
    stop: Callable[[], Awaitable[object]] | None = None


def resource(name: str, manager: contextlib.AbstractAsyncContextManager[object]) -> Step:
    """A step entering an async context manager at start-up and leaving it at shutdown."""

    async def leave() -> None:
        await manager.__aexit__(None, None, None)

    return Step(name, manager.__aenter__, leave)


@dataclasses.dataclass(frozen=True)
class Assembly:
    """What ``assemble`` builds: the routes, the start-up steps and the health checks."""

    routes: list[BaseRoute]
    steps: list[Step]
    checks: list[HealthCheck]
    summary: dict[str, bool]  # which optional components are on (logged at start-up)
    http_limits: HttpLimits | None = None  # the rate limits of every HTTP route (None: not applied)


def assemble(settings: Settings, *, metrics: Metrics, tracing: Tracing, verifier: TokenVerifier,
             llm: OpenAIChat | None | FromSettings, kb: KnowledgeBase | None | FromSettings,
             transcriber: Transcriber | None | FromSettings, machines: MachineSource | None | FromSettings,
             engine: ConversationEngine | None) -> Assembly:
    """Every component, each given only its collaborators; the routes over them; the steps that
    start and stop them; the health checks of /health/ready."""
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set (python -m server serve starts embedded ones)")
    # two pools: the request path (chat, HTTP, health) and background work (job queue, ingestion,
    # notifications), so a burst of uploads can never take the connections the chat needs
    on_timeout = lambda name: metrics.db_pool_timeouts.labels(name).inc()  # noqa: E731
    pool = create_pool(settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                       name="request", acquire_timeout=settings.db_acquire_timeout_seconds, on_timeout=on_timeout)
    background_pool = create_pool(settings.database_url, min_size=1, max_size=max(3, settings.db_background_pool_max),
                                  name="background", acquire_timeout=settings.db_background_acquire_timeout_seconds,
                                  on_timeout=on_timeout)
    redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections, timeout=10, health_check_interval=30,
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=settings.redis_socket_timeout_seconds))

    cipher = TextCipher(settings.conversation_encryption_key, settings.conversation_encryption_previous_keys)
    store = Store(pool, cipher)
    fanout = Fanout(redis, metrics, cipher)
    # frames published here reach this replica's connections at once, the others' through the streams
    state = SessionState(redis, ttl_seconds=settings.session_ttl_seconds, max_frames=settings.replay_max_frames,
                         metrics=metrics, outage_grace_seconds=settings.redis_outage_grace_seconds, cipher=cipher,
                         published=fanout.published)
    jobs = JobQueue(background_pool, metrics)
    if llm is FROM_SETTINGS:
        llm = OpenAIChat(settings, metrics, tracing=tracing) if settings.llm_enabled else None
    if kb is FROM_SETTINGS:
        kb = create_knowledge_base(settings, pool, jobs=jobs, metrics=metrics, seed_on_start=settings.kb_seed_samples,
                                   ingest_pool=background_pool)
    if transcriber is FROM_SETTINGS:
        transcriber = Transcriber.from_settings(settings, metrics) if settings.voice_enabled else None
    sample_schema = False
    if machines is FROM_SETTINGS:
        machines, sample_schema = _machine_directory(settings, metrics)
    elif machines is None:
        machines = NoMachineDirectory()
    notifier = Notifier(settings, background_pool, jobs, metrics, cipher)
    notifier.register()
    support_queue = SupportQueue(redis)
    escalations = Escalations(settings=settings, pool=pool, store=store, stream=state, metrics=metrics,
                              notifier=notifier, machines=machines, queue=support_queue)
    handovers = Handovers(settings=settings, pool=pool, store=store, stream=state, metrics=metrics,
                          escalations=escalations)
    resolutions = Resolutions(store=store, stream=state, metrics=metrics, machines=machines, kb=kb)
    consents = Consents(pool, ConsentPolicy(settings.consent_required, settings.consent_version,
                                            parse_texts(settings.consent_text)))
    analytics = Analytics(pool, cipher, machines)
    engine = engine or ConversationEngine(settings=settings, metrics=metrics, llm=llm, kb=kb, tracing=tracing)
    turns = TurnRunner(settings=settings, metrics=metrics, tracing=tracing, pool=pool, store=store, state=state,
                       engine=engine, language=LanguageDetector(), machines=machines, escalations=escalations,
                       consents=consents, handovers=handovers)
    eraser = Eraser(pool=pool, store=store, kb=kb, hot=state, tickets=support_queue, turns=turns)
    retention = Retention(pool=pool, store=store, eraser=eraser, jobs=jobs, days=settings.retention_days,
                          interval_seconds=settings.retention_interval_seconds)
    retention.register()
    actions = Actions(settings=settings, metrics=metrics, store=store, state=state, turns=turns, machines=machines,
                      escalations=escalations, resolutions=resolutions, consents=consents, handovers=handovers)
    hub = Hub(settings=settings, metrics=metrics, tracing=tracing, verifier=verifier, store=store, state=state,
              fanout=fanout, turns=turns, actions=actions, machines=machines, transcriber=transcriber,
              consents=consents)

    # /health/ready, in the order it lists them; only PostgreSQL is critical (a Redis outage degrades
    # every replica, it does not take them all out of service)
    checks = [probe_check("postgres", lambda: pool.fetchval("SELECT 1")),
              HealthCheck("redis", state.health, critical=False)]
    checks.append(HealthCheck("llm", llm.health, critical=False) if llm is not None else constant_check(ComponentHealth(
        "llm", Status.DEGRADED, None, "no model configured: retrieval-only answers", critical=False)))
    if kb is not None:
        checks.append(HealthCheck("knowledge", kb.health, critical=False))
    if transcriber is not None:
        checks.append(HealthCheck("voice", transcriber.health, critical=False))
    if isinstance(machines, MachineDirectory):
        checks.append(HealthCheck("host_db", machines.health, critical=False))
    else:
        checks.append(constant_check(ComponentHealth(
            "host_db", Status.HEALTHY, None, "off: HOST_DATABASE_URL is empty, no machine context is served", critical=False)))
    checks += [HealthCheck("smtp", notifier.smtp_health, critical=False),
               HealthCheck("notifications", notifier.backlog_health, critical=False)]
    # each check answers within its time-out or is reported failed, so /health/ready answers in about a second
    checks = [dataclasses.replace(c, timeout=settings.health_check_timeout_seconds) for c in checks]

    # start-up in this order; shutdown in the reverse one
    steps = [
        resource("tracing", tracing),  # first: asyncpg and Redis are instrumented before they connect
        resource("postgres", pool),
        resource("postgres_background", background_pool),
        resource("redis", redis),
        Step("migrations", lambda: migrate(pool, MIGRATIONS)),
    ]
    if sample_schema:
        steps.append(Step("host_demo", lambda: install_host_demo(pool)))
    steps.append(Step("jobs_schema", jobs.install))
    steps.append(Step("retention", retention.schedule))
    if llm is not None:
        steps.append(Step("llm", stop=llm.aclose))
    if isinstance(machines, MachineDirectory):
        steps.append(Step("machines", stop=machines.aclose))
    if kb is not None:
        steps.append(Step("knowledge", kb.start, kb.aclose))
    if transcriber is not None:
        steps.append(resource("voice", transcriber))
    steps += [
        Step("fanout", fanout.start, fanout.stop),
        Step("turns", turns.start, lambda: turns.stop(settings.shutdown_drain_seconds)),
        Step("handover", handovers.start, handovers.stop),
        Step("hub", stop=hub.stop),  # before the turns drain: an outcome may start a follow-up turn
        # last, so stopped first: running jobs get a few seconds, then are cancelled and left to resume,
        # and the drain of the answers is not kept waiting behind them
        Step("jobs", jobs.start if settings.workers_in_process else None, jobs.stop),
    ]

    routes: list[BaseRoute] = [
        WebSocketRoute("/ws", hub.endpoint),
        *HealthRoutes(checks, metrics, pool, verifier=verifier, cache_seconds=settings.ready_cache_seconds,
                      detail_networks=settings.health_detail_networks).routes(),
        *SessionRoutes(store, verifier).routes(),
        *KnowledgeRoutes(kb, verifier, store=store, machines=machines).routes(),
        *PrivacyRoutes(verifier=verifier, store=store, consents=consents, exporter=Exporter(pool, cipher),
                       eraser=eraser).routes(),
        *ResolutionRoutes(verifier=verifier, store=store, resolutions=resolutions).routes(),
        *VoiceRoutes(transcriber, verifier).routes(),
        *AdminRoutes(verifier=verifier, store=store, escalations=escalations, analytics=analytics,
                     machines=machines).routes(),
        *HandoverRoutes(verifier=verifier, escalations=escalations, handovers=handovers, queue=support_queue,
                       metrics=metrics, keepalive_seconds=min(10.0, settings.redis_socket_timeout_seconds / 2)).routes(),
        *WebRoutes(settings).routes(),  # last: it serves / (the demo host page)
    ]
    summary = {"llm": llm is not None, "kb": kb is not None, "voice": transcriber is not None}
    return Assembly(routes, steps, checks, summary, HttpLimits(settings, redis, verifier, metrics))


def _machine_directory(settings: Settings, metrics: Metrics) -> tuple[MachineSource, bool]:
    """The directory over HOST_DATABASE_URL. When that is empty: in development, the sample schema in
    DATABASE_URL (then True: the lifespan installs it); in production, machine context is off, so no
    demo machine or maintenance record is ever served."""
    if not settings.host_database_url and not settings.development:
        log.warning("machines.off", detail="HOST_DATABASE_URL is empty: machine context is off")
        return NoMachineDirectory(), False
    mapping = SchemaMapping.load(Path(settings.host_schema_mapping) if settings.host_schema_mapping else DEFAULT_MAPPING)
    if settings.host_database_url:
        return MachineDirectory(settings.host_database_url, mapping, metrics), False
    return MachineDirectory(settings.database_url, mapping, metrics), True


def create_app(settings: Settings, *, metrics: Metrics | None = None, tracing: Tracing | None = None,
               verifier: TokenVerifier | None = None, llm: OpenAIChat | None | FromSettings = FROM_SETTINGS,
               kb: KnowledgeBase | None | FromSettings = FROM_SETTINGS,
               transcriber: Transcriber | None | FromSettings = FROM_SETTINGS,
               machines: MachineSource | None | FromSettings = FROM_SETTINGS,
               engine: ConversationEngine | None = None) -> Starlette:
    """The app. Each keyword replaces the component the settings would give (``None``: turned off)."""
    metrics = metrics or Metrics()
    assembly = assemble(settings, metrics=metrics, tracing=tracing or Tracing.from_settings(settings),
                        verifier=verifier or TokenVerifier(settings), llm=llm, kb=kb, transcriber=transcriber,
                        machines=machines, engine=engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for step in assembly.steps:
                if step.start is not None:
                    try:
                        await step.start()
                    except BaseException as exc:
                        log.error("app.start_failed", step=step.name, error=type(exc).__name__, detail=str(exc)[:300])
                        raise
                if step.stop is not None:
                    stack.push_async_callback(_close, step.name, step.stop)
            log.info("app.started", **assembly.summary)
            try:
                yield
            finally:
                log.info("app.stopping")
        log.info("app.stopped")

    sockets = [route for route in assembly.routes if isinstance(route, WebSocketRoute)]
    middleware = [
        Middleware(RequestContext, metrics=metrics, access_level=settings.access_log),
        # the WebSocket routes straight after RequestContext: an open socket keeps no HTTP-only layer suspended
        Middleware(WebSocketRoutes, routes=sockets),
        Middleware(GZipMiddleware, minimum_size=1024),
    ]
    if assembly.http_limits is not None:  # inside RequestContext: a 429 has its request id and access line
        middleware.insert(2, Middleware(RateLimitMiddleware, limits=assembly.http_limits))
    if settings.allowed_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins),
                                     allow_methods=["GET", "POST", "PUT", "DELETE"],
                                     allow_headers=["Authorization", "Content-Type", "X-Request-Id"]))
    return Starlette(routes=assembly.routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers={AppError: app_error, HTTPException: http_error})


async def _close(name: str, stop: Callable[[], Awaitable[object]]) -> None:
    """Stop one component; a failure is logged and the others still stop."""
    try:
        await stop()
    except Exception as exc:
        log.error("app.close_failed", component=name, error=type(exc).__name__, detail=str(exc)[:300],
                  exc_info=exc)
