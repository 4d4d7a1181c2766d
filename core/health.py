"""Component health as shown by /health/ready."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum


class Status(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclasses.dataclass(frozen=True)
class ComponentHealth:
    name: str
    status: Status
    latency_ms: float | None = None
    detail: str = ""
    critical: bool = True  # an unhealthy critical component makes the replica not ready

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status.value,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "detail": self.detail,
            "critical": self.critical,
        }


async def probe(
    name: str, check: Callable[[], Awaitable[object]], *, critical: bool = True, slow_ms: float = 500.0
) -> ComponentHealth:
    """Run ``check``; healthy when fast, degraded when slow, unhealthy when it raises."""
    started = time.perf_counter()
    try:
        await check()
    except Exception as exc:  # reported, not swallowed: it becomes the component's status
        # the exception's class only: its text (addresses, SQL, provider messages) stays out of responses
        return ComponentHealth(name, Status.UNHEALTHY, (time.perf_counter() - started) * 1000,
                               type(exc).__name__, critical)
    latency = (time.perf_counter() - started) * 1000
    status = Status.DEGRADED if latency > slow_ms else Status.HEALTHY
    return ComponentHealth(name, status, latency, "slow" if status is Status.DEGRADED else "", critical)


def overall(components: list[ComponentHealth]) -> Status:
    """Unhealthy when a critical component is; degraded when any component is not healthy."""
    if any(c.status is Status.UNHEALTHY and c.critical for c in components):
        return Status.UNHEALTHY
    if any(c.status is not Status.HEALTHY for c in components):
        return Status.DEGRADED
    return Status.HEALTHY


DEFAULT_CHECK_TIMEOUT = 0.8  # seconds: all checks run at once, so the report answers in about a second


@dataclasses.dataclass(frozen=True)
class HealthCheck:
    """One entry of the readiness report: ``run`` measures the component called ``name``.

    ``run`` gets ``timeout`` seconds; a check still running then is cancelled and its component
    reported unhealthy (``critical``) or degraded (not critical) with the reason.
    """

    name: str
    run: Callable[[], Awaitable[ComponentHealth]]
    critical: bool = True
    timeout: float = DEFAULT_CHECK_TIMEOUT


def probe_check(name: str, check: Callable[[], Awaitable[object]], *, critical: bool = True,
                timeout: float = DEFAULT_CHECK_TIMEOUT) -> HealthCheck:
    """A check that is healthy when ``check`` returns quickly (see ``probe``)."""

    async def run() -> ComponentHealth:
        return await probe(name, check, critical=critical)

    return HealthCheck(name, run, critical, timeout)


def constant_check(health: ComponentHealth) -> HealthCheck:
    """A check whose answer is known when the service is assembled (a component turned off)."""

    async def run() -> ComponentHealth:
        return health

    return HealthCheck(health.name, run, health.critical)


async def run_checks(checks: Sequence[HealthCheck]) -> list[ComponentHealth]:
    """Every check, concurrently, in the order given, each within its own time-out."""
    return list(await asyncio.gather(*(run_check(check) for check in checks)))


async def run_check(check: HealthCheck) -> ComponentHealth:
    """``check.run()``, or after ``check.timeout`` seconds a failed component that says so."""
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(check.run(), check.timeout)
    except TimeoutError:
        status = Status.UNHEALTHY if check.critical else Status.DEGRADED
        return ComponentHealth(check.name, status, (time.perf_counter() - started) * 1000,
                               f"no answer within {check.timeout:g} s", check.critical)
    # the assembly decides what readiness depends on: a check marked not critical never is
    return result if check.critical or not result.critical else dataclasses.replace(result, critical=False)
