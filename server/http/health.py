"""Liveness, readiness and Prometheus metrics: ``/health/live``, ``/health/ready``, ``/metrics``.

Liveness says only that the process answers (a restart would not help otherwise). Readiness runs the
health checks the app assembles and answers 503 only when a critical component (PostgreSQL) is
unhealthy: a Redis outage makes every replica *degraded*, not unready, so a load balancer or
Kubernetes keeps them all in service. The report is cached for ``READY_CACHE_SECONDS`` so probes and
scrapers cannot turn it into a load on PostgreSQL, Redis or the LLM provider. Anyone sees the overall
status; the per-component report is shown only to an internal caller (an address in
``HEALTH_DETAIL_NETWORKS``) or with an admin token, and never holds exception text.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import AppError
from core.health import ComponentHealth, HealthCheck, Status, overall, run_checks
from server.auth import TokenVerifier
from server.observability import Metrics

_UP = {Status.HEALTHY: 1.0, Status.DEGRADED: 0.5}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """``HEALTH_DETAIL_NETWORKS`` as networks; a bad entry is a ``ValueError`` naming it."""
    out: list[Network] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"HEALTH_DETAIL_NETWORKS: {value!r} is not an address or network") from None
    return tuple(out)


class HealthRoutes:
    """Readiness runs ``checks`` (the list the app assembles), at most once per ``cache_seconds``."""

    def __init__(self, checks: Sequence[HealthCheck], metrics: Metrics, pool: asyncpg.Pool, *,
                 verifier: TokenVerifier, cache_seconds: float = 2.0,
                 detail_networks: Sequence[str] = ("127.0.0.0/8", "::1/128")) -> None:
        self._checks = tuple(checks)
        self._metrics = metrics
        self._pool = pool
        self._verifier = verifier
        self._cache_seconds = cache_seconds
        self._networks = parse_networks(detail_networks)
        self._cached: tuple[float, list[ComponentHealth]] | None = None
        self._lock = asyncio.Lock()  # one run of the checks at a time; waiters take its result

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/health/live", self.live),
            Route("/health/ready", self.ready),
            Route("/metrics", self.metrics),
        ]

    async def live(self, request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def components(self) -> tuple[list[ComponentHealth], float]:
        """The last report and its age in seconds, re-run when older than the cache time."""
        async with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self._cache_seconds:
                components = await run_checks(self._checks)
                for c in components:
                    self._metrics.component_up.labels(c.name).set(_UP.get(c.status, 0.0))
                    if c.name == "postgres" and c.status is Status.UNHEALTHY:
                        self._metrics.db_errors.labels("readiness").inc()
                self._cached = (time.monotonic(), components)
            return self._cached[1], time.monotonic() - self._cached[0]

    async def ready(self, request: Request) -> Response:
        components, age = await self.components()
        status = overall(components)
        body: dict[str, object] = {"status": status.value}
        if await self._may_see_details(request):
            body["components"] = {c.name: c.to_dict() for c in components}
            body["age_seconds"] = round(age, 2)
        return JSONResponse(body, status_code=503 if status is Status.UNHEALTHY else 200,
                            headers={"Cache-Control": "no-store"})

    async def _may_see_details(self, request: Request) -> bool:
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and any(address in n for n in self._networks if n.version == address.version):
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        try:
            principal = await self._verifier.verify(token.strip())
        except AppError:
            return False  # a bad token sees what anyone sees: the status
        return principal.has_role("admin")

    async def metrics(self, request: Request) -> Response:
        pool = self._pool
        self._metrics.db_pool_size.labels("total").set(pool.get_size())
        self._metrics.db_pool_size.labels("idle").set(pool.get_idle_size())
        self._metrics.db_pool_size.labels("max").set(pool.get_max_size())
        return Response(self._metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
