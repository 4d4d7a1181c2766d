"""/health/ready of a real replica: cached, details only for internal callers or an admin token, no
exception text; a Redis outage degrades the replica without taking it out of service."""

from __future__ import annotations

import asyncio
import subprocess

import httpx

from core.embedded import redis_binary
from testkit.redis_server import redis_answers
from testkit.scripted_llm import free_port
from tests.deploy.conftest import wait_until


async def _private_redis(tmp_path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = await asyncio.to_thread(subprocess.Popen, [redis_binary(), "--port", str(port), "--bind", "127.0.0.1",
                                                      "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                                   stdout=subprocess.DEVNULL)

    def answers() -> bool:
        return redis_answers(port)

    await wait_until(answers, within=20, interval=0.1)
    return proc, f"redis://127.0.0.1:{port}/0"


async def test_details_only_for_internal_callers_or_an_admin(replica_settings, running_server, make_token):
    # loopback is not in the detail networks here: the test's requests come from outside them
    settings = replica_settings(health_detail_networks=("10.255.255.0/24",),
                                openai_base_url=f"http://127.0.0.1:{free_port()}/v1")
    async with running_server(settings) as srv, httpx.AsyncClient(timeout=20) as http:
        public = await http.get(srv.url + "/health/ready")
        operator = await http.get(srv.url + "/health/ready", headers={"Authorization": f"Bearer {make_token()}"})
        forged = await http.get(srv.url + "/health/ready", headers={"Authorization": "Bearer not-a-token"})
        admin = await http.get(srv.url + "/health/ready", headers={"Authorization": f"Bearer {make_token(role='admin')}"})
    assert public.status_code == 200 and set(public.json()) == {"status"}
    assert set(operator.json()) == {"status"} and set(forged.json()) == {"status"}
    report = admin.json()
    assert {"postgres", "redis", "llm"} <= set(report["components"])
    # the provider is unreachable: its component says which error, never the exception's text
    llm = report["components"]["llm"]
    assert llm["status"] == "unhealthy" and llm["detail"] == "APIConnectionError"
    assert "refused" not in admin.text.lower() and "127.0.0.1" not in admin.text


async def test_cached_and_a_redis_outage_degrades_without_draining(replica_settings, running_server, tmp_path):
    redis, url = await _private_redis(tmp_path)
    try:
        async with running_server(replica_settings(redis_url=url, ready_cache_seconds=600)) as cached, \
                running_server(replica_settings(redis_url=url, ready_cache_seconds=0)) as fresh, \
                httpx.AsyncClient(timeout=20) as http:
            for srv in (cached, fresh):
                assert (await http.get(srv.url + "/health/ready")).json()["components"]["redis"]["status"] == "healthy"
            redis.terminate()
            await asyncio.to_thread(redis.wait, 20)
            still = await http.get(cached.url + "/health/ready")
            now = await http.get(fresh.url + "/health/ready")
            live = await http.get(fresh.url + "/health/live")
    finally:
        if redis.poll() is None:
            redis.terminate()
            await asyncio.to_thread(redis.wait, 20)
    # the cached report is reused (the checks did not run again) and says how old it is
    assert still.json()["components"]["redis"]["status"] == "healthy" and still.json()["age_seconds"] > 0
    # without the cache the outage shows at once: degraded, still ready (200), alive
    body = now.json()
    assert now.status_code == 200 and body["status"] == "degraded"
    assert body["components"]["redis"]["status"] == "unhealthy" and body["components"]["redis"]["critical"] is False
    assert "Error" in body["components"]["redis"]["detail"] and "refused" not in now.text.lower()
    assert live.status_code == 200
