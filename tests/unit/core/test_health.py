"""Component health: a probe's status from its check, and the replica's overall status."""

from __future__ import annotations

import asyncio

import pytest

from core.health import ComponentHealth, HealthCheck, Status, overall, probe, probe_check, run_checks


def health(status: Status, *, critical: bool = True) -> ComponentHealth:
    return ComponentHealth("c", status, 1.0, critical=critical)


@pytest.mark.parametrize(("components", "expected"), [
    ([], Status.HEALTHY),
    ([health(Status.HEALTHY), health(Status.HEALTHY, critical=False)], Status.HEALTHY),
    ([health(Status.HEALTHY), health(Status.DEGRADED)], Status.DEGRADED),
    ([health(Status.HEALTHY), health(Status.UNHEALTHY, critical=False)], Status.DEGRADED),
    ([health(Status.DEGRADED), health(Status.UNHEALTHY)], Status.UNHEALTHY),
])
def test_overall(components: list[ComponentHealth], expected: Status) -> None:
    assert overall(components) is expected


async def test_a_fast_check_is_healthy() -> None:
    async def check() -> None:
        return None

    result = await probe("db", check, critical=False)
    assert (result.name, result.status, result.detail, result.critical) == ("db", Status.HEALTHY, "", False)
    assert result.latency_ms is not None and result.latency_ms >= 0


async def test_a_slow_check_is_degraded() -> None:
    async def check() -> None:
        await asyncio.sleep(0.02)

    result = await probe("redis", check, slow_ms=5)
    assert (result.status, result.detail) == (Status.DEGRADED, "slow")
    assert result.latency_ms is not None and result.latency_ms >= 5


async def test_a_failing_check_is_unhealthy_and_says_why() -> None:
    async def check() -> None:
        raise ConnectionRefusedError("port 5432")

    result = await probe("db", check)
    assert result.status is Status.UNHEALTHY and result.critical
    assert result.detail == "ConnectionRefusedError"  # the class only: no addresses or SQL in responses


def test_to_dict_rounds_the_latency() -> None:
    assert ComponentHealth("c", Status.DEGRADED, 1.23456, "slow", False).to_dict() == {
        "status": "degraded", "latency_ms": 1.23, "detail": "slow", "critical": False}
    assert ComponentHealth("c", Status.HEALTHY).to_dict()["latency_ms"] is None


async def test_a_check_that_does_not_answer_in_time_is_reported_failed_with_the_reason() -> None:
    hung = asyncio.Event()

    async def never() -> None:
        await hung.wait()

    async def fine() -> ComponentHealth:
        return ComponentHealth("llm", Status.HEALTHY, 1.0, critical=False)

    async def slow_optional() -> ComponentHealth:
        await hung.wait()
        raise AssertionError("cancelled before it answers")

    checks = [probe_check("postgres", never, timeout=0.05), HealthCheck("llm", fine, critical=False),
              HealthCheck("smtp", slow_optional, critical=False, timeout=0.05)]
    postgres, llm, smtp = await asyncio.wait_for(run_checks(checks), 5)
    assert (postgres.name, postgres.status, postgres.critical) == ("postgres", Status.UNHEALTHY, True)
    assert postgres.detail == "no answer within 0.05 s"
    assert llm.status is Status.HEALTHY
    assert (smtp.status, smtp.critical, smtp.detail) == (Status.DEGRADED, False, "no answer within 0.05 s")
    assert overall([postgres, llm, smtp]) is Status.UNHEALTHY
