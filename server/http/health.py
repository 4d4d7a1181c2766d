"""Liveness, readiness and Prometheus metrics: ``/health/live``, ``/health/ready``, ``/metrics``."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.health import HealthCheck, Status, overall, run_checks
from server.observability import Metrics

_UP = {Status.HEALTHY: 1.0, Status.DEGRADED: 0.5}


class HealthRoutes:
    """Readiness runs ``checks`` (the list the app assembles); 503 when a critical one is unhealthy."""

    def __init__(self, checks: Sequence[HealthCheck], metrics: Metrics, pool: asyncpg.Pool) -> None:
        self._checks = tuple(checks)
        self._metrics = metrics
        self._pool = pool

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/health/live", self.live),
            Route("/health/ready", self.ready),
            Route("/metrics", self.metrics),
        ]

    async def live(self, request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def ready(self, request: Request) -> Response:
        components = await run_checks(self._checks)
        status = overall(components)
        for c in components:
            self._metrics.component_up.labels(c.name).set(_UP.get(c.status, 0.0))
        body = {"status": status.value, "components": {c.name: c.to_dict() for c in components}}
        return JSONResponse(body, status_code=503 if status is Status.UNHEALTHY else 200)

    async def metrics(self, request: Request) -> Response:
        pool = self._pool
        self._metrics.db_pool_size.labels("total").set(pool.get_size())
        self._metrics.db_pool_size.labels("idle").set(pool.get_idle_size())
        self._metrics.db_pool_size.labels("max").set(pool.get_max_size())
        return Response(self._metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
